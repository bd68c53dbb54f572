"""Optuna's own figures of a study's grid: a matplotlib PNG (optimisation history) and plotly
pages (parallel coordinates, slices), those it has enough trials for, and the swept settings'
importances within each activation where it has trials enough. The replicates are left out:
trained longer, at one configuration per activation, they would stand out as better settings.

Optuna's importance over all trials is not drawn: in this design every activation gets the same
trials and a space searched within each, so over few trials fANOVA ranked the activation at 0.00
while it decided everything (the quick sweep's 4 trials). The activation's effect is the spread
of the per-activation bests (the report says it); a setting's importance is computed within one
activation, from its own trials, once it has MIN_TRIALS_PER_SETTING of them for each setting
that varies, with its spread over bootstrap resamples of those trials."""

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from pipeline.adapters.studies.queries import score, trials
from pipeline.adapters.studies.study import Study
from pipeline.core.schema.vocabulary import Phase
from pipeline.figures import interactive

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn
    from matplotlib.figure import Figure


def _grid(study: Study) -> optuna.Study:
    """An in-memory study holding the completed grid trials, valued by the first objective
    (a multi-objective study's Pareto front is the report's: stages/pareto.py)."""
    grid = optuna.create_study(direction=study.directions[0])
    grid.add_trials([_scored(t) for t in trials(study, TrialState.COMPLETE, of_phase=Phase.GRID)])
    return grid


def _scored(trial: FrozenTrial) -> FrozenTrial:
    """A completed trial with its first objective as its one value."""
    return create_trial(params=trial.params, distributions=trial.distributions, value=score(trial))


def static_figures(study: Study) -> dict[str, "Figure"]:
    """Optuna's optimisation history of the grid (matplotlib), once a trial completed."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    figures: dict[str, Figure] = {}
    if not trials(study, TrialState.COMPLETE, of_phase=Phase.GRID):
        return figures
    try:
        # Optuna switches the global style to ggplot, and warns on small studies.
        with plt.style.context("default"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # typed as one Axes; it may be an array of them, each on the figure
            axes: Any = ovm.plot_optimization_history(_grid(study))
    except (ValueError, RuntimeError):  # too few trials for this figure: skip it
        return figures
    figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    figure.set_size_inches(8, 5)
    figure.tight_layout()
    figures["figures/optimization_history.png"] = figure
    return figures


# Completed trials of an activation per setting that varies among them, before its importances
# are computed: with fewer, a forest fitted on the trials has more settings than it can tell
# apart, and resamples of the same trials rank the settings differently (the quick sweep's 5
# TPE trials gave lr 1.00, optimizer 0.00 where TPE drew Adam 4 times of 5).
MIN_TRIALS_PER_SETTING = 10
RESAMPLES = 20  # bootstrap resamples of the trials: the spread printed beside each importance


def importances(study: Study) -> tuple[dict[str, dict[str, tuple[float, float, float]]], str]:
    """Per activation with MIN_TRIALS_PER_SETTING completed grid trials for each swept setting
    that took two values or more among them, each setting's fANOVA importance from that
    activation's trials alone, with the 2.5th and 97.5th percentiles over RESAMPLES bootstrap
    resamples of those trials: {activation: {setting: (importance, low, high)}}; and, where no
    activation has them, one line saying why none is shown."""
    found, why = {}, ""
    keys = list(study.config.swept_keys)
    for activation in study.config.activations:
        mine = [
            t
            for t in trials(study, TrialState.COMPLETE, of_phase=Phase.GRID)
            if t.params.get("activation") == activation and all(k in t.params for k in keys)
        ]
        varied = [k for k in keys if len({str(t.params.get(k)) for t in mine}) > 1]
        if len(varied) < 2:
            why = (
                "only one setting varies within each activation: its importance is 1 by definition"
            )
        elif len(mine) < MIN_TRIALS_PER_SETTING * len(varied):
            why = (
                f"{activation} has {len(mine)} completed trials, fewer than "
                f"{MIN_TRIALS_PER_SETTING} per setting that varies ({', '.join(varied)})"
            )
        else:
            found[activation] = _with_spread(mine, varied, study.config.base_seed)
    return found, "" if found else f"No importances: {why}.\n"


def _with_spread(
    mine: list[FrozenTrial], varied: list[str], seed: int
) -> dict[str, tuple[float, float, float]]:
    """Each setting's importance over `mine`, and its percentile interval over resamples."""
    rng = np.random.default_rng(seed)
    whole = _importance(mine, varied, seed)
    draws = []
    for _ in range(RESAMPLES):
        sample = [mine[i] for i in rng.integers(0, len(mine), len(mine))]
        if all(len({str(t.params.get(k)) for t in sample}) > 1 for k in varied):
            draws.append(_importance(sample, varied, seed))
    spread = {}
    for key in varied:
        values = [d[key] for d in draws] or [whole[key]]
        spread[key] = (float(whole[key]), *np.percentile(values, [2.5, 97.5]).tolist())
    return spread


def _importance(mine: list[FrozenTrial], varied: list[str], seed: int) -> dict[str, float]:
    memory = optuna.create_study()  # fANOVA explains the variance: the direction is moot
    # a resample holds a trial twice: each copy is its own trial of the in-memory study
    memory.add_trials([_scored(t) for t in mine])
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optuna.importance.get_param_importances(memory, evaluator=evaluator, params=varied)


def importances_markdown(found: dict[str, dict[str, tuple[float, float, float]]]) -> str:
    """The importances as a table, a row per activation, each with its bootstrap interval."""
    keys = sorted({key for values in found.values() for key in values})
    lines = [
        "Importance of each setting within each activation: Optuna's fANOVA over that "
        f"activation's completed trials (at least {MIN_TRIALS_PER_SETTING} per setting that "
        f"varies), with the 2.5th–97.5th percentiles over {RESAMPLES} bootstrap resamples of "
        "those trials in brackets; the activation's own effect is the spread of the "
        "per-activation bests in results.md.",
        "",
        "| activation | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for activation, values in found.items():
        cells = [
            f"{values[k][0]:.2f} [{values[k][1]:.2f}, {values[k][2]:.2f}]" if k in values else "–"
            for k in keys
        ]
        lines.append(f"| {activation} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# Best val_acc from low to high, every stop dark enough to stand out on white: Optuna's own
# scale (Blues) starts near-white, which hid the trials that learned nothing.
# plotly's colour scale: [position, colour] pairs
ACCURACY_SCALE: list[list[Any]] = [
    [0.0, "rgb(165, 15, 21)"],
    [0.5, "rgb(106, 61, 154)"],
    [1.0, "rgb(8, 69, 148)"],
]
TARGETS = {"val_acc": "best val_acc", "val_loss": "lowest val_loss"}  # by the first objective


def interactive_plots(study: Study) -> dict[str, object]:
    """Optuna's plotly figures: the parallel coordinates of activation, the swept settings
    (lr on a log axis) and best val_acc, every line coloured on ACCURACY_SCALE, and the slice
    of best val_acc over each of them. None before a trial has completed."""
    from optuna import visualization as ov

    if not trials(study, TrialState.COMPLETE, of_phase=Phase.GRID):
        return {}
    grid, params = _grid(study), ["activation", *study.config.swept_keys]
    objective = study.config.objective[0]
    target, low_is_good = TARGETS[objective], study.directions[0] == "minimize"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel = ov.plot_parallel_coordinate(grid, params=params, target_name=target)
        drawn = {
            "figures/parallel_coordinate.html": recolour_lines(parallel, low_is_good),
            "figures/slice.html": ov.plot_slice(grid, params=params, target_name=target),
        }
    return drawn


def recolour_lines(figure: Any, low_is_good: bool = False) -> Any:
    """Optuna's parallel coordinates (one line per trial, its value first in its hover data,
    and a colour bar trace holding the value range) coloured on ACCURACY_SCALE instead, its
    blue end on the best values (the lowest, for a loss)."""
    import plotly.colors

    bar = next(trace for trace in figure.data if trace.marker.showscale)
    low, high = bar.marker.cmin, bar.marker.cmax
    scale = [[1 - at, color] for at, color in reversed(ACCURACY_SCALE)] if low_is_good else None
    scale = scale or ACCURACY_SCALE
    bar.marker.colorscale, bar.marker.reversescale = scale, False
    for trace in figure.data:
        if trace.mode == "lines" and trace.customdata is not None:
            value = float(trace.customdata[0][1])  # as shown: rounded, maybe past the range
            where = min(max((value - low) / (high - low), 0.0), 1.0) if high > low else 0.5
            [trace.line.color] = plotly.colors.sample_colorscale(scale, [where])
    return figure


def interactive_figures(study: Study) -> dict[str, str]:
    """`interactive_plots` as self-contained HTML pages, and the importances within each
    activation (figures/importances.md) where there are trials enough."""
    pages = {path: interactive.to_html(f) for path, f in interactive_plots(study).items()}
    if pages:  # a trial has completed
        found, why = importances(study)
        pages["figures/importances.md"] = importances_markdown(found) if found else why
    return pages
