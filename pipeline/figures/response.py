"""The response figure's description: best validation accuracy against a setting, one colour per
activation, drawn as a PNG (`to_matplotlib.figure`) and a page (`interactive.page`)."""

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.schema.vocabulary import Outcome
from pipeline.figures.spec import (
    SHAPES,
    Axis,
    FigureSpec,
    KeyEntry,
    Marker,
    Scale,
    Series,
    VerticalLine,
)

Row = tuple[float | str, float, Outcome, str]  # (value, best val_acc, outcome, group)


def group_shapes(points: Mapping[str, Sequence[tuple[Any, ...]]]) -> dict[str, str]:
    """Each group the points hold (their 4th field), in sorted order, with its shape."""
    groups = sorted({row[3] for rows in points.values() for row in rows})
    return {group: SHAPES[index % len(SHAPES)] for index, group in enumerate(groups)}


def describe(
    points: Mapping[str, Sequence[Row]],
    title: str,
    seed_lr: float | None = None,
    setting: str = "lr",
    categorical: bool = False,
    lines: bool = True,
    reference: float | None = None,
    by: str | None = None,
) -> FigureSpec:
    """Best validation accuracy against a setting (lr on a log axis, a categorical setting's
    values as categories), one colour per activation: a line through its trained points where
    `lines` (points alone where other settings vary too), each point filled where it completed,
    hollow where pruned (the accuracy it had reached), an x at 0 where it diverged; a marker
    shape per group (the value of the categorical setting `by`)."""
    reference = seed_lr if reference is None else reference
    shapes = group_shapes(points)
    series: list[Series] = []
    for index, (activation, rows) in enumerate(points.items()):
        rows = sorted(rows, key=lambda row: (str(row[0]) if categorical else row[0], row[1]))
        rows = [(str(x) if categorical else x, v, o, g) for x, v, o, g in rows]
        trained = [row for row in rows if row[2] != Outcome.DIVERGED]
        diverged = [(x, 0.0, o, g) for x, _, o, g in rows if o == Outcome.DIVERGED]
        hover = _hover(activation, setting, categorical)
        curve = _curve(activation, index, trained, shapes, by, hover)
        series.append(Series(**curve, joined=lines and not categorical))
        if diverged:
            curve = _curve(activation, index, diverged, shapes, by, hover)
            series.append(Series(**curve, size=8.0, legend=False))
    name = "learning rate" if setting == "lr" else setting.replace("_", " ")
    scale: Scale = "log" if setting == "lr" else ("category" if categorical else "linear")
    return FigureSpec(
        title=title,
        x=Axis(name, scale=scale, grid=True),
        y=Axis("best validation accuracy", limits=(-0.03, 1.0), grid=True),
        series=tuple(series),
        vertical_lines=() if reference is None else (VerticalLine(reference, _seed(reference)),),
        key=_key(shapes, by),
        legend_title="activation",
        legend_corner="lower left",
    )


def _seed(reference: float) -> str:
    return f"seed's lr {reference:g}"


def _curve(
    activation: str,
    index: int,
    rows: Sequence[Row],
    shapes: Mapping[str, str],
    by: str | None,
    hover: str,
) -> dict[str, Any]:
    """One activation's points of one kind, each with its marker and its hover data."""
    return {
        "label": activation,
        "x": tuple(x for x, _, _, _ in rows),
        "y": tuple(v for _, v, _, _ in rows),
        "kind": "curve",
        "colour": index,
        "marks": tuple(_marker(shapes[g], o) for _, _, o, g in rows),
        "hover": hover,
        "hover_data": tuple([str(o), f"<br>{by} {g}" if by else ""] for _, _, o, g in rows),
    }


def _marker(shape: str, outcome: Outcome) -> Marker:
    """A point's marker: its group's shape, hollow where pruned, an x where diverged."""
    if outcome == Outcome.DIVERGED:
        return Marker("x")
    return Marker(shape, filled=outcome == Outcome.COMPLETE)


def _hover(activation: str, setting: str, categorical: bool) -> str:
    """Hovering a point shows its activation, value, group, accuracy and outcome."""
    return (
        f"{activation}<br>{setting} %{{x{'' if categorical else ':g'}}}"
        "%{customdata[1]}<br>best val_acc %{y:.4f}<br>%{customdata[0]}<extra></extra>"
    )


def _key(shapes: Mapping[str, str], by: str | None) -> tuple[KeyEntry, ...]:
    groups = [KeyEntry(f"{by} {g}", Marker(shape)) for g, shape in shapes.items()] if by else []
    return (
        *groups,
        KeyEntry("pruned (accuracy reached)", Marker("circle", filled=False)),
        KeyEntry(str(Outcome.DIVERGED), Marker("x")),
    )
