"""Interactive figures (plotly): plain values in, one self-contained HTML page out.

The MLflow UI shows an `.html` artifact inline, in a sandboxed frame that may run scripts, so a
page that carries plotly.js itself (~4.8 MB) works offline, where a page loading it from a CDN
would stay blank. plotly is imported only when a figure is drawn.
"""

from typing import Any

from pipeline.figures import to_plotly
from pipeline.figures.spec import SHAPES, FigureSpec

__all__ = ["SHAPES", "page", "to_html"]  # a page's marker per group, in turn


def to_html(figure: Any) -> str:
    """A plotly figure as a page that needs nothing from the network."""
    page: str = figure.to_html(include_plotlyjs=True, full_html=True, config={"responsive": True})
    return page


def page(spec: FigureSpec) -> str:
    """A figure's description (figures/spec.py) as a page: hovering a point shows what its
    series says of it; clicking a legend entry hides the series."""
    return to_html(to_plotly.figure(spec))
