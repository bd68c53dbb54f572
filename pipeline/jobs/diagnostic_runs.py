"""What the diagnostic commands share (`make curves`, `make probe`, `make analyze`, `make
figures`): a figure written beside its run, the runs to read, and the record of a histogram job.

Probe and analysis are one job over different tensors: a histogram per layer for each
activation, one grid on a parent run, and a child run per activation with its metrics, its own
grid and the histograms as arrays.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure

from pipeline.adapters import tracking
from pipeline.core.dataset.datasets import dataset_name
from pipeline.core.network.activations import model_alias
from pipeline.core.network.histograms import histogram, layer_histograms
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.files import atomic_writer
from pipeline.core.schema.config import study_model
from pipeline.core.schema.job_config import DiagnosticsConfig
from pipeline.figures import static


@dataclass
class Item:
    """One activation's tensors per layer, with what its child run records."""

    activation: str
    tensors: dict[str, torch.Tensor]
    metrics: dict[str, float]
    tags: dict[str, str]
    description: str
    summary: str  # the line printed for it


@dataclass(frozen=True)
class HistogramJob:
    stage: str  # probe | analysis
    figure: str  # the grid's file name
    arrays: str  # artifact path of the histograms
    bins: int
    title: str
    item_title: str  # "{activation}: ..."
    description: str


def save_figure(fig: Figure, figures_dir: str | None, name: str) -> None:
    """Also write the figure as a PNG into `figures_dir` (for the README), atomically."""
    if figures_dir:
        with atomic_writer(Path(figures_dir) / name) as handle:
            fig.savefig(handle, format="png", dpi=100)


def record(
    job: HistogramJob, items: list[Item], params: dict[str, str], config: DiagnosticsConfig
) -> str:
    """The parent run with the grid of every activation, a child run per activation."""
    tracker = tracking.Tracker(config.experiment, config.tracking_uri)
    rows = {
        item.activation: {k: histogram(v, bins=job.bins) for k, v in item.tensors.items()}
        for item in items
    }
    grid = static.histogram_grid(rows, job.title)
    save_figure(grid, config.figures_dir, job.figure)
    with tracker.run_scope(f"{job.stage}-all", job.stage, params, {}, job.description) as parent:
        tracking.log_figure(tracker, parent.run_id, grid, f"figures/{job.figure}")
        for item in items:
            title = job.item_title.format(activation=item.activation)
            tracking.record_run(
                tracker,
                f"{job.stage}-{item.activation}",
                job.stage,
                params={**params, "activation": item.activation},
                tags={"activation": item.activation, **item.tags},
                description=item.description,
                metrics=item.metrics,
                figures={
                    f"figures/{job.figure}": static.histogram_grid(
                        {item.activation: rows[item.activation]}, title
                    )
                },
                arrays={job.arrays: layer_histograms(item.tensors, bins=job.bins)},
                parent_run_id=parent.run_id,
            )
            print(f"{item.activation:<10} {item.summary}")
    print(f"run_id={parent.run_id}")
    return parent.run_id


def source_runs(config: DiagnosticsConfig, tracker: tracking.Tracker, doing: str) -> dict[str, str]:
    """Activation -> run id of its latest trained run (with --best, of its registered best
    model), in the order of config.activations. Activations without one are left out with one
    note on stderr; only when none has one is it an error."""
    names = config.activations
    if config.best:
        model = study_model(config.study)
        aliases = tracking.registered_runs(tracker, tuple(map(model_alias, names)), model)
        found = {name: aliases[model_alias(name)] for name in names if model_alias(name) in aliases}
        what = f"no registered model {model}@{{name}} (aliases missing: {{missing}})"
        remedy = f"run `make sweep` (study {config.study!r}) with these activations"
    else:
        found = tracking.latest_trained_runs(tracker, names, dataset_name(config.dataset))
        what = (
            "no finished training run with a checkpoint for {missing} in experiment "
            f"{config.experiment!r}"
        )
        remedy = "train one with `make train ACT={name}` or run `make sweep`"
    missing = [name for name in names if name not in found]
    if missing:
        text = what.format(name=missing[0], missing=", ".join(missing))
        if len(missing) == len(names):
            raise PipelineError(f"{text}; {remedy.format(name=missing[0])} first")
        kept = ", ".join(name for name in names if name in found)
        print(
            f"note: {text}; {doing} {kept} ({remedy.format(name=missing[0])} for the rest)",
            file=sys.stderr,
        )
    return {name: found[name] for name in names if name in found}
