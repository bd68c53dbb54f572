"""The accuracy intervals' description: per activation each seed's test accuracy, the mean with its
95% interval and a reference, drawn as a PNG (`to_matplotlib.figure`, and the verdict
figure's left panel) and a page (`interactive.page`)."""

import math
from collections.abc import Mapping, Sequence

from pipeline.figures.accuracy_range import accuracy_range
from pipeline.figures.spec import Axis, FigureSpec, KeyEntry, Marker, Note, Series

TITLE = "test accuracy over seeds: mean and 95% interval"
REFERENCE_LABEL = "UvA DL course (one run)"


def describe(
    values: Mapping[str, Mapping[int, float]],
    means: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float]],
    reference: Mapping[str, float] | None = None,
    title: str = TITLE,
    reference_label: str = REFERENCE_LABEL,
) -> FigureSpec:
    """One column per activation, in the order of `means`: each seed's test accuracy
    (`values[activation][seed]`) as a dot, the mean with its 95% interval (the mean alone where
    the interval is NaN) and `reference` as a hollow diamond; a reference far from the
    replicates sits at the axis edge as a triangle pointing where it lies, its value written."""
    reference = reference or {}
    names = list(means)
    shown = [v for name in names for v in (*values.get(name, {}).values(), *intervals[name])]
    bottom, top = accuracy_range([*shown, *means.values()], reference.values())
    series: list[Series] = []
    for index, name in enumerate(names):
        seeds = dict(values.get(name, {}))
        series.append(_seeds(index, name, seeds))
        series.append(_mean(index, name, means[name], intervals[name], seeds))
    marked = [(i, reference[n]) for i, n in enumerate(names) if n in reference]
    if marked:
        series.append(_references(marked, names, (bottom, top), reference_label))
    return FigureSpec(
        title=title,
        x=Axis(ticks=tuple((float(i), name) for i, name in enumerate(names))),
        y=Axis("test accuracy", limits=(bottom, top), percent=True, grid=True),
        series=tuple(series),
        key=(KeyEntry("each seed", Marker(), opacity=0.6),),
        notes=tuple(_off_scale(marked, (bottom, top))),
        legend_title="activation",
        size=(max(5.0, 1.2 * len(means) + 2.0), 4.5),
    )


def _seeds(index: int, name: str, seeds: Mapping[int, float]) -> Series:
    """A column's seeds side by side, left of its mean; hovering a dot shows its seed."""
    count = len(seeds)
    offsets = [-0.25 + 0.2 * k / (count - 1) for k in range(count)] if count > 1 else [-0.15]
    return Series(
        label=f"{name}: each seed",
        x=tuple(index + offset for offset in offsets[:count]),
        y=tuple(seeds.values()),
        colour=index,
        size=4.0,
        opacity=0.6,
        legend=False,
        group=name,
        hover=f"{name}<br>seed %{{customdata}}: %{{y:.2%}}<extra></extra>",
        hover_data=tuple(seeds),
    )


def _mean(
    index: int, name: str, mean: float, interval: tuple[float, float], seeds: Mapping[int, float]
) -> Series:
    """The mean with its 95% interval (none where the report gives none: fewer than 3 seeds,
    or an interval that would leave [0, 1]); hovering it shows the interval, n and each seed."""
    low, high = interval
    has_interval = bool(low <= high)  # False where a bound is NaN
    why = "fewer than 3 seeds" if len(seeds) < 3 else "too wide"
    described = f"95% CI [{low:.2%}, {high:.2%}]" if has_interval else f"no interval ({why})"
    each = "<br>".join(f"seed {seed}: {value:.2%}" for seed, value in seeds.items())
    return Series(
        label=name,
        x=(index + 0.15,),
        y=(mean,),
        kind="interval",
        colour=index,
        errors=((low, high) if has_interval else (math.nan, math.nan),),
        hover=f"<b>{name}</b><br>mean {mean:.2%}<br>{described}<br>n = {len(seeds)}"
        f"<br>{each}<extra></extra>",
    )


def _references(
    marked: Sequence[tuple[int, float]],
    names: Sequence[str],
    view: tuple[float, float],
    label: str,
) -> Series:
    """Hollow diamonds at each activation's reference value; one outside `view` at its edge as
    a triangle pointing where it lies. Hovering shows the true value."""
    bottom, top = view
    return Series(
        label=label,
        x=tuple(index + 0.35 for index, _ in marked),
        y=tuple(min(max(value, bottom), top) for _, value in marked),
        colour="black",
        marker=Marker("diamond", filled=False),
        marks=tuple(_reference_marker(value, view) for _, value in marked),
        clip=False,
        hover=f"{label}<br>%{{customdata[0]}}: %{{customdata[1]:.2%}}<extra></extra>",
        hover_data=tuple([names[index], value] for index, value in marked),
    )


def _reference_marker(value: float, view: tuple[float, float]) -> Marker:
    bottom, top = view
    if value < bottom:
        return Marker("triangle-down")
    return Marker("triangle-up") if value > top else Marker("diamond", filled=False)


def _off_scale(marked: Sequence[tuple[int, float]], view: tuple[float, float]) -> list[Note]:
    """The value of each reference drawn at the edge, written beside it."""
    bottom, top = view
    return [
        Note(index + 0.35, min(max(value, bottom), top), f"{100 * value:.2f}% (off scale)")
        for index, value in marked
        if not bottom <= value <= top
    ]
