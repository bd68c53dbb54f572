"""A study's report, in a folder of its own (reports/<study>/): the results table, the
replicates' test accuracy per activation (mean, spread, 95% interval, UvA's figure beside it),
every pair of activations (the paired difference, its interval, a verdict), the lr figure and
the test-accuracy figure, as CSV, Markdown, PNG and interactive HTML. Built from the sweep's
training runs as one DataFrame; pandas in, files out, no store."""

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.core.config import SEED_LR
from pipeline.core.errors import PipelineError
from pipeline.core.files import atomic_write_text, atomic_writer
from pipeline.core.search_space import CATEGORICAL
from pipeline.figures import interactive, static
from pipeline.stages import results, statistics

REPORTS_DIR = Path("reports")
TABLES = ("results.md", "results.csv", "replicates.csv", "pairwise.csv")
LR_FIGURES = ("lr_response.png", "lr_response.html")
REPLICATE_FIGURES = ("test_accuracy.png", "test_accuracy.html")  # once a replicate finished
NO_REPLICATES = (
    "None yet: the replicates start once the grid is finished (`replicate_seeds` in the sweep "
    "file; `make confirm SEEDS=N` adds seeds to a study)."
)


@dataclass
class Report:
    table: pd.DataFrame  # results.results_table
    summary: pd.DataFrame  # statistics.replicate_summary, with the lr the replicates ran at
    pairs: pd.DataFrame  # statistics.pairwise_differences
    markdown: str
    files: list[Path] = field(default_factory=list)
    # Per activation its best configuration: lr and each other swept setting.
    best: dict[str, dict] = field(default_factory=dict)


def report_dir(study: str) -> Path:
    """Where a study's report goes: its own folder, so one study never overwrites another's."""
    return REPORTS_DIR / study


def build_report(
    runs: pd.DataFrame,
    study: str,
    activations: tuple[str, ...],
    settings: tuple[str, ...] = (),
    sampler: str = "grid",
) -> Report:
    """The tables and their Markdown from the sweep's training runs; `settings` the swept
    settings beside the activation (lr alone by default), `sampler` what chose their points."""
    if runs.empty:
        raise PipelineError(f"no training runs of sweep {study!r} yet; run `make sweep` first")
    table = results.results_table(runs, activations, settings=settings)
    best = _best_configurations(table)
    best_lr = {a: config["lr"] for a, config in best.items()}
    replicates = results.replicate_runs(runs, best)
    accuracies = results.replicate_accuracies(replicates)
    ordered = {a: accuracies[a] for a in activations if a in accuracies}
    summary = statistics.replicate_summary({a: list(v.values()) for a, v in ordered.items()})
    summary.insert(1, "lr", [best_lr[a] for a in summary["activation"]])
    pairs = statistics.pairwise_differences(ordered)
    note = results.dataset_note(runs)
    search = "grid" if sampler == "grid" else "search"
    heading = f"## The {search}{'' if search == 'grid' else f' (sampler {sampler})'}: "
    line = _replicates_line(replicates, settings, search)
    markdown = _markdown(study, note, heading, table, summary, pairs, line)
    return Report(table, summary, pairs, markdown, best=best)


def _best_configurations(table: pd.DataFrame) -> dict[str, dict]:
    """Per activation with a completed trial, its best_<setting> columns as {setting: value}."""
    columns = [c for c in table.columns if c.startswith("best_") and c != "best_epoch"]
    best = {}
    for _, row in table.iterrows():
        if "best_lr" in row and not pd.isna(row["best_lr"]):
            best[row["activation"]] = {c.removeprefix("best_"): row[c] for c in columns}
    return best


def _replicates_line(replicates: pd.DataFrame, settings: tuple[str, ...], search: str) -> str:
    """What the replicates were: their seeds, budget and lr schedule."""
    seeds = ", ".join(str(s) for s in sorted(set(replicates["seed"])))
    budget = ""
    if "max_epochs" in replicates and not replicates.empty:
        budget = f", each up to {int(replicates['max_epochs'].max())} epochs"
    if "lr_schedule" in replicates and (replicates["lr_schedule"] == "cosine").all():
        budget += " with the lr decayed along a cosine"
    chosen = "lr" if set(settings) <= {"lr"} else "configuration"
    return f"Seeds {seeds}{budget}, at the {chosen} the {search} chose (table above).\n"


def _markdown(
    study: str, dataset_note: str, heading: str, table, summary, pairs, replicates_line: str
) -> str:
    parts = [
        f"# Sweep {study}\n",
        dataset_note.rstrip("\n") + "\n" if dataset_note else "",
        heading + "each activation's best configuration, and the seed's lr\n",
        results.to_markdown(table),
        "## Replicates: test accuracy over seeds at each activation's best configuration\n",
    ]
    if summary.empty:
        parts.append(NO_REPLICATES + "\n")
    else:
        parts += [
            replicates_line,
            statistics.summary_markdown(summary),
            "## Every pair of activations\n",
            statistics.pairwise_markdown(pairs),
        ]
    if spread := results.activation_spread(table):
        parts += ["## The activation's effect\n", spread]
    return "\n".join(parts)


def write_report(
    runs: pd.DataFrame,
    study: str,
    activations: tuple[str, ...],
    directory: Path | None = None,
    settings: tuple[str, ...] = ("lr",),
    sampler: str = "grid",
) -> Report:
    """Every file of the study's report in `directory` (default reports/<study>/), each
    written whole or not at all; the report, with the files it wrote. A response figure for
    each swept setting in `settings`."""
    report = build_report(runs, study, activations, settings, sampler)
    directory = report_dir(study) if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        "results.md": report.markdown,
        "results.csv": report.table.to_csv(index=False),
        "replicates.csv": report.summary.to_csv(index=False),
        "pairwise.csv": report.pairs.to_csv(index=False),
    }
    figures = {}
    for setting in dict.fromkeys(("lr", *settings)):
        html, png = _response_figures(runs, study, activations, setting, len(settings) > 1)
        texts.update(html)
        figures.update(png)
    if not report.summary.empty:
        inputs = _interval_inputs(report, runs, study)
        texts["test_accuracy.html"] = interactive.accuracy_intervals(*inputs)
        figures["test_accuracy.png"] = static.accuracy_intervals(*inputs)
    for name, text in texts.items():
        atomic_write_text(directory / name, text)
    for name, figure in figures.items():
        with atomic_writer(directory / name) as handle:
            figure.savefig(handle, dpi=110, format="png")
        static.close(figure)
    report.files = [directory / name for name in (*texts, *figures)]
    return report


def _response_figures(runs, study: str, activations, setting: str, marginal: bool) -> tuple:
    """Best validation accuracy against one setting (`<setting>_response.png` and `.html`):
    lines per activation where it is the only swept setting, points where others vary too."""
    points = results.lr_response_points(runs, activations, setting)
    name = "learning rate" if setting == "lr" else setting.replace("_", " ")
    title = f"sweep {study}: validation accuracy vs {name}"
    options = {
        "setting": setting,
        "categorical": setting in CATEGORICAL,
        "lines": not marginal,
        "reference": SEED_LR if setting == "lr" else None,
    }
    html = {f"{setting}_response.html": interactive.lr_response(points, title, **options)}
    return html, {f"{setting}_response.png": static.lr_response(points, title, **options)}


def _interval_inputs(report: Report, runs: pd.DataFrame, study: str) -> tuple:
    """The accuracy-interval figures' arguments: each seed's value, means, intervals, UvA."""
    summary = report.summary
    values = results.replicate_accuracies(results.replicate_runs(runs, report.best))
    means = dict(zip(summary["activation"], summary["test_acc_mean"], strict=True))
    intervals = {r.activation: (r.ci95_low, r.ci95_high) for r in summary.itertuples()}
    reference = {a: statistics.UVA_TEST_ACC[a] for a in means if a in statistics.UVA_TEST_ACC}
    seeds = int(summary["seeds"].max())
    title = f"sweep {study}: test accuracy over {seeds} seeds, mean and 95% interval"
    return values, means, intervals, reference, title


def summary_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """The replicates' numbers as metrics of the sweep's parent run, per activation."""
    metrics = {}
    for row in summary.itertuples():
        for key in ("test_acc_mean", "ci95_low", "ci95_high"):
            value = getattr(row, key)
            if not math.isnan(value):
                metrics[f"replicate_{key}.{row.activation}"] = value
        metrics[f"replicate_seeds.{row.activation}"] = row.seeds
    return metrics
