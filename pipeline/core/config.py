"""Typed configs for every job, validated by pydantic when they are made.

A bad value, from a flag or a YAML file, is one line that names the key, says what is allowed
(the field's description) and shows what it got: a UsageError, exit code 2. Each default lives
here once.
"""

import math
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from pipeline.core import limits
from pipeline.core.activations import SEED_ACTIVATIONS, get_activation
from pipeline.core.datasets import DEFAULT_DATASET, dataset_name
from pipeline.core.errors import UsageError
from pipeline.core.fields import (
    ACTIVATION_CHOICES,
    Activation,
    Config,
    Dataset,
    Device,
    Host,
    ModelUri,
    Name,
    Port,
    PositiveNumber,
    RunId,
    activations_check,
    at_least,
    between,
    folder_check,
    fraction,
    hidden_sizes_check,
    lrs_check,
    memory_check,
    param_value,
    shown,
    storage_check,
)
from pipeline.core.yaml_files import read_yaml

DEFAULT_EXPERIMENT = "activation-study"
DEFAULT_HIDDEN_SIZES = (512, 256, 256, 128)  # the seed's MLP: 784-512-256-256-128-10
DEFAULT_SWEEP = "sweeps/activations.yaml"
DEFAULT_MODEL_URI = "models:/fashion-mlp@champion"  # the sweep's best model
# The MLflow store where MLflow 3 looks with nothing set (`mlflow ui`, `mlflow models serve`,
# `mlflow.pyfunc` in a notebook), relative to the working directory: the clone for the Makefile.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
SEED_LR = 1e-3  # the seed's learning rate: its table is reproduced at it
# A sweep's two phases, as MLflow tag `phase` and Optuna user attr: the grid picks each
# activation's lr; the replicates train that lr again with more seeds at a longer budget.
GRID, REPLICATE = "grid", "replicate"
# Trials a CPU worker trains at once when the sweep file does not say (`stack`). 1: on this
# 2-core CPU the default sweep ran at 0.96x the trial-epochs per second with `stack: 5`
# (docs/performance.md), short of the 1.15x that would pay for a different pruning order.
CPU_STACK = 1
# A run whose best validation accuracy stays within this of guessing the commonest class learned
# nothing (tanh at lr 0.3, sigmoid at the seed's lr 1e-3: both end at 10%).
CHANCE_MARGIN = 0.05
Optimizer = Literal["sgd", "adam", "adamw"]
OPTIMIZERS = get_args(Optimizer)
Init = Literal["default", "kaiming", "xavier"]  # PyTorch's own (the seed's), or the two schemes
INITS = get_args(Init)
# 28x28 images; Fashion-MNIST's classes (a model of another dataset has its own num_classes).
IN_FEATURES, NUM_CLASSES = 28 * 28, 10


# --- training -----------------------------------------------------------------------------


class TrainConfig(Config):
    """One training run. Defaults are the seed's: SGD lr 1e-3, momentum 0.9, batch 64, 13 epochs,
    PyTorch's default initialisation."""

    activation: Activation = "relu"
    optimizer: Optimizer = Field("sgd", description=f"one of: {', '.join(OPTIMIZERS)}")
    lr: PositiveNumber = SEED_LR
    momentum: float = fraction(0.9, "<=")  # SGD's; adam and adamw have none
    nesterov: StrictBool = Field(False, description="true or false")  # SGD's
    weight_decay: float = Field(
        0.0, ge=0, allow_inf_nan=False, strict=True, description="a finite number >= 0"
    )
    init: Init = Field("default", description=f"one of: {', '.join(INITS)}")
    # At most the training set: checked against the data (core/data.check_fits) before a run.
    batch_size: StrictInt = at_least(1, 64)
    max_epochs: StrictInt = between(1, limits.MAX_EPOCHS, 13)
    # The seed declares patience 7 but stops at the first epoch without improvement.
    patience: StrictInt = between(1, limits.MAX_EPOCHS, 3)
    hidden_sizes: Annotated[tuple[StrictInt, ...], AfterValidator(hidden_sizes_check)] = Field(
        DEFAULT_HIDDEN_SIZES, description="a non-empty list of positive integers"
    )
    seed: StrictInt = between(0, limits.MAX_SEED, 42)
    device: Device = "auto"
    val_fraction: float = fraction(0.2, "<")
    dataset: Dataset = DEFAULT_DATASET

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> "TrainConfig":
        if self.optimizer == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs a momentum above 0")
        return self

    @model_validator(mode="after")
    def _fits_in_memory(self) -> "TrainConfig":
        memory_check(self, stack=1)
        return self

    @property
    def parameter_count(self) -> int:
        return limits.parameter_count(self.hidden_sizes, IN_FEATURES, NUM_CLASSES)

    @property
    def run_name(self) -> str:
        return f"train-{self.activation}-lr{self.lr:g}"

    def unused_keys(self) -> tuple[str, ...]:
        """The settings this run's optimizer does not have: not logged, so none misleads."""
        return () if self.optimizer == "sgd" else ("momentum", "nesterov")

    def params(self) -> dict[str, str]:
        """The MLflow params of a run with this config (string values, one name for one thing;
        the dataset by its name, never a path)."""
        values = self.model_dump(exclude=set(self.unused_keys()))
        values["hidden_sizes"] = ",".join(map(str, self.hidden_sizes))
        values["dataset"] = dataset_name(self.dataset)
        return {key: str(value) for key, value in values.items()}

    def describe_optimizer(self) -> str:
        """ "SGD lr 0.01 momentum 0.9", "AdamW lr 0.001 weight decay 0.01" and the like."""
        name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}[self.optimizer]
        text = f"{name} lr {self.lr:g}"
        if self.optimizer == "sgd":
            text += f" momentum {self.momentum:g}" + (" (Nesterov)" if self.nesterov else "")
        return text + (f" weight decay {self.weight_decay:g}" if self.weight_decay else "")

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "TrainConfig":
        """The config of a logged run, read back from its params (what `params()` wrote); a
        key the run lacks keeps its default."""
        values = {}
        for key, field in cls.model_fields.items():
            if key in params:
                values[key] = param_value(params[key], field.default)
        return cls(**values)


# --- sweeps -------------------------------------------------------------------------------


def lr_grid(low: float, high: float, count: int) -> tuple[float, ...]:
    """`count` learning rates spaced evenly in log scale from low to high, 3 significant digits.
    Computed in logs: high / low overflows for a range such as 1e-300 ... 1e300."""
    start, end = math.log(low), math.log(high)
    if count == 1:
        return (float(f"{math.exp((start + end) / 2):.3g}"),)
    step = (end - start) / (count - 1)
    return tuple(float(f"{math.exp(start + step * i):.3g}") for i in range(count))


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


class JobConfig(Config):
    """What every job is given from the edge (flags and environment, cli/): where the data and
    the MLflow store are, and whether a GPU may replay its training steps as CUDA graphs."""

    data_dir: str | None = None  # None: the data/ cache, Debian's package, a download
    tracking_uri: str = DEFAULT_TRACKING_URI
    cuda_graphs: bool = True


class DataConfig(JobConfig):
    """`make data`: which dataset to find, verify and load."""

    dataset: Dataset = DEFAULT_DATASET


class EvaluateConfig(DataConfig):
    model_uri: ModelUri
    device: Device = "auto"


class DiagnosticsConfig(DataConfig):
    experiment: Name = DEFAULT_EXPERIMENT
    # Also write the figures as PNGs here.
    figures_dir: Annotated[str | None, BeforeValidator(folder_check("figures_dir"))] = None
    activations: Annotated[tuple[str, ...], AfterValidator(activations_check)] = SEED_ACTIVATIONS
    run_id: RunId | None = Field(None, description="an MLflow run id (32 hex digits)")
    model_uri: ModelUri | None = Field(None, description="a model URI")
    best: bool = False


class SweepJobConfig(JobConfig):
    sweep: SweepConfig
    config_path: Path = Path(DEFAULT_SWEEP)
    workers: StrictInt | None = between(1, limits.MAX_WORKERS, None)  # None: the sweep file's
    threads: StrictInt | None = between(1, limits.MAX_THREADS, None)  # None: all cores
    seeds: StrictInt | None = between(1, limits.MAX_SEEDS, None)  # in all; None: the sweep's
    progress: bool = True


class BenchConfig(JobConfig):
    rounds: StrictInt = between(1, limits.MAX_ROUNDS, 4)
    out: Annotated[Path, BeforeValidator(folder_check("out"))] = Path("reports")
    device: Device = "auto"
    seed_table: bool | None = None  # None: on a GPU only


class ServerConfig(JobConfig):
    host: Host = "127.0.0.1"
    port: Port = 5000
    experiment: Name = DEFAULT_EXPERIMENT


class ServeConfig(JobConfig):
    """`make serve`: MLflow's scoring server for one logged or registered model."""

    model_uri: ModelUri = DEFAULT_MODEL_URI
    host: Host = "127.0.0.1"
    # Beside `make ui` on 5000 and `make dashboard` on 8080.
    port: Port = 5001


class TrainJobConfig(JobConfig):
    experiment: Name = DEFAULT_EXPERIMENT
    train: TrainConfig = TrainConfig()
    # None: all cores, or the from_run run's.
    threads: StrictInt | None = between(1, limits.MAX_THREADS, None)
    # A logged run whose training params (threads and seed included) this run takes; the
    # fields set in `train` override them.
    from_run: RunId | None = Field(None, description="an MLflow run id (32 hex digits)")


class DashboardConfig(ServerConfig):
    port: Port = 8080
    sweep: SweepConfig
    config_path: Path = Path(DEFAULT_SWEEP)
