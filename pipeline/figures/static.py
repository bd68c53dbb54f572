"""Figures: arrays in, a matplotlib Figure out. Nothing here reads files or knows about MLflow."""

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever saved

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


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


def lr_response(
    points: Mapping[str, Sequence[tuple[float, float, str]]],
    title: str,
    seed_lr: float | None = None,
) -> Figure:
    """Best validation accuracy against learning rate, one line per activation.

    `points[activation]` holds (lr, best val_acc, outcome) with outcome "complete", "pruned" (a
    hollow marker: the accuracy it had reached) or "diverged" (an x at 0: no epoch finished).
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for index, (activation, rows) in enumerate(points.items()):
        color = f"C{index % 10}"
        rows = sorted(rows)
        trained = [(lr, value) for lr, value, outcome in rows if outcome != "diverged"]
        if trained:
            ax.plot(*zip(*trained, strict=True), "-", color=color, label=activation)
        for lr, value, outcome in rows:
            if outcome == "diverged":
                ax.plot(lr, 0, "x", color=color, ms=8)
            else:
                ax.plot(lr, value, "o", color=color, mfc=color if outcome == "complete" else "none")
    if seed_lr is not None:
        ax.axvline(seed_lr, color="grey", ls=":", lw=1, label=f"seed's lr {seed_lr:g}")
    ax.plot([], [], "o", color="grey", mfc="none", label="pruned (accuracy reached)")
    ax.plot([], [], "x", color="grey", label="diverged")
    ax.set(
        xscale="log",
        xlabel="learning rate",
        ylabel="best validation accuracy",
        title=title,
        ylim=(-0.03, 1.0),
    )
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
