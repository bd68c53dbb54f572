"""Figures: arrays in, a matplotlib Figure out. Nothing here reads files or knows about MLflow."""

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever saved

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.figures.intervals import REFERENCE_LABEL, describe
from pipeline.figures.spec import SHAPES
from pipeline.figures.to_matplotlib import MARKERS, draw


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


GROUP_MARKERS = "".join(MARKERS[shape] for shape in SHAPES)  # a marker per group, in turn


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


def interval_panel(
    ax: Axes,
    values: Mapping[str, Mapping[int, float]],
    means: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float]],
    reference: Mapping[str, float] | None = None,
    title: str = "",
    reference_label: str = REFERENCE_LABEL,
) -> None:
    """The accuracy intervals (`intervals.describe`) on `ax`, a panel of a larger figure."""
    draw(ax, describe(values, means, intervals, reference, title, reference_label))


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
