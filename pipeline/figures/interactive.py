"""Interactive figures (plotly): plain values in, one self-contained HTML page out.

The MLflow UI shows an `.html` artifact inline, in a sandboxed frame that may run scripts, so a
page that carries plotly.js itself (~4.8 MB) works offline, where a page loading it from a CDN
would stay blank. plotly is imported only when a figure is drawn.
"""

from collections.abc import Mapping, Sequence

# Outcome of a trial -> its marker: filled when it completed, hollow where the pruner stopped it
# (the accuracy it had reached), an x at 0 where the loss stopped being finite.
_MARKERS = {"complete": "circle", "pruned": "circle-open", "diverged": "x"}


def to_html(figure) -> str:
    """A plotly figure as a page that needs nothing from the network."""
    return figure.to_html(include_plotlyjs=True, full_html=True, config={"responsive": True})


def lr_response(
    points: Mapping[str, Sequence[tuple[float, float, str]]],
    title: str,
    seed_lr: float | None = None,
) -> str:
    """Best validation accuracy against learning rate on a log axis, one line per activation;
    `points[activation]` holds (lr, best val_acc, outcome) as for `plots.lr_response`. Hovering
    a point shows its activation, lr, accuracy and outcome; clicking a legend entry hides it."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for activation, rows in points.items():
        rows = sorted(rows)
        figure.add_trace(
            go.Scatter(
                x=[lr for lr, _, _ in rows],
                y=[0.0 if outcome == "diverged" else value for _, value, outcome in rows],
                mode="lines+markers",
                name=activation,
                legendgroup=activation,
                marker={"symbol": [_MARKERS[outcome] for _, _, outcome in rows], "size": 9},
                customdata=[outcome for _, _, outcome in rows],
                hovertemplate=f"{activation}<br>lr %{{x:g}}<br>best val_acc %{{y:.4f}}"
                "<br>%{customdata}<extra></extra>",
            )
        )
    if seed_lr is not None:  # a trace, not a shape: placed in data units on the log axis
        figure.add_trace(
            go.Scatter(
                x=[seed_lr, seed_lr],
                y=[0, 1],
                mode="lines",
                line={"dash": "dot", "color": "grey"},
                name=f"seed's lr {seed_lr:g}",
                hoverinfo="skip",
            )
        )
    figure.update_layout(
        title=title,
        template="plotly_white",
        legend_title_text="activation (● complete, ○ pruned, × diverged)",
    )
    figure.update_xaxes(type="log", title_text="learning rate")
    figure.update_yaxes(title_text="best validation accuracy", range=[-0.03, 1.0])
    return to_html(figure)
