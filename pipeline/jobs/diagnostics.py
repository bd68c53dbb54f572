"""`make curves`, `make probe`, `make analyze`, `make figures`: the seed's Figures 2-4, tracked,
and (in `make figures`) the training dynamics the per-epoch probe of every training run logs.

Probe and analysis are one job over different tensors: a histogram per layer for each
activation, one grid on a parent run, and a child run per activation with its metrics, its own
grid and the histograms as arrays.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure

from pipeline.adapters import tracking
from pipeline.core import data
from pipeline.core.activations import NAMES, model_alias
from pipeline.core.config import study_model
from pipeline.core.datasets import dataset_name
from pipeline.core.errors import PipelineError
from pipeline.core.files import atomic_writer
from pipeline.core.histograms import histogram, layer_histograms
from pipeline.core.job_config import DiagnosticsConfig
from pipeline.core.model import MLP
from pipeline.figures import static
from pipeline.stages import analysis, curves, probe
from pipeline.stages.probe import PROBE_BATCH_SIZE

# What analyze prints for an activation that declares neither an off region nor bounds.
NO_HEALTH = "neither dead nor saturated units counted (it declares no relu_like or bounds)"


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


PROBE = HistogramJob(
    "probe",
    "gradient_histograms.png",
    "histograms/grad.npz",
    30,
    "weight gradients at initialisation (one batch of 256)",
    "{activation}: weight gradients at init",
    "probe: weight-gradient histograms of fresh networks (seed's Figure 3).",
)
ANALYSIS = HistogramJob(
    "analysis",
    "layer_outputs.png",
    "histograms/outputs.npz",
    50,
    "layer outputs of trained networks (1024 training images)",
    "{activation}: layer outputs",
    "analysis: layer-output histograms of trained networks (seed's Figure 4), dead and "
    "saturated units.",
)


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


def run_curves(config: DiagnosticsConfig) -> int:
    """Every registered activation, and each activation of one's own named in --activations."""
    tracker = tracking.Tracker(config.experiment, config.tracking_uri)
    names = NAMES + tuple(name for name in config.activations if name not in NAMES)
    found = curves.activation_curves(names)
    figure = static.activation_grid([(c.name, c.x, c.y, c.derivative) for c in found])
    save_figure(figure, config.figures_dir, "activation_curves.png")
    run_id = tracking.record_run(
        tracker,
        "curves",
        "curves",
        params={"activations": ",".join(names), "x_range": "-5,5"},
        tags={},
        description="curves: every registered activation and its derivative (autograd) "
        "over [-5, 5], as the seed's Figure 2.",
        metrics={k: v for curve in found for k, v in curve.metrics().items()},
        figures={"figures/activation_curves.png": figure},
    )
    for c in found:
        print(
            f"{c.name:<10} derivative max {c.derivative.max():.4f}, "
            f"at -5 {c.derivative[0]:.2e}, at +5 {c.derivative[-1]:.2e}"
        )
    print(f"run_id={run_id}")
    return 0


def run_probe(config: DiagnosticsConfig) -> int:
    splits = data.load_splits(config.data_dir, dataset=config.dataset)
    images = splits.train_x[: probe.PROBE_BATCH_SIZE]
    labels = splits.train_y[: probe.PROBE_BATCH_SIZE]
    items = []
    for name in config.activations:
        found = probe.probe_gradients(name, images, labels, num_classes=splits.num_classes)
        norms = ", ".join(f"{k} {v.norm():.2e}" for k, v in found.gradients.items())
        items.append(
            Item(
                name,
                found.gradients,
                found.metrics(),
                {},
                f"probe: gradients of a fresh {name} MLP (seed {probe.PROBE_SEED}) on one fixed "
                "batch of 256 training images.",
                f"grad norms {norms}; first/last {found.first_to_last_ratio:.2e}",
            )
        )
    params = {
        "seed": str(probe.PROBE_SEED),
        "batch_size": str(probe.PROBE_BATCH_SIZE),
        "data_source": splits.source.label,
        "dataset": splits.source.name,
        "activations": ",".join(config.activations),
    }
    record(PROBE, items, params, config)
    return 0


def models_to_analyse(config: DiagnosticsConfig) -> list[tuple[MLP, dict[str, str]]]:
    """(model, tags) for --model-uri, --run-id, or each activation's latest trained run (or,
    with --best, its registered best)."""
    if config.model_uri:
        model = tracking.load_model(config.model_uri, config.tracking_uri)
        return [(model, {"source_model_uri": config.model_uri})]
    # Only reads: a store or experiment that is not there is an error, not made empty.
    tracker = tracking.Tracker(config.experiment, config.tracking_uri, create=False)
    if config.run_id:
        return [
            (tracking.load_run_checkpoint(tracker, config.run_id), {"source_run_id": config.run_id})
        ]
    found = source_runs(config, tracker, "analysing")
    return [
        (tracking.load_run_checkpoint(tracker, run_id), {"source_run_id": run_id})
        for run_id in found.values()
    ]


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


def run_analyze(config: DiagnosticsConfig) -> int:
    models = models_to_analyse(config)
    splits = data.load_splits(config.data_dir, dataset=config.dataset)
    items = []
    for model, tags in models:
        found = analysis.analyse(model, splits.train_x)
        health = {
            **{f"dead {k}": v for k, v in found.dead_fraction.items()},
            **{f"saturated {k}": v for k, v in found.saturated_fraction.items()},
        }
        items.append(
            Item(
                found.activation,
                found.outputs,
                found.metrics(),
                tags,
                f"analysis: layer outputs of a trained {found.activation} MLP on 1024 training "
                f"images; dead/saturated units over {splits.sizes['train']} training images.",
                ", ".join(f"{k} {v:.3f}" for k, v in health.items()) or NO_HEALTH,
            )
        )
    params = {
        "sample_size": str(analysis.SAMPLE_SIZE),
        "data_source": splits.source.label,
        "dataset": splits.source.name,
    }
    record(ANALYSIS, items, params, config)
    return 0


DYNAMICS_FIGURE = "training_dynamics.png"
DYNAMICS_METRICS = ("saturated_fraction.act", "dead_fraction.act", "grad_norm.fc1")


def run_dynamics(config: DiagnosticsConfig) -> int:
    """The per-epoch probe's story: saturated outputs or dead units per hidden layer and the
    first layer's gradient norm against epoch, one line per activation's run (its latest
    trained run, with --best its registered best; or the --run-id run)."""
    if config.model_uri:
        print("note: training dynamics need a training run, not a model; skipped", file=sys.stderr)
        return 0
    tracker = tracking.Tracker(config.experiment, config.tracking_uri)
    if config.run_id:
        runs, which = {f"run {config.run_id[:8]}": config.run_id}, f"run {config.run_id}"
    else:
        runs = source_runs(config, tracker, "drawing")
        which = "registered best runs" if config.best else "newest training runs"
    histories = {
        label: tracking.metric_histories(tracker, run_id, DYNAMICS_METRICS)
        for label, run_id in runs.items()
    }
    title = f"per epoch, on the probe batch of {PROBE_BATCH_SIZE} training images ({which})"
    figure = static.training_dynamics(histories, title=title)
    save_figure(figure, config.figures_dir, DYNAMICS_FIGURE)
    run_id = tracking.record_run(
        tracker,
        "dynamics",
        "dynamics",
        params={"activations": ",".join(runs), "best": str(config.best).lower()},
        tags={f"source_run_id.{label.replace(' ', '_')}": rid for label, rid in runs.items()},
        description="dynamics: saturated outputs / dead units per hidden layer and grad_norm.fc1 "
        "against epoch, from each activation's training run (the per-epoch probe on the first "
        f"{PROBE_BATCH_SIZE} training images).",
        metrics={},
        figures={f"figures/{DYNAMICS_FIGURE}": figure},
    )
    for label, series in histories.items():
        print(f"{label:<10} {dynamics_summary(series)}")
    print(f"run_id={run_id}")
    return 0


def dynamics_summary(series: dict[str, tuple[list[int], list[float]]]) -> str:
    """Each metric of the figure at the first and the last epoch, `saturated_fraction.act1 0 ->
    0.775`, after the count of epochs."""
    parts = [f"{key} {v[0]:.3g} -> {v[-1]:.3g}" for key, (_, v) in series.items() if v]
    epochs = max((len(steps) for steps, _ in series.values()), default=0)
    return f"{epochs} epochs: " + "; ".join(parts) if parts else "no per-epoch probe metrics"


def run_figures(config: DiagnosticsConfig) -> int:
    """curves, probe, analyze and the training dynamics, every figure also in figures_dir."""
    config = config.replace(figures_dir=config.figures_dir or "reports/figures")
    steps: tuple[Callable[[DiagnosticsConfig], int], ...] = (
        run_curves,
        run_probe,
        run_analyze,
        run_dynamics,
    )
    for step in steps:
        step(config)
    print(f"figures written to {config.figures_dir}/")
    return 0
