"""Optuna's own figures of a study: matplotlib PNGs (optimisation history, parameter
importances) and plotly pages (parallel coordinates, slices), those it has enough trials for."""

import warnings

from optuna.trial import TrialState

from pipeline.adapters.studies.queries import trials
from pipeline.adapters.studies.study import Study
from pipeline.figures import interactive


def static_figures(study: Study) -> dict[str, object]:
    """Optuna's own figures of the study (matplotlib), those it has enough trials for."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    completed = trials(study, TrialState.COMPLETE)
    draw = {"figures/optimization_history.png": ovm.plot_optimization_history}
    activations = {t.params["activation"] for t in completed}
    if len(activations) > 1 and len({t.params["lr"] for t in completed}) > 1:
        draw["figures/param_importances.png"] = ovm.plot_param_importances
    figures = {}
    for path, plot in draw.items():
        try:
            # Optuna switches the global style to ggplot, and warns on small studies.
            with plt.style.context("default"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study.optuna_study)
        except (ValueError, RuntimeError):  # too few trials for this figure: skip it
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figures[path] = figure
    return figures


def interactive_figures(study: Study) -> dict[str, str]:
    """Optuna's plotly figures as self-contained HTML pages: the parallel coordinates of
    activation, lr (a log axis) and best val_acc, and the slice of best val_acc over each
    of them. None before a trial has completed."""
    from optuna import visualization as ov

    if not trials(study, TrialState.COMPLETE):
        return {}
    params, target = ["activation", "lr"], "best val_acc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drawn = {
            "figures/parallel_coordinate.html": ov.plot_parallel_coordinate(
                study.optuna_study, params=params, target_name=target
            ),
            "figures/slice.html": ov.plot_slice(
                study.optuna_study, params=params, target_name=target
            ),
        }
    return {path: interactive.to_html(figure) for path, figure in drawn.items()}
