"""`make figures`: curves, probe and analyze, and the training dynamics the per-epoch probe of
every training run logs, every figure also written as a PNG."""

import sys
from collections.abc import Callable

from pipeline.adapters import tracking
from pipeline.core.schema.job_config import DiagnosticsConfig
from pipeline.figures import static
from pipeline.jobs import analyze, curves, probe
from pipeline.jobs.diagnostic_runs import save_figure, source_runs
from pipeline.stages.probe import PROBE_BATCH_SIZE

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


def run(config: DiagnosticsConfig) -> int:
    """curves, probe, analyze and the training dynamics, every figure also in figures_dir."""
    config = config.replace(figures_dir=config.figures_dir or "reports/figures")
    steps: tuple[Callable[[DiagnosticsConfig], int], ...] = (
        curves.run,
        probe.run,
        analyze.run,
        run_dynamics,
    )
    for step in steps:
        step(config)
    print(f"figures written to {config.figures_dir}/")
    return 0
