"""The results table of a sweep: per activation, the grid's best trial and its trial at the
seed's lr (the seed's table), and the replicates at the best lr; the points of the lr figure.
Built from the sweep's training runs as one DataFrame (a row per run, as the tracking adapter's
`sweep_runs` reads them from MLflow, with its `phase`); pandas in, pandas out, no store."""

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipeline.core.dataset.datasets import display_name
from pipeline.core.schema import objectives
from pipeline.core.schema.config import CHANCE_MARGIN, SEED_LR
from pipeline.core.schema.vocabulary import Outcome, Phase, StopReason, TrialEnd

COLUMNS = {  # column -> header of the Markdown table
    "activation": "activation",
    "best_lr": "best lr",
    "train_acc": "train acc %",
    "val_acc": "val acc %",
    "test_acc": "test acc %",
    "time_to_best_s": "time to best (s)",
    "train_time_s": "train time (s)",
    "best_epoch": "best epoch",
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
    "replicate_best_epoch": "best epoch (mean)",
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


def _run_columns(run: pd.Series, prefix: str = "") -> dict[str, Any]:
    """The seed's columns for one run: accuracies at its best epoch, time to it, the epoch."""
    return {
        f"{prefix}train_acc": run["train_acc_at_best"],
        f"{prefix}val_acc": run["best_val_acc"],
        f"{prefix}test_acc": run["test_acc"],
        f"{prefix}time_to_best_s": run["time_to_best_s"],
        f"{prefix}best_epoch": run["best_epoch"],
        f"{prefix}at_chance": bool(run["at_chance"]),
    }


def of_phase(runs: pd.DataFrame, phase: Phase) -> pd.DataFrame:
    """The training runs of one phase (runs without a phase are the grid's)."""
    phases = (
        runs["phase"].fillna(Phase.GRID)
        if "phase" in runs
        else pd.Series(Phase.GRID, index=runs.index)
    )
    return runs[(runs["stage"] == "train") & (phases == phase)]


def replicate_runs(runs: pd.DataFrame, best: Mapping[str, float | dict[str, Any]]) -> pd.DataFrame:
    """The finished replicates with a test accuracy, each at its activation's best
    configuration: `best[activation]` its lr, or its settings {lr: ..., batch_size: ...} (one
    a changed grid no longer picks is left out)."""
    replicates = of_phase(runs, Phase.REPLICATE)
    replicates = replicates[(replicates["status"] == "FINISHED") & replicates["test_acc"].notna()]
    chosen = [
        row["activation"] in best and _same_settings(row, best[row["activation"]])
        for _, row in replicates.iterrows()
    ]
    return replicates[pd.Series(chosen, index=replicates.index, dtype=bool)]


def _same_settings(row: pd.Series, best: float | dict[str, Any]) -> bool:
    """Whether a run has the configuration `best`; a setting `best` lacks (momentum of an Adam
    configuration: blank) is one the run must lack too."""
    settings = best if isinstance(best, dict) else {"lr": best}
    for key, value in settings.items():
        if key == "seed" or key not in row:
            continue
        if _blank(value) or _blank(row[key]):
            if _blank(value) != _blank(row[key]):
                return False
            continue
        try:  # a number as a number (a column with a blank reads 64 as 64.0)
            same = math.isclose(float(row[key]), float(value), rel_tol=1e-9)
        except (TypeError, ValueError):
            same = str(row[key]) == str(value)
        if not same:
            return False
    return True


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float | str) and pd.isna(value))


def replicate_accuracies(replicates: pd.DataFrame) -> dict[str, dict[int, float]]:
    """Per activation (in the order of the runs), each seed's test accuracy."""
    found: dict[str, dict[int, float]] = {}
    for row in replicates.sort_values("seed").itertuples():
        found.setdefault(row.activation, {})[int(row.seed)] = float(row.test_acc)
    return found


ANSWER_COLUMNS = ("seed", "epochs", "val_acc", "test_acc", "run_id")


def answer_runs(
    replicates: pd.DataFrame, activations: tuple[str, ...], settings: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The study's answer in long form, one row per replicate run, in the sweep's activation
    order then by seed: its activation, configuration (lr and each other swept setting, and
    the lr schedule), seed, epochs trained, best validation accuracy and the test accuracy of
    that epoch's weights, and its MLflow run. Every published number is computed from it."""
    keys = ["lr", *_others(settings), "lr_schedule"]
    epochs = replicates.get("epochs_trained", pd.Series(dtype=float))
    frame = pd.DataFrame(
        {
            "activation": replicates["activation"],
            **{key: replicates[key] for key in keys if key in replicates},
            "seed": replicates["seed"].astype(int),
            "epochs": epochs.fillna(replicates["max_epochs"]).astype(int),
            "val_acc": replicates["best_val_acc"].astype(float),
            "test_acc": replicates["test_acc"].astype(float),
            "run_id": replicates["run_id"],
        }
    )
    rank = {activation: index for index, activation in enumerate(activations)}
    frame = frame[frame["activation"].isin(rank)]
    order = frame["activation"].map(rank)
    return frame.assign(_rank=order).sort_values(["_rank", "seed"]).drop(columns="_rank")


def _replicate_columns(replicates: pd.DataFrame) -> dict[str, Any]:
    """Mean ± std test accuracy over the seeds, how many, and their mean best epoch."""
    if replicates.empty:
        return {}
    return {
        "replicate_test_acc_mean": replicates["test_acc"].mean(),
        "replicate_test_acc_std": replicates["test_acc"].std(ddof=1),
        "replicate_seeds": len(replicates),
        "replicate_best_epoch": replicates["best_epoch"].mean(),
    }


def results_table(
    runs: pd.DataFrame,
    activations: tuple[str, ...],
    seed_lr: float = SEED_LR,
    settings: tuple[str, ...] = (),
    objective: str = "val_acc",
) -> pd.DataFrame:
    """Per activation: the grid's best trial by the study's first objective (validation
    accuracy by default, core/schema/objectives.py) (its lr, and its value of
    each other swept setting in `settings` as `best_<setting>`), its trial at the seed's lr,
    and the mean ± std test accuracy of the replicates at the best configuration."""
    # the seed's lr: a grid point, or the reference phase's where it has a protocol of its own
    trials = pd.concat([of_phase(runs, Phase.GRID), of_phase(runs, Phase.REFERENCE)])
    trials = trials[trials["status"] == "FINISHED"]
    completed = of_phase(trials, Phase.GRID)
    completed = completed[completed["state"] == TrialEnd.COMPLETE]
    rows = []
    for activation in [a for a in activations if a in set(trials["activation"])]:
        mine = completed[completed["activation"] == activation]
        row = {"activation": activation, "trials": int((trials["activation"] == activation).sum())}
        if not mine.empty:
            best = mine.loc[_best_index(mine, objective)]
            chosen = {"lr": best["lr"], **{k: best[k] for k in _others(settings) if k in best}}
            row.update({f"best_{key}": value for key, value in chosen.items()})
            row.update(train_time_s=best["train_time_s"], **_run_columns(best))
            row.update(_replicate_columns(replicate_runs(runs, {activation: chosen})))
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
    order = ["activation", "best_lr", *(f"best_{key}" for key in _others(settings)), *COLUMNS]
    return table[list(dict.fromkeys(c for c in order if c in table))]


def _best_index(mine: pd.DataFrame, objective: str = "val_acc") -> Any:
    """The row of the best value of `objective` (the highest best_val_acc by default); of
    equals, the earliest trial, as the study picks the configuration its replicates train."""
    column = objectives.metric(objective)
    low = objectives.directions([objective])[0] == "minimize"
    if "trial" not in mine or mine["trial"].isna().all():
        return mine[column].idxmin() if low else mine[column].idxmax()
    return mine.sort_values([column, "trial"], ascending=[low, True]).index[0]


def _others(settings: tuple[str, ...]) -> list[str]:
    """The swept settings beside lr, each a `best_<setting>` column."""
    return [key for key in settings if key != "lr"]


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub table: accuracies in percent with 2 decimals, blanks for what was not measured,
    and the accuracies of a run that learned nothing marked, with a note under the table."""

    def cell(column: str, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if column in PERCENT:
            return f"{100 * value:.2f}"
        if column.startswith("best_") and column != "best_epoch":
            return f"{value:g}" if isinstance(value, float) else str(value)
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
    headers = [COLUMNS.get(c, c.replace("_", " ")) for c in shown]
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
    runs: pd.DataFrame, activations: tuple[str, ...], setting: str = "lr", by: str | None = None
) -> dict[str, list[tuple[float | str, float, Outcome, str]]]:
    """Per activation, (value of `setting` (lr by default), best val_acc, outcome, the value of
    the categorical setting `by` as text, "" without one) of each grid trial that has an
    accuracy or diverged."""
    trials = of_phase(runs, Phase.GRID)
    points = {}
    for activation in [a for a in activations if a in set(trials["activation"])]:
        mine = trials[trials["activation"] == activation]
        points[activation] = [
            (getattr(row, setting), row.best_val_acc, _outcome(row), _group(row, by))
            for row in mine.itertuples()
            if _outcome(row) == Outcome.DIVERGED or not pd.isna(row.best_val_acc)
        ]
    return points


def _group(row: Any, by: str | None) -> str:
    value = None if by is None else getattr(row, by, None)
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _outcome(row: Any) -> Outcome:
    if row.stop_reason == StopReason.DIVERGED:
        return Outcome.DIVERGED
    return Outcome.COMPLETE if row.state == TrialEnd.COMPLETE else Outcome.PRUNED


def dataset_note(runs: pd.DataFrame) -> str:
    """The line above the table: the dataset the runs trained on and its classes (their
    `dataset` param and `classes` tag); empty for runs that recorded neither."""
    names = runs["dataset"].dropna().unique() if "dataset" in runs else []
    if not len(names):
        return ""
    note = f"Dataset: {', '.join(display_name(name) for name in names)}"
    recorded = runs["classes"].dropna() if "classes" in runs else pd.Series(dtype=object)
    if len(recorded):
        classes = json.loads(recorded.iloc[0])
        note += f", {len(classes)} classes: {', '.join(classes)}"
    return note + ".\n\n"


def activation_spread(table: pd.DataFrame) -> str:
    """The activation's effect, said as the spread of the per-activation bests (each at its own
    best configuration): in this design every activation gets the same trials, so the spread
    is a fair comparison, where an importance over all trials is not (few trials per
    activation, a space searched within each)."""
    if "val_acc" not in table or table["val_acc"].notna().sum() < 2:
        return ""
    rows = table.dropna(subset=["val_acc"])
    high, low = rows.loc[rows["val_acc"].idxmax()], rows.loc[rows["val_acc"].idxmin()]
    if high["activation"] == low["activation"]:
        return ""
    spread = 100 * (high["val_acc"] - low["val_acc"])
    return (
        f"Activation effect: the best validation accuracy per activation spans {spread:.2f} "
        f"points, from {low['activation']} ({100 * low['val_acc']:.2f}%) to "
        f"{high['activation']} ({100 * high['val_acc']:.2f}%), each at its own best "
        "configuration.\n"
    )
