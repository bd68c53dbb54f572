"""Optuna's own figures of a study's grid: matplotlib PNGs (optimisation history, parameter
importances) and plotly pages (parallel coordinates, slices), those it has enough trials for.
The replicates are left out: trained longer, at one lr per activation, they would stand out as
better learning rates and weigh on the importances without being one."""

import warnings

import optuna
from optuna.trial import TrialState

from pipeline.adapters.studies.queries import FINISHED, trials
from pipeline.adapters.studies.study import Study
from pipeline.core.config import GRID
from pipeline.figures import interactive


def _grid(study: Study) -> optuna.Study:
    """An in-memory study holding the finished grid trials."""
    grid = optuna.create_study(direction="maximize")
    grid.add_trials(trials(study, *FINISHED, of_phase=GRID))
    return grid


def static_figures(study: Study) -> dict[str, object]:
    """Optuna's own figures of the study (matplotlib), those it has enough trials for."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    completed = trials(study, TrialState.COMPLETE, of_phase=GRID)
    grid = _grid(study)
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
                axes = plot(grid)
        except (ValueError, RuntimeError):  # too few trials for this figure: skip it
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figures[path] = figure
    return figures


# Best val_acc from low to high, every stop dark enough to stand out on white: Optuna's own
# scale (Blues) starts near-white, which hid the trials that learned nothing.
ACCURACY_SCALE = [[0.0, "rgb(165, 15, 21)"], [0.5, "rgb(106, 61, 154)"], [1.0, "rgb(8, 69, 148)"]]
TARGET = "best val_acc"


def interactive_plots(study: Study) -> dict[str, object]:
    """Optuna's plotly figures: the parallel coordinates of activation, lr (a log axis) and
    best val_acc, every line coloured on ACCURACY_SCALE, and the slice of best val_acc over
    each of them. None before a trial has completed."""
    from optuna import visualization as ov

    if not trials(study, TrialState.COMPLETE, of_phase=GRID):
        return {}
    grid, params = _grid(study), ["activation", "lr"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel = ov.plot_parallel_coordinate(grid, params=params, target_name=TARGET)
        drawn = {
            "figures/parallel_coordinate.html": recolour_lines(parallel),
            "figures/slice.html": ov.plot_slice(grid, params=params, target_name=TARGET),
        }
    return drawn


def recolour_lines(figure):
    """Optuna's parallel coordinates (one line per trial, its value first in its hover data,
    and a colour bar trace holding the value range) coloured on ACCURACY_SCALE instead."""
    import plotly.colors

    bar = next(trace for trace in figure.data if trace.marker.showscale)
    low, high = bar.marker.cmin, bar.marker.cmax
    bar.marker.colorscale, bar.marker.reversescale = ACCURACY_SCALE, False
    for trace in figure.data:
        if trace.mode == "lines" and trace.customdata is not None:
            value = float(trace.customdata[0][1])  # as shown: rounded, maybe past the range
            where = min(max((value - low) / (high - low), 0.0), 1.0) if high > low else 0.5
            [trace.line.color] = plotly.colors.sample_colorscale(ACCURACY_SCALE, [where])
    return figure


def interactive_figures(study: Study) -> dict[str, str]:
    """`interactive_plots` as self-contained HTML pages."""
    return {path: interactive.to_html(figure) for path, figure in interactive_plots(study).items()}
