"""Typed configs for training runs and sweeps, validated on construction.

Every check names the key, says what is allowed and shows what it got, in one line, so the CLI
and YAML files report bad input the same way (a UsageError, exit code 2).
"""

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.activations import NAMES, SEED_ACTIVATIONS, get_activation
from pipeline.errors import UsageError
from pipeline.model import DEFAULT_HIDDEN_SIZES

DEFAULT_EXPERIMENT = "activation-study"
DEVICES = ("auto", "cpu", "cuda")
PRUNERS = ("median", "none")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# --- value checks -------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_positive_number(key: str, value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{key} must be a positive finite number, got {value!r}")
    return float(value)


def check_fraction(key: str, value: Any, *, open_low: bool = True) -> float:
    ok = _is_number(value) and math.isfinite(value) and value < 1
    ok = ok and (value > 0 if open_low else value >= 0)
    if not ok:
        bound = "0 < x < 1" if open_low else "0 <= x < 1"
        raise UsageError(f"{key} must be a number with {bound}, got {value!r}")
    return float(value)


def check_int_at_least(key: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UsageError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def check_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UsageError(f"{key} must be one of: {', '.join(choices)}; got {value!r}")
    return value


def check_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        raise UsageError(f"{key} must be a name of letters, digits, '_', '.' or '-', got {value!r}")
    return value


def check_hidden_sizes(value: Any) -> tuple[int, ...]:
    sizes = tuple(value) if isinstance(value, list | tuple) else None
    if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise UsageError(
            f"hidden_sizes must be a non-empty list of positive integers, got {value!r}"
        )
    if min(sizes) < 1:
        raise UsageError(f"hidden_sizes must all be positive integers, got {list(sizes)}")
    return sizes


# --- CLI strings -> values (the CLI parses; the dataclasses check) -----------------------


def parse_number(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{key} must be a number, got {text!r}") from None


def parse_int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{key} must be an integer, got {text!r}") from None


def parse_hidden_sizes(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise UsageError(f"hidden_sizes must be a comma-separated list like 512,256, got {text!r}")
    return tuple(parse_int("hidden_sizes", part) for part in parts)


def format_lr(lr: float) -> str:
    """Learning rate as it appears in run names: 0.001, 0.0003, 0.1."""
    return f"{lr:g}"


# --- training -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the seed's: SGD lr 1e-3, momentum 0.9, batch 64, 13 epochs."""

    activation: str = "relu"
    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 64
    max_epochs: int = 13
    # The seed declares patience 7 but stops at the first epoch without improvement.
    patience: int = 3
    hidden_sizes: tuple[int, ...] = DEFAULT_HIDDEN_SIZES
    seed: int = 42
    device: str = "auto"
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        get_activation(self.activation)
        object.__setattr__(self, "lr", check_positive_number("lr", self.lr))
        object.__setattr__(
            self, "momentum", check_fraction("momentum", self.momentum, open_low=False)
        )
        check_int_at_least("batch_size", self.batch_size, 1)
        check_int_at_least("max_epochs", self.max_epochs, 1)
        check_int_at_least("patience", self.patience, 1)
        object.__setattr__(self, "hidden_sizes", check_hidden_sizes(self.hidden_sizes))
        check_int_at_least("seed", self.seed, 0)
        check_choice("device", self.device, DEVICES)
        object.__setattr__(self, "val_fraction", check_fraction("val_fraction", self.val_fraction))

    @property
    def run_name(self) -> str:
        return f"train-{self.activation}-lr{format_lr(self.lr)}"

    def params(self) -> dict[str, str]:
        """The MLflow params of a run with this config (string values, one name for one thing)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["hidden_sizes"] = ",".join(map(str, self.hidden_sizes))
        return {key: str(value) for key, value in values.items()}


# --- sweeps -------------------------------------------------------------------------------

# Keys of a sweep file that fix the training runs of every trial.
_TRAIN_KEYS = (
    "max_epochs",
    "patience",
    "batch_size",
    "momentum",
    "hidden_sizes",
    "seed",
    "device",
    "val_fraction",
)


def lr_grid(low: float, high: float, count: int) -> tuple[float, ...]:
    """`count` learning rates spaced evenly in log scale from low to high, 3 significant digits."""
    if count == 1:
        return (float(f"{math.sqrt(low * high):.3g}"),)
    ratio = (high / low) ** (1 / (count - 1))
    return tuple(float(f"{low * ratio**i:.3g}") for i in range(count))


@dataclass(frozen=True)
class SweepConfig:
    """A grid of activations x learning rates, every activation getting the same learning rates."""

    study: str = "activations"
    experiment: str = DEFAULT_EXPERIMENT
    activations: tuple[str, ...] = SEED_ACTIVATIONS
    lrs: tuple[float, ...] = lr_grid(1e-4, 0.3, 4)
    pruner: str = "median"
    pruner_warmup_epochs: int = 3
    # Trials at this lr are never pruned: the seed's table (all at lr 1e-3) is reproduced in full.
    reference_lr: float | None = 1e-3
    workers: int = 1
    storage: str | None = None
    heartbeat_interval: int = 10
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_name("study", self.study)
        check_name("experiment", self.experiment)
        if not isinstance(self.activations, tuple | list) or not self.activations:
            raise UsageError(f"activations must be a non-empty list of: {', '.join(NAMES)}")
        for name in self.activations:
            get_activation(name)
        if len(set(self.activations)) != len(self.activations):
            raise UsageError(f"activations lists a name twice: {list(self.activations)}")
        object.__setattr__(self, "activations", tuple(self.activations))
        if not self.lrs:
            raise UsageError("lr must give at least one learning rate")
        object.__setattr__(self, "lrs", tuple(check_positive_number("lr", v) for v in self.lrs))
        check_choice("pruner", self.pruner, PRUNERS)
        check_int_at_least("pruner_warmup_epochs", self.pruner_warmup_epochs, 0)
        if self.reference_lr is not None:
            object.__setattr__(
                self, "reference_lr", check_positive_number("reference_lr", self.reference_lr)
            )
        check_int_at_least("workers", self.workers, 1)
        if self.storage is not None and not isinstance(self.storage, str):
            raise UsageError(f"storage must be a URL string, got {self.storage!r}")
        check_int_at_least("heartbeat_interval", self.heartbeat_interval, 1)

    @property
    def grid(self) -> list[tuple[str, float]]:
        """Every (activation, lr) point of the sweep, activation-major."""
        return [(activation, lr) for activation in self.activations for lr in self.lrs]

    def train_config(self, activation: str, lr: float, seed: int | None = None) -> TrainConfig:
        seed = self.train.seed if seed is None else seed
        return replace(self.train, activation=activation, lr=lr, seed=seed)

    @classmethod
    def from_mapping(cls, values: Any, source: str = "sweep config") -> "SweepConfig":
        if not isinstance(values, dict):
            raise UsageError(f"{source} must be a YAML mapping of keys to values")
        known = {f.name for f in fields(cls)} - {"train", "lrs"}
        allowed = sorted(known | set(_TRAIN_KEYS) | {"lr", "trials_per_activation"})
        for key in values:
            if key not in allowed:
                raise UsageError(
                    f"{source}: unknown key {key!r}; allowed keys: {', '.join(allowed)}"
                )
        sweep_values = {k: v for k, v in values.items() if k in known}
        for key in ("activations",):
            if key in sweep_values and not isinstance(sweep_values[key], list | tuple):
                raise UsageError(f"{source}: {key} must be a list, got {sweep_values[key]!r}")
        for key in ("study", "experiment", "pruner"):
            if key in sweep_values and not isinstance(sweep_values[key], str):
                raise UsageError(f"{source}: {key} must be a string, got {sweep_values[key]!r}")
        train_values = {k: values[k] for k in _TRAIN_KEYS if k in values}
        if "hidden_sizes" in train_values and not isinstance(train_values["hidden_sizes"], list):
            raise UsageError(
                f"{source}: hidden_sizes must be a list of positive integers, "
                f"got {train_values['hidden_sizes']!r}"
            )
        lrs = _lrs_from(values.get("lr"), values.get("trials_per_activation"), source)
        if lrs is not None:
            sweep_values["lrs"] = lrs
        try:
            return cls(train=TrainConfig(**train_values), **sweep_values)
        except UsageError as error:
            raise UsageError(f"{source}: {error}") from None

    @classmethod
    def load(cls, path: Path) -> "SweepConfig":
        if not path.is_file():
            raise UsageError(f"sweep config {path} does not exist; see sweeps/*.yaml for examples")
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or "invalid YAML"
            raise UsageError(f"{path}: YAML syntax error{where}: {problem}") from None
        return cls.from_mapping(values, source=str(path))


def _lrs_from(lr: Any, trials: Any, source: str) -> tuple[float, ...] | None:
    """`lr` is a list of values, or {low, high} with trials_per_activation points between them."""
    if lr is None:
        if trials is None:
            return None
        lr = {"low": 1e-4, "high": 0.3}
    if isinstance(lr, list):
        if trials is not None:
            raise UsageError(
                f"{source}: trials_per_activation goes with an lr range {{low, high}}; "
                "with an lr list each activation gets one trial per listed lr"
            )
        if not lr:
            raise UsageError(f"{source}: lr list is empty")
        return tuple(check_positive_number("lr", v) for v in lr)
    if isinstance(lr, dict):
        if set(lr) != {"low", "high"}:
            raise UsageError(
                f"{source}: lr range must have exactly the keys low and high, got {lr}"
            )
        low = check_positive_number("lr.low", lr["low"])
        high = check_positive_number("lr.high", lr["high"])
        if low >= high:
            raise UsageError(f"{source}: lr range is reversed or empty: low {low} >= high {high}")
        count = check_int_at_least("trials_per_activation", 4 if trials is None else trials, 1)
        return lr_grid(low, high, count)
    raise UsageError(
        f"{source}: lr must be a list of numbers or {{low: ..., high: ...}}, got {lr!r}"
    )
