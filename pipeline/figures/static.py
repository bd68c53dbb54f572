"""Figures: arrays in, a matplotlib Figure out. Nothing here reads files or knows about MLflow."""

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever saved

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.core.schema.vocabulary import Outcome
from pipeline.figures.groups import group_shapes


def learning_curves(
    epochs: Sequence[int],
    train_loss: Sequence[float],
    val_loss: Sequence[float],
    train_acc: Sequence[float],
    val_acc: Sequence[float],
    title: str,
) -> Figure:
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss_ax.plot(epochs, train_loss, "o-", label="train")
    loss_ax.plot(epochs, val_loss, "o-", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_ax.plot(epochs, train_acc, "o-", label="train")
    acc_ax.plot(epochs, val_acc, "o-", label="validation")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def histogram_grid(
    rows: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], title: str
) -> Figure:
    """One row per key of `rows` (an activation), one column per layer: bars of (edges, counts)."""
    row_names = list(rows)
    columns = max(len(layers) for layers in rows.values())
    fig, axes = plt.subplots(
        len(row_names), columns, figsize=(3.2 * columns, 2.4 * len(row_names)), squeeze=False
    )
    for r, row_name in enumerate(row_names):
        for c, (layer, (edges, counts)) in enumerate(rows[row_name].items()):
            ax = axes[r, c]
            ax.stairs(counts, edges, fill=True, color=f"C{r % 10}", alpha=0.8)
            ax.set_title(f"{row_name}: {layer}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(5))
        for c in range(len(rows[row_name]), columns):
            axes[r, c].axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)


GROUP_MARKERS = "osD^vP*"  # a marker per value of a swept categorical setting, in turn


def lr_response(
    points: Mapping[str, Sequence[tuple[float | str, float, Outcome, str]]],
    title: str,
    seed_lr: float | None = None,
    setting: str = "lr",
    categorical: bool = False,
    lines: bool = True,
    reference: float | None = None,
    by: str | None = None,
) -> Figure:
    """Best validation accuracy against a setting (the learning rate by default), one colour
    per activation: a line through its points where `lines`, points alone where other settings
    vary too; a categorical setting's values as categories, lr on a log axis.

    `points[activation]` holds (value, best val_acc, outcome, group) with outcome "complete",
    "pruned" (a hollow marker: the accuracy it had reached) or "diverged" (an x at 0: no epoch
    finished), and group the value of the categorical setting `by`, one marker shape each.
    """
    reference = seed_lr if reference is None else reference
    shape = group_shapes(points, GROUP_MARKERS)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for index, (activation, rows) in enumerate(points.items()):
        color = f"C{index % 10}"
        rows = sorted(rows, key=lambda row: (str(row[0]) if categorical else row[0], row[1]))
        rows = [(str(x) if categorical else x, v, o, g) for x, v, o, g in rows]
        trained = [(x, value) for x, value, outcome, _ in rows if outcome != Outcome.DIVERGED]
        if trained and lines and not categorical:
            ax.plot(*zip(*trained, strict=True), "-", color=color, label=activation)
        else:
            ax.plot([], [], "o", color=color, label=activation)
        for x, value, outcome, group in rows:
            if outcome == Outcome.DIVERGED:
                ax.plot(x, 0, "x", color=color, ms=8)
            else:
                fill = color if outcome == Outcome.COMPLETE else "none"
                ax.plot(x, value, shape[group], color=color, mfc=fill)
    if reference is not None:
        ax.axvline(reference, color="grey", ls=":", lw=1, label=f"seed's lr {reference:g}")
    for group, marker in shape.items() if by is not None else ():
        ax.plot([], [], marker, color="grey", label=f"{by} {group}")
    ax.plot([], [], "o", color="grey", mfc="none", label="pruned (accuracy reached)")
    ax.plot([], [], "x", color="grey", label=str(Outcome.DIVERGED))
    name = "learning rate" if setting == "lr" else setting.replace("_", " ")
    ax.set(xlabel=name, ylabel="best validation accuracy", title=title, ylim=(-0.03, 1.0))
    if setting == "lr":
        ax.set_xscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def activation_grid(curves: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> Figure:
    """Each activation (solid) and its derivative (dashed), two rows as in the seed's Figure 2."""
    columns = max(1, (len(curves) + 1) // 2)
    fig, axes = plt.subplots(2, columns, figsize=(3.4 * columns, 6.4), squeeze=False)
    for ax, (name, x, y, dy) in zip(axes.flat, curves, strict=False):
        ax.plot(x, y, "k-", label="activation")
        ax.plot(x, dy, "k--", label="derivative")
        ax.set_title(name, fontweight="bold")
        ax.set_ylim(-1.5, max(1.5, float(np.max(y[np.isfinite(y)]))))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(curves) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def accuracy_intervals(
    values: Mapping[str, Mapping[int, float]],
    means: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float]],
    reference: Mapping[str, float] | None = None,
    title: str = "test accuracy over seeds: mean and 95% interval",
    reference_label: str = "UvA DL course (one run)",
) -> Figure:
    """One column per activation (interval_panel) in a figure of its own."""
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(means) + 2.0), 4.5))
    interval_panel(ax, values, means, intervals, reference, title, reference_label)
    fig.tight_layout()
    return fig


def interval_panel(
    ax: Axes,
    values: Mapping[str, Mapping[int, float]],
    means: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float]],
    reference: Mapping[str, float] | None = None,
    title: str = "",
    reference_label: str = "UvA DL course (one run)",
) -> None:
    """One column per activation, in the order of `means`: each seed's test accuracy
    (`values[activation][seed]`) as a dot, the mean with its 95% interval as an error bar (the
    mean alone where the interval is NaN) and `reference` as a hollow diamond; a reference far
    from the replicates sits at the axis edge as a triangle, its value written."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    from pipeline.figures.accuracy_range import accuracy_range

    reference = reference or {}
    names = list(means)
    shown = [v for name in names for v in (*values.get(name, {}).values(), *intervals[name])]
    bottom, top = accuracy_range([*shown, *means.values()], reference.values())
    for index, name in enumerate(names):
        color = f"C{index % 10}"
        seeds = list(values.get(name, {}).values())
        ax.scatter(index + _spread(len(seeds)), seeds, s=16, color=color, alpha=0.6, zorder=2)
        mean, (low, high) = means[name], intervals[name]
        bar = None if np.isnan(low) or np.isnan(high) else [[mean - low], [high - mean]]
        ax.errorbar(index + 0.15, mean, yerr=bar, fmt="o", color=color, capsize=5, zorder=3)
    ax.set_ylim(bottom, top)
    _reference_marks(ax, [(i, reference[n]) for i, n in enumerate(names) if n in reference])
    ax.set_xticks(range(len(names)), names)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(ylabel="test accuracy", title=title)
    ax.grid(alpha=0.3, axis="y")
    handles = [
        Line2D([], [], ls="", marker="o", color="grey", alpha=0.6, label="each seed"),
        Line2D([], [], marker="o", color="grey", label="mean, 95% interval"),
        Line2D([], [], ls="", marker="D", mfc="none", color="k", label=reference_label),
    ]
    ax.legend(handles=handles if reference else handles[:2], fontsize=8)


def _spread(count: int) -> np.ndarray:
    """x offsets that set a column's seed dots side by side, left of its error bar."""
    return np.linspace(-0.25, -0.05, count) if count > 1 else np.full(count, -0.15)


def _reference_marks(ax: Axes, points: Sequence[tuple[int, float]]) -> None:
    """Hollow diamonds at (column, value); one outside the axis range at its edge, as a
    triangle pointing where it lies, with its value written beside it."""
    bottom, top = ax.get_ylim()
    for index, value in points:
        x = index + 0.35
        if bottom <= value <= top:
            ax.scatter(x, value, marker="D", facecolors="none", edgecolors="k", zorder=4)
            continue
        edge, marker = (bottom, "v") if value < bottom else (top, "^")
        ax.scatter(x, edge, marker=marker, color="k", zorder=4, clip_on=False)
        ax.annotate(
            f"{100 * value:.2f}% (off scale)",
            (x, edge),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
        )


HEALTH_KINDS = {  # metric prefix -> what a panel of it shows
    "saturated_fraction": "saturated outputs",
    "dead_fraction": "dead units",
}


def training_dynamics(
    histories: Mapping[str, Mapping[str, tuple[Sequence[int], Sequence[float]]]],
    gradient: str = "grad_norm.fc1",
    title: str = "per epoch, on the probe batch",
) -> Figure:
    """Against epoch, one line per activation: each hidden layer's share of saturated outputs
    (bounded activations, top row) and of dead units (ReLU-like, bottom row), small multiples
    by layer; beside them the `gradient` norm on a log axis. `histories[activation][metric]`
    is (epochs, values) under the logged names (`saturated_fraction.act1`, `grad_norm.fc1`)."""
    keys = {key for series in histories.values() for key in series}
    kinds = [kind for kind in HEALTH_KINDS if any(k.startswith(f"{kind}.") for k in keys)]
    layers = sorted(
        {k.split(".", 1)[1] for k in keys if k.split(".", 1)[0] in kinds}, key=lambda n: (len(n), n)
    )
    rows, columns = max(1, len(kinds)), len(layers) + 1
    fig = plt.figure(figsize=(2.7 * columns + 0.8, 2.5 * rows + 0.9))
    grid = fig.add_gridspec(rows, columns)
    colors = {activation: f"C{index % 10}" for index, activation in enumerate(histories)}
    for row, kind in enumerate(kinds):
        axes = [fig.add_subplot(grid[row, column]) for column in range(len(layers))]
        for ax, layer in zip(axes, layers, strict=True):
            _epoch_lines(ax, histories, f"{kind}.{layer}", colors)
            ax.set_title(f"{HEALTH_KINDS[kind]}, {layer}", fontsize=9)
        top = max([ax.get_ylim()[1] for ax in axes] + [0.05])
        for ax in axes:
            ax.set_ylim(0, top)
        axes[0].set_ylabel("fraction")
    grad_ax = fig.add_subplot(grid[:, -1])
    _epoch_lines(grad_ax, histories, gradient, colors)
    grad_ax.set_yscale("log")
    grad_ax.set_title(f"{gradient} (log)", fontsize=9)
    grad_ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _epoch_lines(
    ax: Axes,
    histories: Mapping[str, Mapping[str, tuple[Sequence[int], Sequence[float]]]],
    key: str,
    colors: Mapping[str, str],
) -> None:
    """One line per activation that logged `key`, against its epochs."""
    for activation, series in histories.items():
        if key in series:
            epochs, values = series[key]
            ax.plot(
                epochs, values, "o-", ms=2.5, lw=1.2, color=colors[activation], label=activation
            )
    ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.grid(alpha=0.3)
