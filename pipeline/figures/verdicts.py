"""The figure a reviewer reads at a glance: each activation's test accuracy with its interval
(static.interval_panel) beside the matrix of every pair's Holm-adjusted p-value and verdict."""

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from pipeline.figures.static import interval_panel

# A pair's cell: (Holm-adjusted p, mark), the mark ">" where the row's activation is ahead,
# "<" where the column's is, "≈" within the margin, "" where not shown different.
Cells = Mapping[tuple[str, str], tuple[float, str]]


def verdicts(
    values: Mapping[str, Mapping[int, float]],
    means: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float]],
    reference: Mapping[str, float] | None,
    title: str,
    cells: Cells,
    alpha: float = 0.05,
) -> Figure:
    """Two panels: the intervals per activation, and the pairwise matrix."""
    count = len(means)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(max(10.0, 1.6 * count + 4.0), 5.2), gridspec_kw={"width_ratios": [1.3, 1]}
    )
    interval_panel(left, values, means, intervals, reference, title="test accuracy per activation")
    pair_matrix(right, list(means), cells, alpha)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pair_matrix(ax: Axes, names: list[str], cells: Cells, alpha: float) -> None:
    """Row a, column b: the Holm-adjusted p of a against b, shaded on a log scale (darker is
    smaller), with its mark; the diagonal and untested pairs blank."""
    grid = np.full((len(names), len(names)), np.nan)
    index = {name: i for i, name in enumerate(names)}
    for (a, b), (p, mark) in cells.items():
        i, j = index[a], index[b]
        if math.isnan(p):
            continue
        grid[i, j] = grid[j, i] = max(p, 1e-6)
        ax.text(j, i, _label(p, mark), ha="center", va="center", fontsize=8, color=_ink(p))
        ax.text(i, j, _label(p, _mirror(mark)), ha="center", va="center", fontsize=8, color=_ink(p))
    image = ax.imshow(grid, cmap="Blues_r", norm=LogNorm(1e-6, 1.0))
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    colorbar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.ax.axhline(alpha, color="k", lw=1)
    colorbar.set_label(f"Holm-adjusted p (line: {alpha:g})")
    ax.set_title("row vs column: > ahead, < behind, ≈ within margin")


def _label(p: float, mark: str) -> str:
    value = f"{p:.0e}" if p < 1e-3 else f"{p:.3f}"
    return f"{mark}\n{value}" if mark else value


def _mirror(mark: str) -> str:
    return {">": "<", "<": ">"}.get(mark, mark)


def _ink(p: float) -> str:
    return "white" if p < 1e-3 else "black"
