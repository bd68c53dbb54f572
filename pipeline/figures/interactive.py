"""Interactive figures (plotly): plain values in, one self-contained HTML page out.

The MLflow UI shows an `.html` artifact inline, in a sandboxed frame that may run scripts, so a
page that carries plotly.js itself (~4.8 MB) works offline, where a page loading it from a CDN
would stay blank. plotly is imported only when a figure is drawn.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.schema.vocabulary import Outcome
from pipeline.figures import response, to_plotly
from pipeline.figures.intervals import REFERENCE_LABEL, TITLE, describe
from pipeline.figures.spec import SHAPES

__all__ = ["SHAPES", "accuracy_intervals", "lr_response", "to_html"]


def to_html(figure: Any) -> str:
    """A plotly figure as a page that needs nothing from the network."""
    page: str = figure.to_html(include_plotlyjs=True, full_html=True, config={"responsive": True})
    return page


def lr_response(
    points: Mapping[str, Sequence[tuple[float | str, float, Outcome, str]]],
    title: str,
    seed_lr: float | None = None,
    setting: str = "lr",
    categorical: bool = False,
    lines: bool = True,
    reference: float | None = None,
    by: str | None = None,
) -> str:
    """The response figure (`response.describe`) as a page. Hovering a point shows its
    activation, value, group, accuracy and outcome; clicking a legend entry hides it."""
    described = response.describe(
        points, title, seed_lr, setting, categorical, lines, reference, by
    )
    return to_html(to_plotly.figure(described))


def accuracy_intervals(
    values: Mapping[str, Mapping[int, float]],
    means: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float]],
    reference: Mapping[str, float] | None = None,
    title: str = TITLE,
    reference_label: str = REFERENCE_LABEL,
) -> str:
    """The accuracy intervals (`intervals.describe`) as a page. Hovering the mean shows it, the
    interval, n and every seed's value; hovering a dot shows its seed; a reference drawn at the
    axis edge, its true value."""
    described = describe(values, means, intervals, reference, title, reference_label)
    return to_html(to_plotly.figure(described))
