"""The results table of a sweep: per activation, the grid's best trial and its trial at the
seed's lr (the seed's table), and the replicates at the best lr; the points of the lr figure.
Built from the sweep's training runs as one DataFrame (a row per run, as the tracking adapter's
`sweep_runs` reads them from MLflow, with its `phase`); pandas in, pandas out, no store."""

import json
import math

import pandas as pd

from pipeline.core.config import CHANCE_MARGIN, GRID, REPLICATE, SEED_LR
from pipeline.core.datasets import display_name

COLUMNS = {  # column -> header of the Markdown table
    "activation": "activation",
    "best_lr": "best lr",
    "train_acc": "train acc %",
    "val_acc": "val acc %",
    "test_acc": "test acc %",
    "time_to_best_s": "time to best (s)",
    "train_time_s": "train time (s)",
    "best_epoch": "epoch of saturation",
    "trials": "trials",
    "seed_lr_train_acc": "train acc % @1e-3",
    "seed_lr_val_acc": "val acc % @1e-3",
    "seed_lr_test_acc": "test acc % @1e-3",
    "seed_lr_time_to_best_s": "time to best (s) @1e-3",
    "seed_lr_best_epoch": "epoch @1e-3",
    "seed_lr_state": "state @1e-3",
    "replicate_test_acc_mean": "replicates: test acc % mean",
    "replicate_test_acc_std": "± std",
    "replicate_seeds": "seeds",
    "replicate_best_epoch": "epoch of saturation (mean)",
    # Not columns of the Markdown table: its accuracies carry CHANCE_MARK instead.
    "at_chance": "at chance",
    "seed_lr_at_chance": "at chance @1e-3",
}
CHANCE_MARK = "†"
CHANCE_NOTE = (
    f"{CHANCE_MARK} at chance level: the run learned nothing (its best validation accuracy is "
    f"within {100 * CHANCE_MARGIN:g} points of always guessing the commonest class; MLflow tag "
    "`at_chance=true`)."
)
# The accuracies a mark goes on: prefix -> (its at_chance column, its accuracy columns)
_MARKED = {
    prefix: (f"{prefix}at_chance", [f"{prefix}{k}" for k in ("train_acc", "val_acc", "test_acc")])
    for prefix in ("", "seed_lr_")
}
PERCENT = {
    "train_acc",
    "val_acc",
    "test_acc",
    "seed_lr_train_acc",
    "seed_lr_val_acc",
    "seed_lr_test_acc",
    "replicate_test_acc_mean",
    "replicate_test_acc_std",
}


def _run_columns(run: pd.Series, prefix: str = "") -> dict:
    """The seed's columns for one run: accuracies at its best epoch, time to it, the epoch."""
    return {
        f"{prefix}train_acc": run["train_acc_at_best"],
        f"{prefix}val_acc": run["best_val_acc"],
        f"{prefix}test_acc": run["test_acc"],
        f"{prefix}time_to_best_s": run["time_to_best_s"],
        f"{prefix}best_epoch": run["best_epoch"],
        f"{prefix}at_chance": bool(run["at_chance"]),
    }


def of_phase(runs: pd.DataFrame, phase: str) -> pd.DataFrame:
    """The training runs of one phase (runs without a phase are the grid's)."""
    phases = runs["phase"].fillna(GRID) if "phase" in runs else pd.Series(GRID, index=runs.index)
    return runs[(runs["stage"] == "train") & (phases == phase)]


def replicate_runs(runs: pd.DataFrame, best_lr: dict[str, float]) -> pd.DataFrame:
    """The finished replicates with a test accuracy, each at its activation's best lr (one a
    changed grid no longer picks is left out)."""
    replicates = of_phase(runs, REPLICATE)
    replicates = replicates[(replicates["status"] == "FINISHED") & replicates["test_acc"].notna()]
    chosen = [
        activation in best_lr and math.isclose(lr, best_lr[activation], rel_tol=1e-9)
        for activation, lr in zip(replicates["activation"], replicates["lr"], strict=True)
    ]
    return replicates[pd.Series(chosen, index=replicates.index, dtype=bool)]


def replicate_accuracies(replicates: pd.DataFrame) -> dict[str, dict[int, float]]:
    """Per activation (in the order of the runs), each seed's test accuracy."""
    found: dict[str, dict[int, float]] = {}
    for row in replicates.sort_values("seed").itertuples():
        found.setdefault(row.activation, {})[int(row.seed)] = float(row.test_acc)
    return found


def _replicate_columns(replicates: pd.DataFrame) -> dict:
    """Mean ± std test accuracy over the seeds, how many, and their mean epoch of saturation."""
    if replicates.empty:
        return {}
    return {
        "replicate_test_acc_mean": replicates["test_acc"].mean(),
        "replicate_test_acc_std": replicates["test_acc"].std(ddof=1),
        "replicate_seeds": len(replicates),
        "replicate_best_epoch": replicates["best_epoch"].mean(),
    }


def results_table(
    runs: pd.DataFrame, activations: tuple[str, ...], seed_lr: float = SEED_LR
) -> pd.DataFrame:
    """Per activation: the grid's best trial by validation accuracy, its trial at the seed's
    lr, and the mean ± std test accuracy of the replicates at the best lr."""
    trials = of_phase(runs, GRID)
    trials = trials[trials["status"] == "FINISHED"]
    completed = trials[trials["state"] == "COMPLETE"]
    rows = []
    for activation in [a for a in activations if a in set(trials["activation"])]:
        mine = completed[completed["activation"] == activation]
        row = {"activation": activation, "trials": int((trials["activation"] == activation).sum())}
        if not mine.empty:
            best = mine.loc[mine["best_val_acc"].idxmax()]
            row.update(best_lr=best["lr"], train_time_s=best["train_time_s"], **_run_columns(best))
            row.update(_replicate_columns(replicate_runs(runs, {activation: best["lr"]})))
        at_seed_lr = trials[
            (trials["activation"] == activation) & ((trials["lr"] - seed_lr).abs() < 1e-12)
        ]
        if not at_seed_lr.empty:
            seed_row = at_seed_lr.iloc[0]
            row.update(
                seed_lr_state=seed_row["state"],
                **_run_columns(seed_row, prefix="seed_lr_"),
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    return table[[c for c in COLUMNS if c in table]]


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub table: accuracies in percent with 2 decimals, blanks for what was not measured,
    and the accuracies of a run that learned nothing marked, with a note under the table."""

    def cell(column: str, value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if column in PERCENT:
            return f"{100 * value:.2f}"
        if column in ("best_lr",):
            return f"{value:g}"
        if column in ("best_epoch", "seed_lr_best_epoch", "trials", "replicate_seeds"):
            return str(int(value))
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value)

    def marked(row: pd.Series) -> set[str]:
        return {
            column
            for flag, accuracies in _MARKED.values()
            if flag in row and pd.notna(row[flag]) and bool(row[flag])
            for column in accuracies
        }

    shown = [c for c in table.columns if not c.endswith("at_chance")]
    headers = [COLUMNS[c] for c in shown]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    any_marked = False
    for _, row in table.iterrows():
        marks = marked(row) & set(shown)
        any_marked |= bool(marks)
        cells = [cell(c, row[c]) + (f" {CHANCE_MARK}" if c in marks else "") for c in shown]
        lines.append("| " + " | ".join(cells) + " |")
    if any_marked:
        lines += ["", CHANCE_NOTE]
    return "\n".join(lines) + "\n"


def lr_response_points(
    runs: pd.DataFrame, activations: tuple[str, ...]
) -> dict[str, list[tuple[float, float, str]]]:
    """Per activation, (lr, best val_acc, outcome) of each grid trial that has an accuracy or
    diverged."""
    trials = of_phase(runs, GRID)
    points = {}
    for activation in [a for a in activations if a in set(trials["activation"])]:
        mine = trials[trials["activation"] == activation]
        points[activation] = [
            (row.lr, row.best_val_acc, _outcome(row))
            for row in mine.itertuples()
            if _outcome(row) == "diverged" or not pd.isna(row.best_val_acc)
        ]
    return points


def _outcome(row) -> str:
    if row.stop_reason == "diverged":
        return "diverged"
    return "complete" if row.state == "COMPLETE" else "pruned"


def dataset_note(runs: pd.DataFrame) -> str:
    """The line above the table: the dataset the runs trained on and its classes (their
    `dataset` param and `classes` tag); empty for runs that recorded neither."""
    names = runs["dataset"].dropna().unique() if "dataset" in runs else []
    if not len(names):
        return ""
    note = f"Dataset: {', '.join(display_name(name) for name in names)}"
    recorded = runs["classes"].dropna() if "classes" in runs else []
    if len(recorded):
        classes = json.loads(recorded.iloc[0])
        note += f", {len(classes)} classes: {', '.join(classes)}"
    return note + ".\n\n"
