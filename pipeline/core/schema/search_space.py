"""A sweep's search space: which training settings it varies, and how.

In a sweep file a training key given as a list is a dimension (`batch_size: [32, 64]`), given as
`{low, high, log}` a range, and given as a scalar a fixed value (`hidden_sizes` is a list
already: a list of lists is its dimension). `lr` keeps its meaning: a list is the grid's
learning rates, `{low, high}` a log-spaced range. With `sampler: grid` (the default) a range
becomes `trials_per_activation` evenly spaced points (log-spaced where `log` is true, as for lr),
and the grid is the product of every dimension; another sampler draws `trials_per_activation`
points per activation from the space. Plain values in, plain values out: no Optuna here.
"""

import itertools
import math
from typing import Any

from pydantic import StrictBool

from pipeline.core.process.errors import UsageError
from pipeline.core.schema import limits
from pipeline.core.schema.config import TrainConfig, unused_settings
from pipeline.core.schema.fields import Config, lrs_check, shown
from pipeline.core.schema.vocabulary import GRID_SAMPLER

# The training keys a sweep may vary, in the order their columns and figures appear.
SWEEPABLE = (
    "lr",
    "optimizer",
    "momentum",
    "nesterov",
    "weight_decay",
    "batch_size",
    "init",
    "hidden_sizes",
    "precision",
    "seed",
)
CATEGORICAL = (
    "optimizer",
    "nesterov",
    "init",
    "hidden_sizes",
    "precision",
)  # no range: a list of choices
INTEGER = ("batch_size", "seed")
DEFAULT_LR_RANGE = {"low": 1e-4, "high": 0.3}
DEFAULT_TRIALS = 4


class Dimension(Config):
    """One swept setting: a list of values, or a range low..high (log-scaled or linear)."""

    key: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: StrictBool = False

    @property
    def is_range(self) -> bool:
        return self.values is None

    @property
    def listed(self) -> tuple[Any, ...]:
        """A list's values (a range has none until `gridded` makes it a list)."""
        if self.values is None:
            raise TypeError(f"{self.key} is a range, not a list of values")
        return self.values

    @property
    def bounds(self) -> tuple[float, float]:
        """A range's low and high."""
        if self.low is None or self.high is None:
            raise TypeError(f"{self.key} is a list of values, not a range")
        return self.low, self.high

    def contains(self, value: Any) -> bool:
        if self.values is not None:
            return value in self.values
        return bool(self.low <= value <= self.high)

    def describe(self) -> str:
        """`lr 1e-4..0.3 (log)`, `batch_size [32, 64]`: for tags and descriptions."""
        if self.values is not None:
            return f"{self.key} {[param_text(self.key, v) for v in self.values]}"
        scale = " (log)" if self.log else ""
        return f"{self.key} {self.low:g}..{self.high:g}{scale}"


def param_text(key: str, value: Any) -> Any:
    """A setting as Optuna holds it: hidden sizes as "512,256", the rest as they are."""
    if key == "hidden_sizes" and not isinstance(value, str):
        return ",".join(map(str, value))
    return value


def setting_value(key: str, value: Any) -> Any:
    """A setting as a training config takes it (the inverse of `param_text`)."""
    if key == "hidden_sizes" and isinstance(value, str):
        return tuple(int(part) for part in value.split(","))
    if key in INTEGER:
        return int(value)
    return value


def point_key(point: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A point's identity: its settings as Optuna holds them, in key order."""
    return tuple(sorted((key, param_text(key, value)) for key, value in point.items()))


def spaced(key: str, low: float, high: float, count: int, log: bool) -> tuple[Any, ...]:
    """`count` values from low to high, log- or linearly spaced, 3 significant digits (integers
    rounded); computed in logs, so a range such as 1e-300 ... 1e300 does not overflow."""
    if log:
        start, end = math.log(low), math.log(high)
        values = [math.exp(start + (end - start) * i / max(count - 1, 1)) for i in range(count)]
        if count == 1:
            values = [math.exp((start + end) / 2)]
    else:
        values = [low + (high - low) * i / max(count - 1, 1) for i in range(count)]
        if count == 1:
            values = [(low + high) / 2]
    if key in INTEGER:
        return tuple(round(v) for v in values)
    return tuple(float(f"{v:.3g}") for v in values)


def checked(key: str, value: Any, where: str = "") -> Any:
    """One value of a setting, checked as the training config checks it (its one-line message,
    the key named as `lr.low`, `batch_size[1]` where the value sits inside a list or range)."""
    try:
        return getattr(TrainConfig(**{key: value}), key)
    except UsageError as error:
        text = str(error)
        if where and text.startswith(f"{key} "):
            text = f"{key}{where}{text[len(key) :]}"
        raise UsageError(text) from None


def _list_dimension(key: str, value: list[Any]) -> Dimension:
    if not value:
        raise UsageError(f"{key} must be a value or a non-empty list of values, got []")
    found = tuple(checked(key, item, f"[{index}]") for index, item in enumerate(value))
    if key == "lr":
        lrs_check(found)
    for index, item in enumerate(found):
        if item in found[:index]:
            raise UsageError(
                f"{key} lists {shown(param_text(key, item))} twice: {shown(value)}; "
                "give each value once"
            )
    return Dimension(key=key, values=found)


def _range_dimension(key: str, value: dict[str, Any]) -> Dimension:
    if key in CATEGORICAL:
        raise UsageError(
            f"{key} must be one value or a list of them; a range {{low, high}} is for numbers, "
            f"got {shown(value)}"
        )
    if not {"low", "high"} <= set(value) <= {"low", "high", "log"}:
        raise UsageError(
            f"{key} range must be {{low: ..., high: ...}} with an optional log: true/false, "
            f"got {shown(value)}"
        )
    low, high = (checked(key, value[end], f".{end}") for end in ("low", "high"))
    log = value.get("log", key == "lr")
    if not isinstance(log, bool):
        raise UsageError(f"{key}.log must be true or false, got {shown(log)}")
    if low >= high:
        raise UsageError(
            f"{key} range is reversed or empty: low {low} >= high {high}; low must be below high"
        )
    if log and low <= 0:
        raise UsageError(f"{key} range with log: true must have low > 0, got low {low}")
    return Dimension(key=key, low=low, high=high, log=log)


def dimension_of(key: str, value: Any) -> Dimension | None:
    """The dimension a sweep file's value makes, or None for a fixed value."""
    if key == "hidden_sizes":
        if isinstance(value, list) and value and any(isinstance(v, list) for v in value):
            if not all(isinstance(v, list) for v in value):
                raise UsageError(
                    "hidden_sizes must be a list of positive integers (fixed) or a list of such "
                    f"lists (a dimension), got {shown(value)}"
                )
            return _list_dimension(key, value)
        return None
    if isinstance(value, list):
        return _list_dimension(key, value)
    if isinstance(value, dict):
        return _range_dimension(key, value)
    return None


def gridded(dimension: Dimension, count: int) -> Dimension:
    """A range as `count` evenly spaced values (the grid's form of it); a list as it is."""
    if not dimension.is_range:
        return dimension
    key, (low, high) = dimension.key, dimension.bounds
    values = spaced(key, low, high, count, dimension.log)
    if len(set(values)) < len(values):
        what = "learning rates" if key == "lr" else "values"
        raise UsageError(
            f"{key} range low {low:g} ... high {high:g} holds fewer than {count} {what} at 3 "
            f"significant digits (it gives {shown(list(values))}); use a wider range or fewer "
            "trials_per_activation"
        )
    return Dimension(key=key, values=values)


def grid_size(dimensions: tuple[Dimension, ...]) -> int:
    return math.prod(len(d.listed) for d in dimensions)


def applicable(point: dict[str, Any], optimizer: str) -> dict[str, Any]:
    """The point without the settings its optimizer does not have (momentum and Nesterov of an
    Adam point); `optimizer` is the sweep's where the point names none."""
    unused = unused_settings(point.get("optimizer", optimizer))
    return {key: value for key, value in point.items() if key not in unused}


def collapsed(points: list[dict[str, Any]], optimizer: str) -> list[dict[str, Any]]:
    """Grid points as trials train them: each without the settings its optimizer does not
    have, those that then coincide once, in grid order."""
    kept: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
    for point in points:
        point = applicable(point, optimizer)
        kept.setdefault(point_key(point), point)
    return list(kept.values())


def grid_points(dimensions: tuple[Dimension, ...]) -> list[dict[str, Any]]:
    """Every combination of the dimensions' values (all lists), the first dimension slowest."""
    keys = [d.key for d in dimensions]
    combos = itertools.product(*(d.listed for d in dimensions))
    return [dict(zip(keys, combo, strict=True)) for combo in combos]


def check_grid(train: TrainConfig, dimensions: tuple[Dimension, ...]) -> None:
    """Every point of a grid is a config a run can take (Nesterov without momentum and models
    too large for memory refused here, not in a trial), and there are not too many."""
    size = grid_size(dimensions)
    if size > limits.MAX_LRS:
        shape = " x ".join(f"{len(d.listed)} {d.key}" for d in dimensions)
        raise UsageError(
            f"the grid holds {size:,} points per activation ({shape}), over {limits.MAX_LRS}; "
            "use fewer values, or a sampler (random, tpe, gp) with trials_per_activation"
        )
    for point in grid_points(dimensions):
        train.replace(**point)


def finite_size(dimensions: tuple[Dimension, ...]) -> int | None:
    """How many points the space holds (None: a range makes it unbounded)."""
    if any(d.is_range for d in dimensions):
        return None
    return grid_size(dimensions)


LR_FORMS = "a positive finite number, a non-empty list of them or a range {low: ..., high: ...}"


def space_from(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sweep file's training keys split into the fixed values and the space: the SweepConfig
    fields `lrs`, `lr_space` and `space` (a key written without a value is a mistake, not the
    default). In a grid, each range becomes trials_per_activation values."""
    sampler = values.get("sampler", GRID_SAMPLER)
    count = values.get("trials_per_activation", DEFAULT_TRIALS)
    lr = values.get("lr", DEFAULT_LR_RANGE)
    if "lr" in values and (lr is None or lr == [] or lr == {}):
        raise UsageError(f"lr must be {LR_FORMS}, got {shown(lr)}")
    fixed = {k: v for k, v in values.items() if k != "lr"}
    dimensions = {}
    for key in SWEEPABLE:
        if key in values or key == "lr":
            dimension = dimension_of(key, lr if key == "lr" else values[key])
            if dimension is None:
                fixed[key] = lr if key == "lr" else values[key]
            else:
                fixed.pop(key, None)
                dimensions[key] = dimension
    check_count(values, sampler, dimensions)
    if sampler == GRID_SAMPLER and type(count) is int and 1 <= count <= limits.MAX_LRS:
        dimensions = {k: gridded(d, count) for k, d in dimensions.items()}
    space: dict[str, Any] = {"space": tuple(d for k, d in dimensions.items() if k != "lr")}
    lr_dimension = dimensions.get("lr")
    if lr_dimension is None:
        space["lrs"] = (checked("lr", fixed["lr"]),)
    elif lr_dimension.is_range:
        space.update(lrs=(), lr_space=lr_dimension)
    else:
        space["lrs"] = lr_dimension.values
    return fixed, space


def check_count(values: dict[str, Any], sampler: str, dimensions: dict[str, Dimension]) -> None:
    """trials_per_activation says how many points a range gives in a grid, or how many trials
    a sampler draws; with lists alone in a grid it would mean nothing."""
    if "trials_per_activation" not in values or sampler != GRID_SAMPLER:
        return
    if not any(d.is_range for d in dimensions.values()):
        raise UsageError(
            "trials_per_activation goes with a range {low, high} or a sampler (random, tpe, gp); "
            "with lists each activation gets one trial per grid point"
        )


def lr_grid(low: float, high: float, count: int) -> tuple[float, ...]:
    """`count` learning rates spaced evenly in log scale from low to high, 3 significant digits.
    Computed in logs: high / low overflows for a range such as 1e-300 ... 1e300."""
    start, end = math.log(low), math.log(high)
    if count == 1:
        return (float(f"{math.exp((start + end) / 2):.3g}"),)
    step = (end - start) / (count - 1)
    return tuple(float(f"{math.exp(start + step * i):.3g}") for i in range(count))
