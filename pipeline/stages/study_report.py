"""A study's report, in a folder of its own (reports/<study>/): the results table, the
replicates' test accuracy per activation (mean, spread, 95% interval, UvA's figure beside it),
every pair of activations (the paired difference, its interval, a verdict), the lr figure and
the test-accuracy figure, as CSV, Markdown, PNG and interactive HTML. Built from the sweep's
training runs as one DataFrame; pandas in, files out, no store."""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pipeline.core.process.errors import PipelineError
from pipeline.core.process.files import atomic_write_text, atomic_writer
from pipeline.core.schema import objectives
from pipeline.core.schema.config import SEED_LR
from pipeline.core.schema.search_space import CATEGORICAL
from pipeline.core.schema.vocabulary import GRID_SAMPLER, Phase
from pipeline.figures import interactive, response, static, to_matplotlib, verdicts
from pipeline.figures import intervals as interval_figure
from pipeline.stages import pareto, registry_table, results, statistics, statistics_markdown
from pipeline.stages.statistics import A_AHEAD, ALPHA, B_AHEAD, EQUIVALENT

REPORTS_DIR = Path("reports")
TABLES = ("results.md", "results.csv", "replicates.csv", "summary.csv", "pairwise.csv")
LR_FIGURES = ("lr_response.png", "lr_response.html")
REGISTRY_TABLES = ("registry.md", "registry.csv")  # written by a sweep, once it registered
REPLICATE_FIGURES = ("verdicts.png", "test_accuracy.html")  # once a replicate finished
REPLICATES_OFF = (
    "None: the sweep file's `replicate_seeds` is 0, so the study has no answer runs and no "
    "interval; `make confirm SEEDS=N` adds N seeds of each activation's choice."
)
NO_REPLICATES = (
    "None yet: the replicates start once the grid is finished (`replicate_seeds` in the sweep "
    "file; `make confirm SEEDS=N` adds seeds to a study)."
)
# The network UvA's published runs trained: only a study of it on Fashion-MNIST compares.
UVA_NETWORK, UVA_DATASET = "512,256,256,128", "fashion-mnist"


@dataclass
class Report:
    table: pd.DataFrame  # results.results_table
    answer: pd.DataFrame  # results.answer_runs: one row per replicate run
    summary: pd.DataFrame  # statistics.replicate_summary, with the lr the replicates ran at
    pairs: pd.DataFrame  # statistics.pairwise_differences
    markdown: str
    files: list[Path] = field(default_factory=list)
    # Per activation its best configuration: lr and each other swept setting.
    best: dict[str, dict[str, Any]] = field(default_factory=dict)
    pareto: pd.DataFrame | None = None  # a multi-objective study's front (stages/pareto.py)


def report_dir(study: str) -> Path:
    """Where a study's report goes: its own folder, so one study never overwrites another's."""
    return REPORTS_DIR / study


def build_report(
    runs: pd.DataFrame,
    study: str,
    activations: tuple[str, ...],
    settings: tuple[str, ...] = (),
    sampler: str = GRID_SAMPLER,
    design_seeds: tuple[int, ...] = (),
    replicate_seeds: int | None = None,
    note: str = "",
    objective: tuple[str, ...] = objectives.DEFAULT,
) -> Report:
    """The tables and their Markdown from the sweep's training runs; `settings` the swept
    settings beside the activation (lr alone by default), `sampler` what chose their points,
    `design_seeds` the seeds the replicates' protocol was chosen on (named in the report),
    `replicate_seeds` the seeds the sweep file asks for (0: the phase is off), `note` a
    paragraph under the title (a sweep the time budget cut), `objective` the study's (a
    multi-objective study's report has its Pareto front)."""
    if runs.empty:
        raise PipelineError(f"no training runs of sweep {study!r} yet; run `make sweep` first")
    table = results.results_table(runs, activations, settings=settings, objective=objective[0])
    best = _best_configurations(table)
    replicates = results.replicate_runs(runs, best)
    answer = results.answer_runs(replicates, activations, settings)
    reference = statistics.UVA_TEST_ACC if uva_applies(runs) else None
    summary = statistics.replicate_summary(answer, reference)
    summary.insert(1, "lr", [best[a]["lr"] for a in summary["activation"]])
    pairs = statistics.pairwise_differences(answer)
    grid = sampler == GRID_SAMPLER
    search = sampler if grid else "search"
    heading = f"## The {search}{'' if grid else f' (sampler {sampler})'}: "
    texts = {
        "dataset": results.dataset_note(runs),
        "heading": heading,
        "reference_line": _reference_line(runs),
        "replicates": _replicates_line(replicates, settings, search, design_seeds),
        "test_images": _test_images(runs),
        "no_replicates": REPLICATES_OFF if replicate_seeds == 0 else NO_REPLICATES,
        "note": note,
        "pareto": "",
    }
    report = Report(table, answer, summary, pairs, "", best=best)
    if len(objective) > 1:
        report.pareto = pareto.front(runs, objective, settings)
        count = len(pareto.candidates(runs, objective))
        texts["pareto"] = pareto.markdown(report.pareto, objective, count)
    report.markdown = _markdown(study, texts, table, summary, pairs)
    return report


def _reference_line(runs: pd.DataFrame) -> str:
    """Where the seed's lr ran at a protocol of its own (the reference phase), what it was."""
    reference = results.of_phase(runs, Phase.REFERENCE)
    if reference.empty:
        return ""
    schedule = "a held lr" if (reference["lr_schedule"] == "constant").all() else "its schedule"
    return (
        "The @1e-3 columns: the seed's lr trained as the seed trained it (up to "
        f"{int(reference['max_epochs'].max())} epochs at {schedule}), a phase of its own "
        "(`phase=reference`), not a candidate for the grid's choice.\n"
    )


def uva_applies(runs: pd.DataFrame) -> bool:
    """UvA's published runs are a reference only for the seed's network on Fashion-MNIST."""
    datasets = set(runs["dataset"].dropna()) if "dataset" in runs else set()
    networks = set(runs["hidden_sizes"].dropna()) if "hidden_sizes" in runs else set()
    return datasets <= {UVA_DATASET} and networks <= {UVA_NETWORK}


def _test_images(runs: pd.DataFrame) -> int | None:
    images = runs["test_images"].dropna() if "test_images" in runs else pd.Series(dtype=object)
    return int(images.iloc[0]) if len(images) else None


def _best_configurations(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per activation with a completed trial, its best_<setting> columns as {setting: value}."""
    columns = [c for c in table.columns if c.startswith("best_") and c != "best_epoch"]
    best = {}
    for _, row in table.iterrows():
        if "best_lr" in row and not pd.isna(row["best_lr"]):
            best[row["activation"]] = {c.removeprefix("best_"): row[c] for c in columns}
    return best


def _replicates_line(
    replicates: pd.DataFrame, settings: tuple[str, ...], search: str, design: tuple[int, ...]
) -> str:
    """What the replicates were: their seeds, budget and lr schedule, and the seeds their
    protocol was designed on, which the answer does not use."""
    seeds = sorted(set(replicates["seed"]))
    budget = ""
    if "max_epochs" in replicates and not replicates.empty:
        budget = f", each up to {int(replicates['max_epochs'].max())} epochs"
    if "lr_schedule" in replicates and (replicates["lr_schedule"] == "cosine").all():
        budget += " with the lr decayed along a cosine"
    chosen = "lr" if set(settings) <= {"lr"} else "configuration"
    line = (
        f"The answer: seeds {seed_list(seeds)} ({len(seeds)}){budget}, at the {chosen} the "
        f"{search} chose (table above)."
    )
    if design:
        line += (
            f" The protocol (epochs, lr schedule, patience, number of seeds) was chosen on "
            f"validation accuracy with seeds {seed_list(design)}, which the answer does not use."
        )
    return line + "\n"


def seed_list(seeds: Iterable[Any]) -> str:
    """`46–55` for a run of consecutive seeds, else `43, 44, 50`."""
    seeds = sorted(int(s) for s in seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _and_seed_lr(table: pd.DataFrame) -> str:
    """The heading's mention of the seed's lr, where the table has its columns."""
    ran = "seed_lr_val_acc" in table and table["seed_lr_val_acc"].notna().any()
    return ", and the seed's lr" if ran else ""


def _markdown(
    study: str,
    texts: Mapping[str, Any],
    table: pd.DataFrame,
    summary: pd.DataFrame,
    pairs: pd.DataFrame,
) -> str:
    parts = [
        f"# Sweep {study}\n",
        *([texts["note"]] if texts["note"] else []),
        texts["dataset"].rstrip("\n") + "\n" if texts["dataset"] else "",
        texts["heading"] + "each activation's best configuration" + _and_seed_lr(table) + "\n",
        results.to_markdown(table),
        texts["reference_line"],
        *([texts["pareto"]] if texts["pareto"] else []),
        "## Replicates: test accuracy over seeds at each activation's best configuration\n",
    ]
    if summary.empty:
        parts.append(texts["no_replicates"] + "\n")
    else:
        parts += [
            texts["replicates"],
            "**What holds.** " + statistics_markdown.headline(summary, pairs),
            statistics_markdown.summary_markdown(summary.drop(columns="lr"), texts["test_images"]),
            "## Every pair of activations\n",
            statistics_markdown.pairwise_markdown(pairs),
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
    sampler: str = GRID_SAMPLER,
    design_seeds: tuple[int, ...] = (),
    registry: Sequence[dict[str, Any]] = (),
    replicate_seeds: int | None = None,
    note: str = "",
    objective: tuple[str, ...] = objectives.DEFAULT,
) -> Report:
    """Every file of the study's report in `directory` (default reports/<study>/), each
    written whole or not at all; the report, with the files it wrote. A response figure for
    each swept setting in `settings`; the registry's aliases (`registry_table`) where given;
    the Pareto front's files for a multi-objective study."""
    report = build_report(
        runs, study, activations, settings, sampler, design_seeds, replicate_seeds, note, objective
    )
    directory = report_dir(study) if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        "results.md": report.markdown,
        "results.csv": report.table.to_csv(index=False),
        "replicates.csv": report.answer.to_csv(index=False),
        "summary.csv": report.summary.to_csv(index=False),
        "pairwise.csv": report.pairs.to_csv(index=False),
    }
    texts.update(_registry_texts(registry, study, objective))
    figures: dict[str, Figure] = {}
    if report.pareto is not None:
        texts["pareto.csv"] = report.pareto.to_csv(index=False)
        figures["pareto.png"] = pareto.figure(runs, report.pareto, objective, study)
    for setting in dict.fromkeys(("lr", *settings)):
        by = next((k for k in settings if k in CATEGORICAL and k != setting), None)
        html, png = _response_figures(runs, study, activations, setting, len(settings) > 1, by)
        texts.update(html)
        figures.update(png)
    if not report.summary.empty:
        inputs = _interval_inputs(report, study)
        texts["test_accuracy.html"] = interactive.page(interval_figure.describe(*inputs))
        figures["verdicts.png"] = verdicts.verdicts(*inputs, _cells(report.pairs), ALPHA)
    report.files = _write(directory, texts, figures)
    return report


def _write(directory: Path, texts: Mapping[str, str], figures: Mapping[str, Figure]) -> list[Path]:
    """Each file written whole or not at all; their paths."""
    for name, text in texts.items():
        atomic_write_text(directory / name, text)
    for name, figure in figures.items():
        with atomic_writer(directory / name) as handle:
            figure.savefig(handle, dpi=110, format="png")
        static.close(figure)
    return [directory / name for name in (*texts, *figures)]


def _registry_texts(
    registry: Sequence[dict[str, Any]], study: str, objective: tuple[str, ...]
) -> dict[str, str]:
    """The registry's table as Markdown and CSV, where the sweep registered."""
    if not registry:
        return {}
    frame = registry_table.registry_frame(list(registry))
    markdown, table = REGISTRY_TABLES
    return {
        markdown: registry_table.registry_markdown(frame, study, objective),
        table: frame.to_csv(index=False),
    }


def _response_figures(
    runs: pd.DataFrame,
    study: str,
    activations: tuple[str, ...],
    setting: str,
    marginal: bool,
    by: str | None,
) -> tuple[dict[str, str], dict[str, Figure]]:
    """Best validation accuracy against one setting (`<setting>_response.png` and `.html`):
    lines per activation where it is the only swept setting, points where others vary too, a
    marker per value of the swept categorical setting `by` (the optimizer, say)."""
    points = results.lr_response_points(runs, activations, setting, by)
    name = "learning rate" if setting == "lr" else setting.replace("_", " ")
    title = f"sweep {study}: validation accuracy vs {name}"
    options: dict[str, Any] = {
        "setting": setting,
        "categorical": setting in CATEGORICAL,
        "lines": not marginal,
        "by": by,
    }
    # the seed's lr, marked where the sweep tried it
    seed_lr = SEED_LR if setting == "lr" and (runs["lr"] == SEED_LR).any() else None
    described = response.describe(points, title, seed_lr, **options)  # once, for both forms
    html = {f"{setting}_response.html": interactive.page(described)}
    return html, {f"{setting}_response.png": to_matplotlib.figure(described)}


# values, means, intervals, reference and title: the accuracy-interval figures' arguments
IntervalInputs = tuple[
    dict[str, dict[int, float]],
    dict[str, float],
    dict[str, tuple[float, float]],
    dict[str, float],
    str,
]


def _interval_inputs(report: Report, study: str) -> IntervalInputs:
    """The accuracy-interval figures' arguments: each seed's value, means, intervals, and the
    published runs where they apply."""
    summary, answer = report.summary, report.answer
    values = {
        a: dict(zip(runs["seed"], runs["test_acc"], strict=True))
        for a, runs in answer.groupby("activation", sort=False)
    }
    means = dict(zip(summary["activation"], summary["test_acc_mean"], strict=True))
    intervals = {r.activation: (r.ci95_low, r.ci95_high) for r in summary.itertuples()}
    reference = {}
    if "uva_test_acc" in summary:
        reference = {r.activation: r.uva_test_acc for r in summary.itertuples()}
        reference = {a: value for a, value in reference.items() if not math.isnan(value)}
    seeds = int(summary["seeds"].max())
    title = f"sweep {study}: test accuracy over {seeds} seeds, mean and 95% interval"
    return values, means, intervals, reference, title


def _cells(pairs: pd.DataFrame) -> dict[tuple[str, str], tuple[float, str]]:
    """Each pair's Holm-adjusted p and its mark for the verdict figure."""
    marks = {A_AHEAD: ">", B_AHEAD: "<", EQUIVALENT: "≈"}
    return {
        (row.activation_a, row.activation_b): (row.p_adjusted, marks.get(row.verdict, ""))
        for row in pairs.itertuples()
    }


def summary_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """The replicates' numbers as metrics of the sweep's parent run, per activation."""
    metrics = {}
    for row in summary.itertuples():
        for key in ("val_acc_mean", "test_acc_mean", "ci95_low", "ci95_high"):
            value = getattr(row, key)
            if not math.isnan(value):
                metrics[f"replicate_{key}.{row.activation}"] = value
        metrics[f"replicate_seeds.{row.activation}"] = row.seeds
    return metrics
