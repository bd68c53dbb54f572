"""A multi-objective study's trade-off: every completed grid-phase trial on its first two
objectives, one colour per activation, the Pareto front's members filled and joined."""

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

LABELS = {
    "val_acc": "best validation accuracy",
    "val_loss": "lowest validation loss",
    "epoch_seconds": "seconds per epoch (mean)",
    "parameters": "trainable parameters",
}


def pareto_front(
    points: Mapping[str, Sequence[tuple[float, float, bool]]],
    axes: tuple[str, str],
    title: str,
) -> Figure:
    """`points[activation]` holds (x: the cost objective `axes[1]`, y: the validation measure
    `axes[0]`, on the front or not); the front is drawn as a step line through its members."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    front = sorted((x, y) for rows in points.values() for x, y, on in rows if on)
    low, high = _window([y for _, y in front])
    for index, (activation, rows) in enumerate(points.items()):
        color = f"C{index % 10}"
        ax.plot([], [], "o", color=color, label=activation)
        for x, y, on_front in rows:
            marker = "v" if y < low else "^" if y > high else "o"
            shown = min(max(y, low), high)
            ax.plot(x, shown, marker, color=color, mfc=color if on_front else "none", ms=7)
    if front:
        ax.step(*zip(*front, strict=True), where="post", color="grey", lw=1, zorder=0)
    ax.plot([], [], "o", color="grey", label="on the Pareto front")
    ax.plot([], [], "o", color="grey", mfc="none", label="dominated")
    ax.plot([], [], "v", color="grey", mfc="none", label="off the axis (drawn at its edge)")
    ax.set(xlabel=LABELS[axes[1]], ylabel=LABELS[axes[0]], title=title)
    if front:
        ax.set_ylim(low, high)
    if axes[1] == "parameters":
        ax.set_xscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _window(front: list[float]) -> tuple[float, float]:
    """The y range around the front, wide enough to show what it beat nearby: trials far
    below it (a diverged lr at chance) would squash the front into one line."""
    if not front:
        return -math.inf, math.inf
    low, high = min(front), max(front)
    pad = max(0.02 * max(abs(high), 1e-9), 2 * (high - low))
    return low - pad, high + pad / 4
