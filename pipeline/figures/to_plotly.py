"""A figure's description (`spec.FigureSpec`) drawn with plotly: the interactive form. Each series
is one trace named by its label; points of one label are one legend group. plotly is imported
only when a figure is drawn, and matplotlib never."""

import math
from typing import Any

from pipeline.figures.spec import Axis, Colour, FigureSpec, KeyEntry, Marker, Series


def figure(spec: FigureSpec) -> Any:
    """The description as a plotly figure."""
    import plotly.graph_objects as go

    drawn = go.Figure()
    for series in spec.series:
        drawn.add_trace(go.Scatter(**_trace(series)))
    for line in spec.vertical_lines:  # a trace, not a shape: placed in data units on a log axis
        drawn.add_trace(
            go.Scatter(
                x=[line.x, line.x],
                y=[0, 1],
                mode="lines",
                line={"dash": "dot", "color": "grey"},
                name=line.label,
                hoverinfo="skip",
            )
        )
    drawn.update_layout(title=spec.title, template="plotly_white")
    if spec.key:
        drawn.update_layout(legend_title_text=_legend_title(spec.legend_title, spec.key))
    for note in spec.notes:
        drawn.add_annotation(
            x=note.x, y=note.y, text=note.text, showarrow=False, xanchor="left", xshift=4
        )
    drawn.update_xaxes(**_axis(spec.x))
    drawn.update_yaxes(**_axis(spec.y))
    return drawn


def colour(value: Colour) -> str:
    from plotly.colors import qualitative

    if isinstance(value, int):
        return str(qualitative.Plotly[value % len(qualitative.Plotly)])
    return value


def symbol(marker: Marker) -> str:
    """plotly's symbol for a marker: its shape, "-open" where hollow."""
    return marker.shape if marker.filled or marker.shape == "x" else f"{marker.shape}-open"


def _trace(series: Series) -> dict[str, Any]:
    """A series as one Scatter trace's properties."""
    marker: dict[str, Any] = {"color": colour(series.colour), "size": round(1.5 * series.size)}
    each = series.kind == "curve" or bool(series.marks)  # a symbol per point
    marker["symbol"] = [symbol(m) for m in series.markers()] if each else symbol(series.marker)
    if series.opacity < 1:
        marker["opacity"] = series.opacity
    trace: dict[str, Any] = {
        "x": list(series.x),
        "y": list(series.y),
        "mode": "lines+markers" if series.joined else "markers",
        "name": series.label,
        "legendgroup": series.group or series.label,
        "showlegend": series.legend,
        "marker": marker,
        "cliponaxis": series.clip,
    }
    if series.hover:
        trace["hovertemplate"] = series.hover
    if series.hover_data:
        trace["customdata"] = list(series.hover_data)
    if series.kind == "interval":
        trace["error_y"] = _error_bars(series)
    return trace


def _error_bars(series: Series) -> dict[str, Any]:
    """Each point's interval as an asymmetric error bar; hidden where every bound is NaN."""
    bounds = [(y, low, high) for y, (low, high) in zip(series.y, series.errors, strict=True)]
    return {
        "type": "data",
        "symmetric": False,
        "array": [0.0 if math.isnan(high) else high - y for y, _, high in bounds],
        "arrayminus": [0.0 if math.isnan(low) else y - low for y, low, _ in bounds],
        "visible": any(not math.isnan(low) and not math.isnan(high) for _, low, high in bounds),
    }


def _legend_title(heading: str, key: tuple[KeyEntry, ...]) -> str:
    """The legend's heading, then what each marker of the key means (plotly draws no legend
    entry without a trace)."""
    text = ", ".join(f"{entry.label} {symbol(entry.marker)}" for entry in key)
    return f"{heading} ({text})" if heading else text


def _axis(axis: Axis) -> dict[str, Any]:
    """An axis's title, type, range, ticks and format."""
    found: dict[str, Any] = {"title_text": axis.label} if axis.label else {}
    if axis.scale != "linear":
        found["type"] = axis.scale
    if axis.limits is not None:
        found["range"] = list(axis.limits)
    if axis.ticks:
        found["tickvals"] = [position for position, _ in axis.ticks]
        found["ticktext"] = [text for _, text in axis.ticks]
    if axis.percent:
        found["tickformat"] = ".1%"
    return found
