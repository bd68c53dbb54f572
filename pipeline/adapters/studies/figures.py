"""Optuna's own figures of a study's grid: a matplotlib PNG (optimisation history) and plotly
pages (parallel coordinates, slices), those it has enough trials for, and the swept settings'
importances within each activation where it has trials enough. The replicates are left out:
trained longer, at one configuration per activation, they would stand out as better settings.

Optuna's importance over all trials is not drawn: in this design every activation gets the same
trials and a space searched within each, so over few trials fANOVA ranked the activation at 0.00
while it decided everything (the quick sweep's 4 trials). The activation's effect is the spread
of the per-activation bests (the report says it); a setting's importance is computed within one
activation, from its own trials, once it has MIN_TRIALS of them."""

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
    """Optuna's optimisation history of the grid (matplotlib), once a trial completed."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    figures = {}
    if not trials(study, TrialState.COMPLETE, of_phase=GRID):
        return figures
    try:
        # Optuna switches the global style to ggplot, and warns on small studies.
        with plt.style.context("default"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = ovm.plot_optimization_history(_grid(study))
    except (ValueError, RuntimeError):  # too few trials for this figure: skip it
        return figures
    figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    figure.set_size_inches(8, 5)
    figure.tight_layout()
    figures["figures/optimization_history.png"] = figure
    return figures


MIN_TRIALS = 5  # completed trials of an activation before its importances are computed


def importances(study: Study) -> dict[str, dict[str, float]]:
    """Per activation with MIN_TRIALS completed grid trials, Optuna's (fANOVA) importance of
    each swept setting that took two values or more among them, from that activation's trials
    alone; none where fewer than two settings vary (one would be 1.0 by definition)."""
    found = {}
    keys = [key for key in study.config.swept_keys]
    for activation in study.config.activations:
        mine = [
            t
            for t in trials(study, TrialState.COMPLETE, of_phase=GRID)
            if t.params.get("activation") == activation and all(k in t.params for k in keys)
        ]
        varied = [k for k in keys if len({str(t.params[k]) for t in mine}) > 1]
        if len(mine) < MIN_TRIALS or len(varied) < 2:
            continue
        memory = optuna.create_study(direction="maximize")
        memory.add_trials(mine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found[activation] = optuna.importance.get_param_importances(memory, params=varied)
    return found


def importances_markdown(found: dict[str, dict[str, float]]) -> str:
    """The importances as a table, a row per activation."""
    keys = sorted({key for values in found.values() for key in values})
    lines = [
        f"Importance of each setting within each activation (Optuna's fANOVA over that "
        f"activation's completed trials, at least {MIN_TRIALS}); the activation's own effect is "
        "the spread of the per-activation bests in results.md.",
        "",
        "| activation | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for activation, values in found.items():
        cells = [f"{values[k]:.2f}" if k in values else "–" for k in keys]
        lines.append(f"| {activation} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# Best val_acc from low to high, every stop dark enough to stand out on white: Optuna's own
# scale (Blues) starts near-white, which hid the trials that learned nothing.
ACCURACY_SCALE = [[0.0, "rgb(165, 15, 21)"], [0.5, "rgb(106, 61, 154)"], [1.0, "rgb(8, 69, 148)"]]
TARGET = "best val_acc"


def interactive_plots(study: Study) -> dict[str, object]:
    """Optuna's plotly figures: the parallel coordinates of activation, the swept settings
    (lr on a log axis) and best val_acc, every line coloured on ACCURACY_SCALE, and the slice
    of best val_acc over each of them. None before a trial has completed."""
    from optuna import visualization as ov

    if not trials(study, TrialState.COMPLETE, of_phase=GRID):
        return {}
    grid, params = _grid(study), ["activation", *study.config.swept_keys]
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
    """`interactive_plots` as self-contained HTML pages, and the importances within each
    activation (figures/importances.md) where there are trials enough."""
    pages = {path: interactive.to_html(f) for path, f in interactive_plots(study).items()}
    if found := importances(study):
        pages["figures/importances.md"] = importances_markdown(found)
    return pages
