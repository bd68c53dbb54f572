"""Typed configs for every job, validated by pydantic when they are made.

A bad value, from a flag or a YAML file, is one line that names the key, says what is allowed
(the field's description) and shows what it got: a UsageError, exit code 2. Each default lives
here once.
"""

from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from pipeline.core.dataset.datasets import DEFAULT_DATASET, dataset_name
from pipeline.core.schema import limits
from pipeline.core.schema.fields import (
    Activation,
    Config,
    Dataset,
    Device,
    PositiveNumber,
    at_least,
    between,
    fraction,
    hidden_sizes_check,
    memory_check,
    param_value,
)

DEFAULT_EXPERIMENT = "activation-study"
DEFAULT_HIDDEN_SIZES = (512, 256, 256, 128)  # the seed's MLP: 784-512-256-256-128-10
DEFAULT_SWEEP = "sweeps/activations.yaml"
DEFAULT_STUDY = "activations"  # the study of DEFAULT_SWEEP
DEFAULT_MODEL_URI = f"models:/{DEFAULT_STUDY}@champion"  # the default study's champion
# How a study ranks its configurations and picks the model each alias holds (report and
# registry alike; adapters/studies/choices.py).
# The MLflow store where MLflow 3 looks with nothing set (`mlflow ui`, `mlflow models serve`,
# `mlflow.pyfunc` in a notebook), relative to the working directory: the clone for the Makefile.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
SEED_LR = 1e-3  # the seed's learning rate: its table is reproduced at it
# Trials a CPU worker trains at once when the sweep file does not say (`stack`). 1: on this
# 2-core CPU the default sweep ran at 0.96x the trial-epochs per second with `stack: 5`
# (docs/performance.md), short of the 1.15x that would pay for a different pruning order.
CPU_STACK = 1
# A run whose best validation accuracy stays within this of guessing the commonest class learned
# nothing (tanh at lr 0.3, sigmoid at the seed's lr 1e-3: both end at 10%).
CHANCE_MARGIN = 0.05
Optimizer = Literal["sgd", "adam", "adamw"]
OPTIMIZERS = get_args(Optimizer)
# The kinds one stack may mix: Adam and AdamW differ only in where weight decay goes, which a
# per-slice coefficient of 0 switches off; SGD keeps other state, so its trials stack apart.
OPTIMIZER_FAMILIES = {"sgd": "sgd", "adam": "adam", "adamw": "adam"}
# How the lr moves over a run's epochs: held (the seed's), or decayed along a half cosine from
# lr at the first epoch to near 0 at the last (the replicates': converged in fewer epochs).
LrSchedule = Literal["constant", "cosine"]
LR_SCHEDULES = get_args(LrSchedule)
# The training step's arithmetic: fp32 throughout (the seed's), or its forward pass and loss under
# bf16 autocast with fp32 weights and optimizer state (stages/lone.py says what runs in bf16).
Precision = Literal["fp32", "bf16-mixed"]
PRECISIONS = get_args(Precision)
Init = Literal["default", "kaiming", "xavier"]  # PyTorch's own (the seed's), or the two schemes
INITS = get_args(Init)
# 28x28 images; Fashion-MNIST's classes (a model of another dataset has its own num_classes).
IN_FEATURES, NUM_CLASSES = 28 * 28, 10


# --- training -----------------------------------------------------------------------------


SGD_ONLY = ("momentum", "nesterov")  # settings of SGD alone: Adam and AdamW have neither


def unused_settings(optimizer: str) -> tuple[str, ...]:
    """The training settings an optimizer does not have: a sweep neither draws nor logs them."""
    return () if optimizer == "sgd" else SGD_ONLY


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
    lr_schedule: LrSchedule = Field("constant", description=f"one of: {', '.join(LR_SCHEDULES)}")
    init: Init = Field("default", description=f"one of: {', '.join(INITS)}")
    precision: Precision = Field("fp32", description=f"one of: {', '.join(PRECISIONS)}")
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
        return unused_settings(self.optimizer)

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
        text = f"{name} lr {self.lr:g}" + (" on a cosine" if self.lr_schedule == "cosine" else "")
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


def study_model(study: str) -> str:
    """The registered model a study's sweeps fill, named as the study (a study's name, of
    letters, digits, '_', '.' and '-', is a valid model name): one model per study, so no sweep
    moves the aliases of another."""
    return study
