"""A figure drawn in both forms is one description (figures/spec.py): its PNG (matplotlib) and its
page (plotly) carry the same series, under the same labels, through the same points."""

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from matplotlib.container import ErrorbarContainer

from pipeline.figures import intervals, response, to_matplotlib, to_plotly
from pipeline.figures.spec import FigureSpec
from tests.conftest import plotly_data
from tests.figures.test_accuracy_figures import UVA, figure_inputs

Points = dict[str, Counter]


def _point(x, y):
    return (x if isinstance(x, str) else round(float(x), 9), round(float(y), 9))


def static_series(spec: FigureSpec) -> tuple[Points, Points, dict, list[str]]:
    """Per label (each artist's gid): its marked points, its lines' points, its error bars as
    (x, low, high); and the legend's entries."""
    figure = to_matplotlib.figure(spec)
    [ax] = figure.axes
    marked: Points = {}
    lines: Points = {}
    for line in ax.lines:
        if line.get_gid() is None:
            continue  # a legend's proxy
        points = [_point(x, y) for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)]
        if line.get_marker() not in ("None", None, ""):
            marked.setdefault(line.get_gid(), Counter()).update(points)
        if line.get_linestyle() != "None":
            lines.setdefault(line.get_gid(), Counter()).update(points)
    for dots in ax.collections:
        if dots.get_gid() is not None:
            found = marked.setdefault(dots.get_gid(), Counter())
            found.update(_point(x, y) for x, y in np.asarray(dots.get_offsets()))
    bars = {}
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer) and container.has_yerr:
            [(low, high)] = [
                (segment[0], segment[1]) for segment in container.lines[2][0].get_segments()
            ]
            bars[container.lines[0].get_gid()] = _point(low[0], low[1]), _point(high[0], high[1])
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    plt.close(figure)
    return marked, lines, bars, legend


def interactive_series(spec: FigureSpec) -> tuple[Points, Points, dict, list[str]]:
    """The same, read from the page's plotly data: each trace's name, mode, x, y, error_y."""
    data, _ = plotly_data(to_plotly.figure(spec).to_html(include_plotlyjs=False))
    marked: Points = {}
    lines: Points = {}
    bars = {}
    for trace in data:
        points = [_point(x, y) for x, y in zip(trace["x"], trace["y"], strict=True)]
        if "markers" in trace["mode"]:
            marked.setdefault(trace["name"], Counter()).update(points)
        if "lines" in trace["mode"]:
            lines.setdefault(trace["name"], Counter()).update(points)
        error = trace.get("error_y", {})
        if error.get("visible"):
            [(x, y)] = zip(trace["x"], trace["y"], strict=True)
            low, high = y - error["arrayminus"][0], y + error["array"][0]
            bars[trace["name"]] = _point(x, low), _point(x, high)
    legend = [trace["name"] for trace in data if trace.get("showlegend", True)]
    return marked, lines, bars, legend


def shown(points: Points) -> Points:
    return {label: found for label, found in points.items() if found}


def assert_same_figure(spec: FigureSpec) -> None:
    drawn, paged = static_series(spec), interactive_series(spec)
    marked, lines, bars, legend = drawn
    assert shown(marked) == shown(paged[0]), "each label's marked points"
    assert shown(lines) == shown(paged[1]), "each label's lines"
    assert bars == paged[2], "each label's error bars"
    # the PNG's legend: the page's, and the key (on the page, in its legend's title)
    assert Counter(legend) == Counter([*paged[3], *(entry.label for entry in spec.key)])
    labels = {series.label for series in spec.series if series.x}
    assert set(shown(marked)) | set(shown(lines)) == labels | {
        line.label for line in spec.vertical_lines
    }


OUTCOMES = st.sampled_from(["complete", "pruned", "diverged"])
ROWS = st.lists(
    st.tuples(
        st.sampled_from([0.001, 0.01, 0.1, 1.0]),
        st.floats(0.1, 0.9),
        OUTCOMES,
        st.sampled_from(["sgd", "adam"]),
    ),
    max_size=6,
)


# no shrinking: each example draws two figures, and shrinking a failure took minutes
@settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(
    points=st.dictionaries(st.sampled_from(["relu", "tanh", "gelu"]), ROWS, min_size=1),
    categorical=st.booleans(),
    lines=st.booleans(),
)
def test_the_response_figure_is_the_same_in_both_forms(points, categorical, lines):
    setting, seed_lr = ("batch_size", None) if categorical else ("lr", 0.1)
    spec = response.describe(
        points, "t", seed_lr, setting, categorical=categorical, lines=lines, by="optimizer"
    )
    assert_same_figure(spec)


def test_the_accuracy_intervals_are_the_same_in_both_forms():
    values, means, intervals_ = figure_inputs()
    spec = intervals.describe(values, means, intervals_, UVA)
    assert_same_figure(spec)
    marked, _, bars, _ = static_series(spec)
    assert set(bars) == {"sigmoid", "tanh", "relu"}  # leakyrelu: one seed, no interval
    [(x, low)] = [(x, y) for x, y in marked[intervals.REFERENCE_LABEL] if x < 0.5]
    assert x == 0.35 and low > 0.8 > UVA["sigmoid"]  # drawn at the edge, not at 10%
