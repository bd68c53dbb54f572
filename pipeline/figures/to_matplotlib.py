"""A figure's description (`spec.FigureSpec`) drawn with matplotlib: the static form. Each artist
drawn for a series carries its label as its gid, so a test can find a series' points."""

import math
from typing import Literal

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever saved

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from pipeline.figures.spec import SHAPES, Axis, Colour, FigureSpec, Marker, Series

MARKERS = dict(zip(SHAPES, "osD^vP*", strict=True)) | {"x": "x"}  # plotly's names -> matplotlib's


def figure(spec: FigureSpec) -> Figure:
    """The description as a figure of its own."""
    fig, ax = plt.subplots(figsize=spec.size)
    draw(ax, spec)
    fig.tight_layout()
    return fig


def draw(ax: Axes, spec: FigureSpec) -> None:
    """The description on `ax`: its series in order, its reference lines, notes and axes, and a
    legend of the series that have one, the reference lines and the key."""
    for series in spec.series:
        _draw_series(ax, series)
    for line in spec.vertical_lines:
        ax.axvline(line.x, color="grey", ls=":", lw=1, label=line.label, gid=line.label)
    for entry in spec.key:
        _proxy(ax, entry.label, entry.marker, entry.colour, entry.opacity)
    for note in spec.notes:
        ax.annotate(
            note.text,
            (note.x, note.y),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
        )
    ax.set(title=spec.title, xlabel=spec.x.label, ylabel=spec.y.label)
    _axis(ax, spec.x, "x")
    _axis(ax, spec.y, "y")
    ax.legend(fontsize=8, loc=spec.legend_corner)


def colour(value: Colour) -> str:
    return f"C{value % 10}" if isinstance(value, int) else value


def _draw_series(ax: Axes, series: Series) -> None:
    if series.kind == "curve":
        _curve(ax, series)
    elif series.kind == "interval":
        _interval(ax, series)
    else:
        _dots(ax, series)


def _curve(ax: Axes, series: Series) -> None:
    """The line through the points where joined (a dot in the legend where not), then each
    point as a line of its own, with its marker."""
    shade = colour(series.colour)
    label = series.label if series.legend else "_nolegend_"
    if series.joined and series.x:
        ax.plot(series.x, series.y, "-", color=shade, label=label, gid=series.label)
    elif series.legend:
        _proxy(ax, series.label, series.marker, series.colour, series.opacity)
    for x, y, marker in zip(series.x, series.y, series.markers(), strict=True):
        fill = shade if marker.filled else "none"
        ax.plot(
            x, y, MARKERS[marker.shape], color=shade, mfc=fill, ms=series.size, gid=series.label
        )


def _dots(ax: Axes, series: Series) -> None:
    """One scatter for a series of one marker (even with no points); else one per point."""
    shade = colour(series.colour)
    groups = [(series.x, series.y, series.marker)]
    if series.marks:
        groups = [((x,), (y,), m) for x, y, m in zip(series.x, series.y, series.marks, strict=True)]
    for xs, ys, marker in groups:
        ax.scatter(
            xs,
            ys,
            s=series.size**2,
            marker=MARKERS[marker.shape],
            alpha=series.opacity,
            zorder=2,
            clip_on=series.clip,
            gid=series.label,
            facecolors=shade if marker.filled else "none",
            edgecolors=shade,
        )
    if series.legend:
        _proxy(ax, series.label, series.marker, series.colour, series.opacity)


def _interval(ax: Axes, series: Series) -> None:
    """The points with their intervals as error bars (none where every bound is NaN)."""
    bounds = [(y, low, high) for y, (low, high) in zip(series.y, series.errors, strict=True)]
    below = [0.0 if math.isnan(low) else y - low for y, low, _ in bounds]
    above = [0.0 if math.isnan(high) else high - y for y, _, high in bounds]
    shown = any(not math.isnan(low) and not math.isnan(high) for _, low, high in bounds)
    bars = ax.errorbar(
        series.x,
        series.y,
        yerr=[below, above] if shown else None,
        fmt="o",
        color=colour(series.colour),
        ms=series.size,
        capsize=5,
        zorder=2,
        label=series.label if series.legend else "_nolegend_",
    )
    bars.lines[0].set_gid(series.label)


def _proxy(ax: Axes, label: str, marker: Marker, shade: Colour, opacity: float) -> None:
    """A legend entry with no points: the marker, filled or hollow."""
    fill = colour(shade) if marker.filled else "none"
    ax.plot(
        [],
        [],
        ls="",
        marker=MARKERS[marker.shape],
        color=colour(shade),
        mfc=fill,
        alpha=opacity,
        label=label,
    )


def _axis(ax: Axes, axis: Axis, which: Literal["x", "y"]) -> None:
    """An axis's scale, limits, ticks, format and grid."""
    if axis.scale == "log":
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    if axis.limits is not None:
        (ax.set_xlim if which == "x" else ax.set_ylim)(*axis.limits)
    if axis.ticks:
        positions, texts = zip(*axis.ticks, strict=True)
        (ax.set_xticks if which == "x" else ax.set_yticks)(positions, texts)
    if axis.percent:
        (ax.xaxis if which == "x" else ax.yaxis).set_major_formatter(PercentFormatter(1.0))
    if axis.grid:
        ax.grid(alpha=0.3, axis=which, which="both")
