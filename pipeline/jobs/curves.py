"""`make curves`: each activation and its derivative, the seed's Figure 2, tracked."""

from pipeline.adapters import tracking
from pipeline.core.network.activations import NAMES
from pipeline.core.schema.job_config import DiagnosticsConfig
from pipeline.figures import static
from pipeline.jobs.diagnostic_runs import save_figure
from pipeline.stages import curves


def run(config: DiagnosticsConfig) -> int:
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
