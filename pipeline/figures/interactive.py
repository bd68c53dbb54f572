"""Interactive figures (plotly): plain values in, one self-contained HTML page out.

The MLflow UI shows an `.html` artifact inline, in a sandboxed frame that may run scripts, so a
page that carries plotly.js itself (~4.8 MB) works offline, where a page loading it from a CDN
would stay blank. plotly is imported only when a figure is drawn.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.schema.vocabulary import Outcome
from pipeline.figures.groups import group_shapes

# Outcome of a trial -> its marker: filled when it completed, hollow where the pruner stopped it
# (the accuracy it had reached), an x at 0 where the loss stopped being finite.
SHAPES = ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "star")


def _symbol(shape: str, outcome: Outcome) -> str:
    """A point's plotly symbol: its group's shape, hollow where pruned, an x where diverged."""
    symbols = {Outcome.COMPLETE: shape, Outcome.PRUNED: f"{shape}-open", Outcome.DIVERGED: "x"}
    return symbols[outcome]


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
    """Best validation accuracy against a setting (lr on a log axis by default), one trace per
    activation, as `static.lr_response` draws it; `points[activation]` holds (value, best
    val_acc, outcome, group), a marker shape per group (the value of the categorical setting
    `by`). Hovering a point shows its activation, value, group, accuracy and outcome; clicking
    a legend entry hides it."""
    import plotly.graph_objects as go

    reference = seed_lr if reference is None else reference
    mode = "lines+markers" if lines and not categorical else "markers"
    shapes = group_shapes(points, SHAPES)
    figure = go.Figure()
    for activation, rows in points.items():
        rows = sorted(rows, key=lambda row: (str(row[0]) if categorical else row[0], row[1]))
        figure.add_trace(
            go.Scatter(
                x=[str(x) if categorical else x for x, _, _, _ in rows],
                y=[0.0 if outcome == Outcome.DIVERGED else value for _, value, outcome, _ in rows],
                mode=mode,
                name=activation,
                legendgroup=activation,
                marker={"symbol": [_symbol(shapes[g], o) for _, _, o, g in rows], "size": 9},
                customdata=[[str(o), f"<br>{by} {g}" if by else ""] for _, _, o, g in rows],
                hovertemplate=f"{activation}<br>{setting} %{{x{'' if categorical else ':g'}}}"
                "%{customdata[1]}<br>best val_acc %{y:.4f}"
                "<br>%{customdata[0]}<extra></extra>",
            )
        )
    if reference is not None:  # a trace, not a shape: placed in data units on the log axis
        figure.add_trace(_reference_line(reference))
    figure.update_layout(
        title=title, template="plotly_white", legend_title_text=_legend(by, shapes)
    )
    name = "learning rate" if setting == "lr" else setting.replace("_", " ")
    axis = {"type": "log"} if setting == "lr" else ({"type": "category"} if categorical else {})
    figure.update_xaxes(title_text=name, **axis)
    figure.update_yaxes(title_text="best validation accuracy", range=[-0.03, 1.0])
    return to_html(figure)


def _legend(by: str | None, shapes: Mapping[str, str]) -> str:
    groups = f"; a shape per {by}: " + ", ".join(f"{g} {v}" for g, v in shapes.items())
    return f"activation (● complete, ○ pruned, × diverged{groups if by else ''})"


def _reference_line(reference: float) -> Any:
    import plotly.graph_objects as go

    return go.Scatter(
        x=[reference, reference],
        y=[0, 1],
        mode="lines",
        line={"dash": "dot", "color": "grey"},
        name=f"seed's lr {reference:g}",
        hoverinfo="skip",
    )


def accuracy_intervals(
    values: Mapping[str, Mapping[int, float]],
    means: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float]],
    reference: Mapping[str, float] | None = None,
    title: str = "test accuracy over seeds: mean and 95% interval",
    reference_label: str = "UvA DL course (one run)",
) -> str:
    """The page of `static.accuracy_intervals`: per activation (the order of `means`) each seed's
    test accuracy as a dot, the mean with its 95% interval, and `reference` as a hollow diamond
    (at the edge, pointing out, where it lies far off). Hovering the mean shows it, the
    interval, n and every seed's value; hovering a dot shows its seed."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    from pipeline.figures.accuracy_range import accuracy_range

    reference = reference or {}
    names = list(means)
    shown = [v for name in names for v in (*values.get(name, {}).values(), *intervals[name])]
    bottom, top = accuracy_range([*shown, *means.values()], reference.values())
    figure = go.Figure()
    for index, name in enumerate(names):
        color = qualitative.Plotly[index % len(qualitative.Plotly)]
        seeds = dict(values.get(name, {}))
        offsets = [index - 0.25 + 0.2 * k / max(1, len(seeds) - 1) for k in range(len(seeds))]
        figure.add_trace(
            go.Scatter(
                x=offsets if len(seeds) > 1 else [index - 0.15] * len(seeds),
                y=list(seeds.values()),
                mode="markers",
                marker={"color": color, "size": 7, "opacity": 0.6},
                name=f"{name}: each seed",
                legendgroup=name,
                showlegend=False,
                customdata=list(seeds),
                hovertemplate=f"{name}<br>seed %{{customdata}}: %{{y:.2%}}<extra></extra>",
            )
        )
        figure.add_trace(_mean_trace(go, index, name, means[name], intervals[name], seeds, color))
    if reference:
        figure.add_trace(_reference_trace(go, names, reference, (bottom, top), reference_label))
    figure.update_layout(title=title, template="plotly_white")
    figure.update_xaxes(tickvals=list(range(len(names))), ticktext=names)
    figure.update_yaxes(title_text="test accuracy", tickformat=".1%", range=[bottom, top])
    return to_html(figure)


def _mean_trace(
    go: Any,
    index: int,
    name: str,
    mean: float,
    interval: tuple[float, float],
    seeds: Mapping[int, float],
    color: str,
) -> Any:
    """The mean of one activation with its 95% interval as an error bar (none where the report
    gives none: fewer than 3 seeds, or an interval that would leave [0, 1])."""
    low, high = interval
    has_interval = bool(low <= high)  # False where a bound is NaN
    why = "fewer than 3 seeds" if len(seeds) < 3 else "too wide"
    described = f"95% CI [{low:.2%}, {high:.2%}]" if has_interval else f"no interval ({why})"
    each = "<br>".join(f"seed {seed}: {value:.2%}" for seed, value in seeds.items())
    return go.Scatter(
        x=[index + 0.15],
        y=[mean],
        mode="markers",
        marker={"color": color, "size": 10},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [high - mean if has_interval else 0.0],
            "arrayminus": [mean - low if has_interval else 0.0],
            "visible": has_interval,
        },
        name=name,
        legendgroup=name,
        hovertemplate=f"<b>{name}</b><br>mean {mean:.2%}<br>{described}<br>n = {len(seeds)}"
        f"<br>{each}<extra></extra>",
    )


def _reference_trace(
    go: Any,
    names: Sequence[str],
    reference: Mapping[str, float],
    view: tuple[float, float],
    label: str,
) -> Any:
    """Hollow diamonds at each activation's reference value; one outside `view` sits at its
    edge as a triangle pointing where it lies. Hovering shows the true value."""
    bottom, top = view
    shown = [(i, reference[name]) for i, name in enumerate(names) if name in reference]
    return go.Scatter(
        x=[index + 0.35 for index, _ in shown],
        y=[min(max(value, bottom), top) for _, value in shown],
        mode="markers",
        marker={
            "symbol": [
                "triangle-down" if v < bottom else "triangle-up" if v > top else "diamond-open"
                for _, v in shown
            ],
            "color": "black",
            "size": 10,
        },
        name=label,
        customdata=[[names[i], value] for i, value in shown],
        hovertemplate=f"{label}<br>%{{customdata[0]}}: %{{customdata[1]:.2%}}<extra></extra>",
        cliponaxis=False,
    )
