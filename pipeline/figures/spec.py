"""One description of a figure drawn in both forms, without a plotting library: what it shows,
computed once from the data. `to_matplotlib` draws it as a PNG's axes, `to_plotly` as a page's
figure; neither decides what is shown, only how its library draws it.

A marker's shape is named as plotly names it (matplotlib's renderer maps the names); a colour is
an index into the renderer's palette (matplotlib's C0..C9, plotly's own ten) or a named colour.
"""

from dataclasses import dataclass
from typing import Any, Literal

# The shapes that tell a group apart, in turn; "x" is kept for a point with no value.
SHAPES = ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "star")
Shape = str  # one of SHAPES, or "x"
Colour = int | str  # a palette index, or a colour both libraries name ("grey", "black")
Scale = Literal["linear", "log", "category"]
Corner = Literal["best", "upper left", "upper right", "lower left", "lower right"]


@dataclass(frozen=True)
class Marker:
    shape: Shape = "circle"
    filled: bool = True  # hollow: the outline alone


@dataclass(frozen=True)
class Series:
    """Points of one kind, under one label (a legend entry where `legend`; points of the same
    label in several series belong together: one legend entry, hidden together).

    kind: "curve", points along a setting, joined by a line where `joined`, each point with its
    own marker (`marks`); "dots", a strip of points; "interval", a point with its interval
    `errors` (low, high; NaN where there is none)."""

    label: str
    x: tuple[float | str, ...]
    y: tuple[float, ...]
    kind: Literal["curve", "dots", "interval"] = "dots"
    colour: Colour = 0
    marker: Marker = Marker()  # each point's, and the legend's, unless `marks` says otherwise
    marks: tuple[Marker, ...] = ()  # a marker per point, or none
    size: float = 6.0  # a marker's width in points
    opacity: float = 1.0
    joined: bool = False
    errors: tuple[tuple[float, float], ...] = ()
    legend: bool = True
    group: str = ""  # the legend entry it is hidden with, if not its label's
    clip: bool = True  # False: a point at the axis edge is drawn whole
    hover: str = ""  # the interactive form's hover, a plotly template over `hover_data`
    hover_data: tuple[Any, ...] = ()

    def markers(self) -> tuple[Marker, ...]:
        """Each point's marker."""
        return self.marks or (self.marker,) * len(self.x)


@dataclass(frozen=True)
class Axis:
    label: str = ""
    scale: Scale = "linear"
    limits: tuple[float, float] | None = None
    ticks: tuple[tuple[float, str], ...] = ()  # (position, text); none: the library's own
    percent: bool = False  # values are fractions, shown as percentages
    grid: bool = False


@dataclass(frozen=True)
class VerticalLine:
    """A reference value on the x axis, a dotted grey line across the plot."""

    x: float
    label: str


@dataclass(frozen=True)
class KeyEntry:
    """A line of the legend that explains a marker rather than naming a series."""

    label: str
    marker: Marker
    colour: Colour = "grey"
    opacity: float = 1.0


@dataclass(frozen=True)
class Note:
    """Text beside a point (x, y in data units)."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class FigureSpec:
    title: str
    x: Axis
    y: Axis
    series: tuple[Series, ...]
    vertical_lines: tuple[VerticalLine, ...] = ()
    key: tuple[KeyEntry, ...] = ()
    notes: tuple[Note, ...] = ()
    legend_title: str = ""  # the interactive legend's heading, before the key
    legend_corner: Corner = "best"  # where the static legend goes (matplotlib's `loc`)
    size: tuple[float, float] = (7.5, 4.5)  # the static figure's, in inches
