"""The response figures tell a swept categorical setting apart: one marker shape per value
(the optimizer, say), hollow where pruned, in the PNG and in the interactive page alike."""

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.figures import interactive, response, static, to_matplotlib
from tests.conftest import plotly_data

OUTCOMES = st.sampled_from(["complete", "pruned", "diverged"])
rows = st.lists(
    st.tuples(
        st.sampled_from([0.001, 0.01, 0.1]),
        st.floats(0.1, 0.9),
        OUTCOMES,
        st.sampled_from(["sgd", "adam", "adamw"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=15, deadline=None)
@given(points=st.dictionaries(st.sampled_from(["relu", "tanh"]), rows, min_size=1))
def test_each_optimizer_has_its_marker_and_each_outcome_its_fill(points):
    groups = sorted({row[3] for found in points.values() for row in found})
    figure = to_matplotlib.figure(
        response.describe(points, "t", setting="lr", lines=False, by="optimizer")
    )
    ax = figure.axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert [f"optimizer {g}" for g in groups] == [x for x in labels if x.startswith("optimizer")]
    shape = {g: static.GROUP_MARKERS[i] for i, g in enumerate(groups)}
    drawn = [line for line in ax.get_lines() if len(line.get_xdata()) == 1]
    expected = sorted(
        ("x" if o == "diverged" else shape[g], o == "pruned")
        for found in points.values()
        for _, _, o, g in found
    )
    seen = sorted((line.get_marker(), line.get_markerfacecolor() == "none") for line in drawn)
    assert seen == expected
    static.close(figure)

    data, layout = plotly_data(interactive.page(response.describe(points, "t", by="optimizer")))
    symbols = sorted(
        s for trace in data if trace["name"] in points for s in trace["marker"]["symbol"]
    )
    names = {g: interactive.SHAPES[i] for i, g in enumerate(groups)}
    want = {"complete": "{}", "pruned": "{}-open"}
    assert symbols == sorted(
        "x" if o == "diverged" else want[o].format(names[g])
        for found in points.values()
        for _, _, o, g in found
    )
    assert all(f"{g} {names[g]}" in layout["legend"]["title"]["text"] for g in groups)


def test_the_interactive_figures_load_without_matplotlib():
    """The pages are plotly's alone: the marker shapes both draw come from a module of their
    own, so a process that only writes pages never imports matplotlib."""
    import subprocess
    import sys

    code = "import sys, pipeline.figures.interactive; print('matplotlib' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.stdout.strip() == "False", found.stderr


@given(
    st.dictionaries(
        st.sampled_from(["relu", "tanh"]),
        st.lists(
            st.tuples(
                st.sampled_from([100.0, 1e4, 1e5]),
                st.floats(0, 1, allow_subnormal=False),
                st.booleans(),
            )
        ),
        max_size=2,
    )
)
@settings(max_examples=15, deadline=None)
def test_the_pareto_figure_keeps_its_front_in_view(points):
    """Every front member inside the axis, whatever lies far below it (a trial at chance)."""
    from pipeline.figures.pareto import pareto_front

    figure = pareto_front(points, ("val_acc", "parameters"), "t")
    low, high = figure.axes[0].get_ylim()
    front = [y for rows in points.values() for _, y, on in rows if on]
    assert all(low <= y <= high for y in front)
    static.close(figure)
