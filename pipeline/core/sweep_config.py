"""A sweep file's config: the grid of activations x learning rates, the replicate phase, the
pruner, the workers and the study's storage, each key validated as the training keys are."""

import functools
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictInt,
    model_validator,
)

from pipeline.core import limits
from pipeline.core.activations import SEED_ACTIVATIONS, get_activation
from pipeline.core.config import (
    DEFAULT_EXPERIMENT,
    SEED_LR,
    TrainConfig,
)
from pipeline.core.errors import UsageError
from pipeline.core.fields import (
    ACTIVATION_CHOICES,
    Config,
    Name,
    PositiveNumber,
    activations_check,
    between,
    lrs_check,
    memory_check,
    shown,
    storage_check,
)
from pipeline.core.yaml_files import read_yaml

# What a trial of a study means besides its grid point: recorded with the study when it is made
# and compared on every later open (workflows/sweep.check_same_settings), since a trial trained
# under other values is another experiment and a study that mixed the two would compare them as
# one. Every training key counts (TrainConfig.params(), so a new one is covered when it is
# added), and so do the sweep keys that change how a trial is trained or judged. Not settings:
# the grid's dimensions, which a rerun may extend (activation and lr: `activations`, `lr`; the
# replicate seeds: `replicate_seeds`, `make confirm SEEDS=N`), and what says where or how fast a
# trial runs (the device, workers, stack, storage, heartbeat_interval, data_dir; the MLflow
# experiment and the data's files have checks of their own).
SWEEP_SETTINGS = (
    "pruner",
    "pruner_warmup_epochs",
    "reference_lr",
    "replicate_max_epochs",
    "replicate_patience",
)
NOT_SETTINGS = ("activation", "lr", "device")


def lr_grid(low: float, high: float, count: int) -> tuple[float, ...]:
    """`count` learning rates spaced evenly in log scale from low to high, 3 significant digits.
    Computed in logs: high / low overflows for a range such as 1e-300 ... 1e300."""
    start, end = math.log(low), math.log(high)
    if count == 1:
        return (float(f"{math.exp((start + end) / 2):.3g}"),)
    step = (end - start) / (count - 1)
    return tuple(float(f"{math.exp(start + step * i):.3g}") for i in range(count))


def check_replicate_seeds(seed: int, count: int, key: str) -> None:
    """The replicates train at seed + 1 ... seed + count: each must be a seed a run can take."""
    if seed + count > limits.MAX_SEED:
        raise UsageError(
            f"{key} must leave seed + {key} at most {limits.MAX_SEED} (the replicates train at "
            f"seeds seed + 1 ... seed + {key}), got seed {seed} and {key} {count}"
        )


class SweepConfig(Config):
    """A grid of activations x learning rates, every activation getting the same learning rates."""

    study: Name = "activations"
    experiment: Name = DEFAULT_EXPERIMENT
    activations: Annotated[tuple[str, ...], AfterValidator(activations_check)] = Field(
        SEED_ACTIVATIONS, description=f"a non-empty list of: {ACTIVATION_CHOICES}"
    )
    lrs: Annotated[tuple[PositiveNumber, ...], AfterValidator(lrs_check)] = Field(
        lr_grid(1e-4, 0.3, 4),
        min_length=1,
        max_length=limits.MAX_LRS,
        description=f"a list of 1 to {limits.MAX_LRS} positive numbers",
    )
    pruner: Literal["median", "none"] = Field("median", description="one of: median, none")
    pruner_warmup_epochs: StrictInt = between(0, limits.MAX_EPOCHS, 3)
    # Trials at this lr are never pruned: the seed's table (all at lr 1e-3) is reproduced in full.
    reference_lr: PositiveNumber | None = Field(
        SEED_LR, description="a positive finite number, or null"
    )
    workers: StrictInt = between(1, limits.MAX_WORKERS, 1)
    # Trials a worker trains at once as one stacked network; None: the whole queue on a GPU,
    # CPU_STACK on a CPU.
    stack: StrictInt | None = Field(None, ge=1, description="an integer >= 1, or null")
    storage: Annotated[str | None, AfterValidator(storage_check)] = Field(
        None, description="a storage URL (sqlite:///PATH, postgresql://..., journal://PATH)"
    )
    heartbeat_interval: StrictInt = between(1, limits.MAX_HEARTBEAT_S, 10)
    # The dataset's folder, for a dataset named by `dataset` (a flag's --data-dir wins).
    data_dir: str | None = Field(None, description="a folder path")
    # The replicate phase: each activation's grid-chosen lr trained again with this many seeds
    # (the sweep's seed + 1, + 2, ...: the same for every activation; 0: no replicates), each up
    # to replicate_max_epochs with early stopping after replicate_patience epochs. At the grid's
    # lrs validation accuracy still rises at epoch 25-30 for the ReLU family and Swish, and
    # epoch to epoch it moves by up to a point: a short patience stops on a dip (docs/sweep.md).
    replicate_seeds: StrictInt = between(0, limits.MAX_SEEDS, 3)
    replicate_max_epochs: StrictInt = between(1, limits.MAX_EPOCHS, 30)
    replicate_patience: StrictInt = between(1, limits.MAX_EPOCHS, 10)
    train: TrainConfig = Field(TrainConfig(), description="the training keys")

    @model_validator(mode="after")
    def _stack_fits_in_memory(self) -> "SweepConfig":
        if self.stack is not None:
            memory_check(self.train, min(self.stack, len(self.grid)))
        return self

    @model_validator(mode="after")
    def _replicate_seeds_fit(self) -> "SweepConfig":
        check_replicate_seeds(self.train.seed, self.replicate_seeds, "replicate_seeds")
        return self

    @model_validator(mode="after")
    def _stackable(self) -> "SweepConfig":
        if self.stack is not None and self.stack > 1 and self.learnable_activations:
            raise UsageError(
                f"activation {self.learnable_activations[0]!r} has parameters to train, which "
                f"stacked trials cannot train per trial; set `stack: 1` (got {self.stack})"
            )
        return self

    @property
    def learnable_activations(self) -> tuple[str, ...]:
        """Custom activations with parameters of their own: their trials train alone."""
        return tuple(name for name in self.activations if get_activation(name).learnable)

    @property
    def grid(self) -> list[tuple[str, float]]:
        """Every (activation, lr) point of the sweep, activation-major."""
        return [(activation, lr) for activation in self.activations for lr in self.lrs]

    def train_config(self, activation: str, lr: float, seed: int | None = None) -> TrainConfig:
        seed = self.train.seed if seed is None else seed
        return self.train.replace(activation=activation, lr=lr, seed=seed)

    def replicate_seed_list(self, count: int | None = None) -> tuple[int, ...]:
        """The replicate seeds, `count` of them (default replicate_seeds): never the grid's own
        seed, whose run chose the lr, so the replicates judge the choice on fresh seeds."""
        count = self.replicate_seeds if count is None else count
        return tuple(self.train.seed + offset for offset in range(1, count + 1))

    def recorded_settings(self) -> dict[str, str]:
        """The settings a study records (SWEEP_SETTINGS above), each as a canonical string."""
        train = {k: v for k, v in self.train.params().items() if k not in NOT_SETTINGS}
        return {**train, **{key: str(getattr(self, key)) for key in SWEEP_SETTINGS}}

    @classmethod
    def file_keys(cls) -> list[str]:
        """The keys a sweep file may hold: the sweep's and the training's own (but the grid's
        activation and lr), and `lr` as a list or a range with `trials_per_activation`."""
        train_keys = set(TrainConfig.model_fields) - {"activation", "lr"}
        sweep_keys = set(cls.model_fields) - {"train", "lrs"}
        return sorted(sweep_keys | train_keys | {"lr", "trials_per_activation"})

    @classmethod
    def from_mapping(cls, values: Any, source: str = "sweep config") -> "SweepConfig":
        """A sweep file's flat mapping: sweep keys, training keys, and `lr` as a list or range."""
        if not isinstance(values, dict):
            raise UsageError(f"{source} must be a YAML mapping of keys to values")
        allowed = cls.file_keys()
        for key in values:
            if key not in allowed:
                raise UsageError(
                    f"{source}: unknown key {shown(key)}; allowed keys: {', '.join(allowed)}"
                )
        train_keys = set(TrainConfig.model_fields) - {"activation", "lr"}
        sweep_values = {k: v for k, v in values.items() if k in cls.model_fields}
        try:
            lrs = _lrs_from(values)
            if lrs is not None:
                sweep_values["lrs"] = lrs
            train = TrainConfig(**{k: v for k, v in values.items() if k in train_keys})
            return cls(train=train, **sweep_values)
        except UsageError as error:
            raise UsageError(f"{source}: {error}") from None

    @classmethod
    def load(cls, path: Path) -> "SweepConfig":
        return cls.from_mapping(read_yaml(path, "sweep config"), source=str(path))


@functools.cache
def default_settings() -> dict[str, str]:
    return SweepConfig().recorded_settings()


def changed_settings(recorded: dict[str, str], current: dict[str, str]) -> dict[str, tuple]:
    """{key: (recorded, current)} of each current setting whose value differs. A key the record
    lacks counts as its default: the code added it after the study was made (its default keeps
    what trials did before), or the study's optimizer did not use it (momentum under Adam). A
    key the current config lacks (unused by its optimizer, or no longer in the code) is not
    compared: nothing trains with it."""
    defaults = default_settings()
    changed = {}
    for key, value in current.items():
        old = recorded.get(key, defaults.get(key, "unset"))
        if old != value:
            changed[key] = (old, value)
    return changed


def describe_changes(changed: dict[str, tuple]) -> str:
    """`max_epochs 2 -> 3, patience 2 -> 4`, in key order."""
    return ", ".join(f"{key} {old} -> {new}" for key, (old, new) in sorted(changed.items()))


class LrRange(Config):
    """`lr: {low, high}` with `trials_per_activation` points between them, log-spaced."""

    low: PositiveNumber
    high: PositiveNumber
    trials_per_activation: StrictInt = between(1, limits.MAX_LRS, 4)

    def grid(self) -> tuple[float, ...]:
        if self.low >= self.high:
            raise UsageError(
                f"lr range is reversed or empty: low {self.low} >= high {self.high}; low must be "
                "below high"
            )
        grid = lr_grid(self.low, self.high, self.trials_per_activation)
        if len(set(grid)) < len(grid):
            raise UsageError(
                f"lr range low {self.low:g} ... high {self.high:g} holds fewer than "
                f"{self.trials_per_activation} learning rates at 3 significant digits (it gives "
                f"{shown(list(grid))}); use a wider range or fewer trials_per_activation"
            )
        return grid


def _lrs_from(values: dict) -> tuple[float, ...] | None:
    """`lr` is a list of values, or {low, high} with trials_per_activation points between them
    (a key written without a value is a mistake, not the default)."""
    if "lr" not in values and "trials_per_activation" not in values:
        return None
    lr = values.get("lr", {"low": 1e-4, "high": 0.3})
    if isinstance(lr, list):
        if "trials_per_activation" in values:
            raise UsageError(
                "trials_per_activation goes with an lr range {low, high}; "
                "with an lr list each activation gets one trial per listed lr"
            )
        if lr:
            return tuple(TrainConfig(lr=value).lr for value in lr)
    if not lr or not isinstance(lr, dict) or set(lr) != {"low", "high"}:
        raise UsageError(
            "lr must be a non-empty list of numbers or a range {low: ..., high: ...}, "
            f"got {shown(lr)}"
        )
    extra = {k: v for k, v in values.items() if k == "trials_per_activation"}
    try:
        return LrRange(**lr, **extra).grid()
    except UsageError as error:
        if str(error).startswith(("low ", "high ")):
            raise UsageError(f"lr.{error}") from None
        raise


# --- the other jobs -----------------------------------------------------------------------
