"""The answer's figures: each activation's seeds, mean and interval (static and interactive),
and the verdict figure that sets them beside the matrix of pairwise adjusted p-values."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import PathCollection
from matplotlib.container import ErrorbarContainer

from pipeline.figures import interactive, static, to_matplotlib, verdicts
from pipeline.figures import intervals as interval_figure
from pipeline.figures.accuracy_range import accuracy_range

UVA = {"sigmoid": 0.10, "tanh": 0.8759, "relu": 0.8862, "leakyrelu": 0.8892}
VALUES = {
    "sigmoid": {1: 0.851, 2: 0.848, 3: 0.853},
    "tanh": {1: 0.875, 2: 0.878, 3: 0.872},
    "relu": {1: 0.885, 2: 0.887, 3: 0.889},
    "leakyrelu": {1: 0.889},
}


def figure_inputs():
    means = {name: float(np.mean(list(v.values()))) for name, v in VALUES.items()}
    intervals = {name: (m - 0.004, m + 0.004) for name, m in means.items()}
    intervals["leakyrelu"] = (math.nan, math.nan)  # one seed: no interval
    return VALUES, means, intervals


def test_the_static_figure_has_one_interval_per_activation_and_a_dot_per_seed():
    values, means, intervals = figure_inputs()
    fig = to_matplotlib.figure(interval_figure.describe(values, means, intervals, UVA))
    try:
        (ax,) = fig.axes
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == len(VALUES)
        assert sum(bar.has_yerr for bar in bars) == 3  # leakyrelu: one seed, no interval
        dots = [c for c in ax.collections if isinstance(c, PathCollection)]  # scatter
        points = sum(len(c.get_offsets()) for c in dots)
        assert points == sum(len(v) for v in VALUES.values()) + len(VALUES)  # seeds + UvA
        assert [t.get_text() for t in ax.get_xticklabels()] == list(VALUES)
        # UvA's sigmoid (10%) lies far below the replicates: marked at the edge, value written
        assert ax.get_ylim()[0] > 0.5
        assert [t.get_text() for t in ax.texts] == ["10.00% (off scale)"]
    finally:
        static.close(fig)


def test_the_verdict_figure_sets_the_intervals_beside_every_pairs_adjusted_p():
    values, means, intervals = figure_inputs()
    cells = {
        ("sigmoid", "tanh"): (0.0004, "<"),
        ("tanh", "relu"): (0.2, ""),
        ("relu", "leakyrelu"): (0.9, "≈"),
        ("sigmoid", "relu"): (math.nan, ""),  # not tested: blank
    }
    fig = verdicts.verdicts(values, means, intervals, UVA, "sweep unit", cells)
    try:
        intervals_ax, matrix_ax, colorbar = fig.axes
        assert [t.get_text() for t in intervals_ax.get_xticklabels()] == list(VALUES)
        assert [t.get_text() for t in matrix_ax.get_yticklabels()] == list(VALUES)
        texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text()
                 for t in matrix_ax.texts}  # fmt: skip
        assert texts[(1, 0)] == "<\n4e-04" and texts[(0, 1)] == ">\n4e-04", "mirrored"
        assert texts[(2, 1)] == "0.200" and texts[(3, 2)] == "≈\n0.900"
        assert (2, 0) not in texts and len(texts) == 6
        grid = matrix_ax.images[0].get_array()
        assert grid[1, 0] == grid[0, 1] == 0.0004 and np.ma.is_masked(grid[0, 0])
        assert "Holm-adjusted p" in colorbar.get_ylabel()
    finally:
        static.close(fig)


def test_a_reference_near_the_replicates_widens_the_range_and_a_far_one_does_not():
    assert accuracy_range([0.88, 0.89], [0.86])[0] < 0.86
    assert accuracy_range([0.88, 0.89], [0.10])[0] > 0.8
    assert accuracy_range([math.nan], [])[0] < 0 < 1 < accuracy_range([math.nan], [])[1]


def plotly_data(html: str) -> list:
    rest = html[html.index("Plotly.newPlot(") + len("Plotly.newPlot(") :]
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(rest.lstrip())  # the element id
    data, _ = decoder.raw_decode(rest.lstrip()[end:].lstrip().removeprefix(",").lstrip())
    return data


def test_the_interactive_page_is_self_contained_and_hovers_mean_interval_n_and_seeds():
    values, means, intervals = figure_inputs()
    html = interactive.page(interval_figure.describe(values, means, intervals, UVA))
    assert 'src="https://cdn.plot.ly' not in html and len(html) > 1_000_000  # plotly.js inline
    assert all(name in html for name in VALUES)
    hovers = [trace.get("hovertemplate", "") for trace in plotly_data(html)]
    relu = next(h for h in hovers if h.startswith("<b>relu</b>"))
    assert "mean 88.70%" in relu and "95% CI [" in relu and "n = 3" in relu
    assert all(f"seed {seed}: " in relu for seed in VALUES["relu"])
    leaky = next(h for h in hovers if h.startswith("<b>leakyrelu</b>"))
    assert "no interval (fewer than 3 seeds)" in leaky and "n = 1" in leaky
    assert sum("UvA" in h for h in hovers) == 1


accuracies = st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False)


@settings(deadline=None, max_examples=5)
@given(st.lists(accuracies, min_size=0, max_size=4))
def test_the_static_figure_draws_any_number_of_seeds(seeds):
    """Each seed one point, where it lies, and the axis always spanning every one of them."""
    values = {"relu": dict(enumerate(seeds))}
    mean = float(np.mean(seeds)) if seeds else math.nan
    figure = to_matplotlib.figure(
        interval_figure.describe(values, {"relu": mean}, {"relu": (math.nan, math.nan)})
    )
    [ax] = figure.axes
    points = ax.collections[0].get_offsets()
    assert len(points) == len(seeds)
    assert sorted(np.asarray(points)[:, 1]) == pytest.approx(sorted(seeds))
    bottom, top = ax.get_ylim()
    assert all(bottom <= seed <= top for seed in seeds)
    static.close(figure)
