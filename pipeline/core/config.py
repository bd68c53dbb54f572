"""Typed configs for every job, validated by pydantic when they are made.

A bad value, from a flag or a YAML file, is one line that names the key, says what is allowed
(the field's description) and shows what it got: a UsageError, exit code 2. Each default lives
here once.
"""

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from pipeline.core.activations import CUSTOM, NAMES, SEED_ACTIVATIONS, get_activation
from pipeline.core.datasets import DEFAULT_DATASET, dataset_name, is_path
from pipeline.core.errors import UsageError

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
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Optimizer = Literal["sgd", "adam", "adamw"]
OPTIMIZERS = get_args(Optimizer)
Init = Literal["default", "kaiming", "xavier"]  # PyTorch's own (the seed's), or the two schemes
INITS = get_args(Init)


class Config(BaseModel):
    """Immutable, no unknown keys; a validation error becomes one UsageError line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise UsageError(self._one_line(error)) from None

    def replace(self, **changes: Any) -> "Config":
        """A copy with `changes`, validated like a new config."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def _one_line(cls, error: ValidationError) -> str:
        first = error.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "config"
        if first["type"] == "value_error":  # our own validators say it in full
            return str(first["ctx"]["error"])
        if first["type"] == "extra_forbidden":
            return f"unknown key {key!r}; allowed keys: {', '.join(sorted(cls.model_fields))}"
        rule = cls.model_fields[key].description if key in cls.model_fields else None
        return f"{key} must be {rule or 'valid'}, got {first['input']!r}"


def _activation(name: str) -> str:
    get_activation(name)  # a UsageError (a ValueError too) naming the registered ones
    return name


def _hidden_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    if not sizes:
        raise UsageError("hidden_sizes must be a non-empty list of positive integers, got []")
    if min(sizes) < 1:
        raise UsageError(f"hidden_sizes must all be positive integers, got {list(sizes)}")
    return sizes


ACTIVATION_CHOICES = f"{', '.join(NAMES)} or {CUSTOM}"
DATASET_CHOICES = (
    f"{DEFAULT_DATASET}, a folder (a path with a '/': ./mine, /data/kmnist) or a dataset name of "
    "letters, digits, '_', '.' or '-'"
)


def _dataset(value: str) -> str:
    """A name or a folder; the folder's own name is what runs record, so it must be a name."""
    name = dataset_name(value) if is_path(value) else value
    if not re.match(NAME, name):
        what = f"folder name {name!r} of {value!r}" if is_path(value) else repr(value)
        raise UsageError(f"dataset must be {DATASET_CHOICES}; got {what}")
    return value


def _activations(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise UsageError(f"activations must be a non-empty list of: {ACTIVATION_CHOICES}")
    for name in names:
        get_activation(name)
    if len(set(names)) != len(names):
        raise UsageError(f"activations lists a name twice: {list(names)}")
    return names


PositiveNumber = Annotated[
    float, Field(gt=0, allow_inf_nan=False, strict=True, description="a positive finite number")
]
Activation = Annotated[str, AfterValidator(_activation)]
Dataset = Annotated[str, Field(description=DATASET_CHOICES), AfterValidator(_dataset)]
Name = Annotated[str, Field(pattern=NAME, description="a name of letters, digits, '_', '.' or '-'")]
Device = Annotated[Literal["auto", "cpu", "cuda"], Field(description="one of: auto, cpu, cuda")]


def at_least(minimum: int, default: int | None) -> Any:
    return Field(default, ge=minimum, description=f"an integer >= {minimum}")


def fraction(default: float, low: Literal["<", "<="]) -> Any:
    bounds = {"gt": 0} if low == "<" else {"ge": 0}
    description = f"a number with 0 {low} x < 1"
    return Field(default, lt=1, allow_inf_nan=False, strict=True, description=description, **bounds)


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
    batch_size: StrictInt = at_least(1, 64)
    max_epochs: StrictInt = at_least(1, 13)
    # The seed declares patience 7 but stops at the first epoch without improvement.
    patience: StrictInt = at_least(1, 3)
    hidden_sizes: Annotated[tuple[StrictInt, ...], AfterValidator(_hidden_sizes)] = Field(
        DEFAULT_HIDDEN_SIZES, description="a non-empty list of positive integers"
    )
    seed: StrictInt = at_least(0, 42)
    device: Device = "auto"
    val_fraction: float = fraction(0.2, "<")
    dataset: Dataset = DEFAULT_DATASET

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> "TrainConfig":
        if self.optimizer == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs a momentum above 0")
        return self

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
                values[key] = _param_value(params[key], field.default)
        return cls(**values)


def _param_value(text: str, default: Any) -> Any:
    """A param's string as the type of its field's default."""
    try:
        if isinstance(default, tuple):
            return tuple(int(part) for part in text.split(","))
        if isinstance(default, bool):
            return text == "True"
        if isinstance(default, int | float):
            return type(default)(text)
    except ValueError:
        raise UsageError(f"a logged param is not {type(default).__name__}: {text!r}") from None
    return None if text == "None" else text


# --- sweeps -------------------------------------------------------------------------------


def lr_grid(low: float, high: float, count: int) -> tuple[float, ...]:
    """`count` learning rates spaced evenly in log scale from low to high, 3 significant digits."""
    if count == 1:
        return (float(f"{math.sqrt(low * high):.3g}"),)
    ratio = (high / low) ** (1 / (count - 1))
    return tuple(float(f"{low * ratio**i:.3g}") for i in range(count))


class SweepConfig(Config):
    """A grid of activations x learning rates, every activation getting the same learning rates."""

    study: Name = "activations"
    experiment: Name = DEFAULT_EXPERIMENT
    activations: Annotated[tuple[str, ...], AfterValidator(_activations)] = Field(
        SEED_ACTIVATIONS, description=f"a non-empty list of: {ACTIVATION_CHOICES}"
    )
    lrs: tuple[PositiveNumber, ...] = Field(
        lr_grid(1e-4, 0.3, 4), min_length=1, description="a non-empty list of positive numbers"
    )
    pruner: Literal["median", "none"] = Field("median", description="one of: median, none")
    pruner_warmup_epochs: StrictInt = at_least(0, 3)
    # Trials at this lr are never pruned: the seed's table (all at lr 1e-3) is reproduced in full.
    reference_lr: PositiveNumber | None = SEED_LR
    workers: StrictInt = at_least(1, 1)
    # Trials a worker trains at once as one stacked network; None: the whole queue on a GPU,
    # CPU_STACK on a CPU.
    stack: StrictInt | None = at_least(1, None)
    storage: str | None = Field(None, description="a URL string")
    heartbeat_interval: StrictInt = at_least(1, 10)
    # The dataset's folder, for a dataset named by `dataset` (a flag's --data-dir wins).
    data_dir: str | None = Field(None, description="a folder path")
    # The replicate phase: each activation's grid-chosen lr trained again with this many seeds
    # (the sweep's seed + 1, + 2, ...: the same for every activation; 0: no replicates), each up
    # to replicate_max_epochs with early stopping after replicate_patience epochs. At the grid's
    # lrs validation accuracy still rises at epoch 25-30 for the ReLU family and Swish, and
    # epoch to epoch it moves by up to a point: a short patience stops on a dip (docs/sweep.md).
    replicate_seeds: StrictInt = at_least(0, 3)
    replicate_max_epochs: StrictInt = at_least(1, 30)
    replicate_patience: StrictInt = at_least(1, 10)
    train: TrainConfig = TrainConfig()

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
    def from_mapping(cls, values: Any, source: str = "sweep config") -> "SweepConfig":
        """A sweep file's flat mapping: sweep keys, training keys, and `lr` as a list or range."""
        if not isinstance(values, dict):
            raise UsageError(f"{source} must be a YAML mapping of keys to values")
        train_keys = set(TrainConfig.model_fields) - {"activation", "lr"}
        sweep_keys = set(cls.model_fields) - {"train", "lrs"}
        allowed = sorted(sweep_keys | train_keys | {"lr", "trials_per_activation"})
        for key in values:
            if key not in allowed:
                raise UsageError(
                    f"{source}: unknown key {key!r}; allowed keys: {', '.join(allowed)}"
                )
        sweep_values = {k: v for k, v in values.items() if k in sweep_keys}
        try:
            lrs = _lrs_from(values.get("lr"), values.get("trials_per_activation"))
            if lrs is not None:
                sweep_values["lrs"] = lrs
            train = TrainConfig(**{k: v for k, v in values.items() if k in train_keys})
            return cls(train=train, **sweep_values)
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


class LrRange(Config):
    """`lr: {low, high}` with `trials_per_activation` points between them, log-spaced."""

    low: PositiveNumber
    high: PositiveNumber
    trials_per_activation: StrictInt = at_least(1, 4)

    def grid(self) -> tuple[float, ...]:
        if self.low >= self.high:
            raise UsageError(f"lr range is reversed or empty: low {self.low} >= high {self.high}")
        return lr_grid(self.low, self.high, self.trials_per_activation)


def _lrs_from(lr: Any, trials: Any) -> tuple[float, ...] | None:
    """`lr` is a list of values, or {low, high} with trials_per_activation points between them."""
    if lr is None and trials is None:
        return None
    if isinstance(lr, list):
        if trials is not None:
            raise UsageError(
                "trials_per_activation goes with an lr range {low, high}; "
                "with an lr list each activation gets one trial per listed lr"
            )
        if not lr:
            raise UsageError("lr list is empty")
        return tuple(TrainConfig(lr=value).lr for value in lr)
    lr = {"low": 1e-4, "high": 0.3} if lr is None else lr
    if not isinstance(lr, dict) or set(lr) != {"low", "high"}:
        raise UsageError(
            f"lr must be a list of numbers or a range {{low: ..., high: ...}}, got {lr!r}"
        )
    extra = {} if trials is None else {"trials_per_activation": trials}
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
    model_uri: str
    device: Device = "auto"


class DiagnosticsConfig(DataConfig):
    experiment: Name = DEFAULT_EXPERIMENT
    figures_dir: str | None = None  # also write the figures as PNGs here
    activations: Annotated[tuple[str, ...], AfterValidator(_activations)] = SEED_ACTIVATIONS
    run_id: str | None = None
    model_uri: str | None = None
    best: bool = False


class SweepJobConfig(JobConfig):
    sweep: SweepConfig
    config_path: Path = Path(DEFAULT_SWEEP)
    workers: StrictInt | None = at_least(1, None)  # None: the sweep file's
    threads: StrictInt | None = at_least(1, None)  # None: all cores
    seeds: StrictInt | None = at_least(1, None)  # replicate seeds in all; None: the sweep's
    progress: bool = True


class BenchConfig(JobConfig):
    rounds: StrictInt = at_least(1, 4)
    out: Path = Path("reports")
    device: Device = "auto"
    seed_table: bool | None = None  # None: on a GPU only


class ServerConfig(JobConfig):
    host: str = "127.0.0.1"
    port: StrictInt = Field(5000, ge=1, le=65535, description="an integer in 1..65535")
    experiment: Name = DEFAULT_EXPERIMENT


class ServeConfig(JobConfig):
    """`make serve`: MLflow's scoring server for one logged or registered model."""

    model_uri: str = Field(DEFAULT_MODEL_URI, min_length=1, description="a model URI")
    host: str = "127.0.0.1"
    # Beside `make ui` on 5000 and `make dashboard` on 8080.
    port: StrictInt = Field(5001, ge=1, le=65535, description="an integer in 1..65535")


class TrainJobConfig(JobConfig):
    experiment: Name = DEFAULT_EXPERIMENT
    train: TrainConfig = TrainConfig()
    threads: StrictInt | None = at_least(1, None)  # None: all cores, or the from_run run's
    # A logged run whose training params (threads and seed included) this run takes; the
    # fields set in `train` override them.
    from_run: str | None = Field(None, min_length=1, description="an MLflow run id")


class DashboardConfig(ServerConfig):
    port: StrictInt = Field(8080, ge=1, le=65535, description="an integer in 1..65535")
    sweep: SweepConfig
    config_path: Path = Path(DEFAULT_SWEEP)
