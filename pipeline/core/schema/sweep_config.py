"""A sweep file's config: activations x a search space of training settings (the grid, or a
sampler's draws), the replicate phase, the pruner, the workers and the study's storage, each
key validated as the training keys are."""

import itertools
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

from pipeline.core.network.activations import SEED_ACTIVATIONS, get_activation
from pipeline.core.process.errors import UsageError
from pipeline.core.schema import limits, objectives
from pipeline.core.schema.config import (
    DEFAULT_EXPERIMENT,
    LR_SCHEDULES,
    SEED_LR,
    SGD_ONLY,
    LrSchedule,
    TrainConfig,
)
from pipeline.core.schema.fields import (
    ACTIVATION_CHOICES,
    Config,
    ExperimentName,
    Name,
    PositiveNumber,
    activations_check,
    between,
    did_you_mean,
    in_its_case,
    lrs_check,
    memory_check,
    shown,
    storage_check,
)
from pipeline.core.schema.foreign_specs import check_native
from pipeline.core.schema.search_space import (
    DEFAULT_TRIALS,
    LR_FORMS,
    Dimension,
    check_grid,
    collapsed,
    finite_size,
    grid_points,
    lr_grid,
    setting_value,
    space_from,
)
from pipeline.core.schema.vocabulary import GRID_SAMPLER, SAMPLERS, Sampler
from pipeline.core.schema.yaml_files import overridden, read_yaml

# What a trial of a study means besides its grid point: recorded with the study when it is made
# and compared on every later open (workflows/sweep.check_same_settings), since a trial trained
# under other values is another experiment and a study that mixed the two would compare them as
# one. Every training key counts (TrainConfig.params(), so a new one is covered when it is
# added), and so do the sweep keys that change how a trial is trained or judged. Not settings:
# the grid's dimensions, which a rerun may extend (activation and lr: `activations`, `lr`, and
# every setting a grid lists; the replicate seeds: `replicate_seeds`, `make confirm SEEDS=N`),
# recorded only as the space's form (recorded_settings), and what says where or how fast a
# trial runs (the device, workers, stack, storage, heartbeat_interval, data_dir; the MLflow
# experiment and the data's files have checks of their own).
SWEEP_SETTINGS = (
    "objective",
    "pruner",
    "pruner_warmup_epochs",
    "reference_lr",
    "replicate_max_epochs",
    "replicate_patience",
    "replicate_lr_schedule",
    "design_seeds",
    "reference_max_epochs",
    "reference_patience",
    "reference_lr_schedule",
)
NOT_SETTINGS = ("activation", "lr", "device")


def check_replicate_seeds(config: "SweepConfig", count: int, key: str) -> None:
    """The replicates count up from the sweep's seed + 1, skipping the design seeds: each must
    be a seed a run can take."""
    seeds = config.replicate_seed_list(count)
    if seeds and seeds[-1] > limits.MAX_SEED:
        raise UsageError(
            f"{key} must leave the last replicate seed at most {limits.MAX_SEED} (they count up "
            f"from seed + 1, skipping design_seeds), got seed {config.base_seed} and {key} "
            f"{count}: the last would be {seeds[-1]}"
        )


Pruner = Literal["median", "successive_halving", "hyperband", "none"]  # each within an activation
PRUNERS = get_args(Pruner)


class SweepConfig(Config):
    """Activations x a search space of training settings, every activation getting the same
    number of trials: the grid of the space's lists (the default), or `trials_per_activation`
    points per activation drawn by a sampler (docs/sweep.md)."""

    study: Name = "activations"
    experiment: ExperimentName = DEFAULT_EXPERIMENT
    activations: Annotated[tuple[str, ...], AfterValidator(activations_check)] = Field(
        SEED_ACTIVATIONS, description=f"a non-empty list of: {ACTIVATION_CHOICES}"
    )
    # The grid's learning rates (empty where a sampler draws lr from `lr_space`, a range).
    lrs: Annotated[tuple[PositiveNumber, ...], AfterValidator(lrs_check)] = Field(
        lr_grid(1e-4, 0.3, 4),
        max_length=limits.MAX_LRS,
        description=f"a list of 1 to {limits.MAX_LRS} positive numbers",
    )
    lr_space: Dimension | None = None
    # The other swept training settings (core/schema/search_space.py), in SWEEPABLE's order.
    space: tuple[Dimension, ...] = ()
    sampler: Sampler = Field(GRID_SAMPLER, description=f"one of: {', '.join(SAMPLERS)}")
    # A sampler's trials per activation; in a grid, the points of each range.
    trials_per_activation: StrictInt = between(1, limits.MAX_LRS, DEFAULT_TRIALS)
    # What a trial scores, a list for a multi-objective study (core/schema/objectives.py).
    objective: Annotated[tuple[str, ...], BeforeValidator(objectives.parse)] = objectives.DEFAULT
    # Unset: median, or none for a multi-objective study (Optuna prunes single objectives).
    pruner: Pruner = Field("median", description=f"one of: {', '.join(PRUNERS)}")
    pruner_warmup_epochs: StrictInt = between(0, limits.MAX_EPOCHS, 3)
    # Trials at this lr are never pruned: the seed's table (all at lr 1e-3) is reproduced in full.
    reference_lr: PositiveNumber | None = Field(
        SEED_LR, description="a positive finite number, or null"
    )
    # A protocol of the reference lr's own (the seed's: a held lr, 13 epochs): its trials are
    # then the reference phase, not candidates for the grid's choice. Unset: the grid's.
    reference_max_epochs: StrictInt | None = between(1, limits.MAX_EPOCHS, None)
    reference_patience: StrictInt | None = between(1, limits.MAX_EPOCHS, None)
    reference_lr_schedule: LrSchedule | None = Field(
        None, description=f"one of: {', '.join(LR_SCHEDULES)}, or null"
    )
    workers: StrictInt = between(1, limits.MAX_WORKERS, 1)
    # Trials a worker trains at once as one network; None: the whole queue on a GPU, else CPU_STACK.
    stack: StrictInt | None = Field(None, ge=1, description="an integer >= 1, or null")
    storage: Annotated[str | None, AfterValidator(storage_check)] = Field(
        None, description="a storage URL (sqlite:///PATH, postgresql://..., journal://PATH)"
    )
    heartbeat_interval: StrictInt = between(1, limits.MAX_HEARTBEAT_S, 10)
    # Seconds from the start of each sweep or worker process after which it claims no trial.
    timeout: StrictInt | None = between(1, limits.MAX_TIMEOUT_S, None)
    # The dataset's folder, for a dataset named by `dataset` (a flag's --data-dir wins).
    data_dir: str | None = Field(None, description="a folder path")
    # The replicate phase: each activation's best configuration trained again with this many
    # seeds (the sweep's seed + 1, + 2, ...: the same for every activation; 0: no replicates),
    # each up to replicate_max_epochs with early stopping after replicate_patience epochs (in a
    # sweep file that gives neither, its own max_epochs and patience: docs/sweep.md).
    replicate_seeds: StrictInt = between(0, limits.MAX_SEEDS, 3)
    replicate_max_epochs: StrictInt = between(1, limits.MAX_EPOCHS, TrainConfig().max_epochs)
    replicate_patience: StrictInt = between(1, limits.MAX_EPOCHS, TrainConfig().patience)
    # The replicates' lr schedule (TrainConfig.lr_schedule): under "cosine" 12 epochs end higher
    # than 30 at a held lr, with less spread (docs/sweep.md). The default keeps what the
    # replicates of a study made before this key did.
    replicate_lr_schedule: LrSchedule = Field(
        "constant", description=f"one of: {', '.join(LR_SCHEDULES)}"
    )
    # false: a scratch sweep (a smoke test, a fault drill) that ranks and reports but registers
    # no model and moves no alias; each registered model costs seconds to export.
    registry: StrictBool = Field(True, description="true or false")
    # The seeds the replicates' protocol was chosen on (by validation accuracy): the answer's
    # seeds skip them, and the report names both sets.
    design_seeds: tuple[Annotated[StrictInt, Field(ge=0, le=limits.MAX_SEED)], ...] = Field(
        (), max_length=limits.MAX_SEEDS, description=f"a list of seeds from 0 to {limits.MAX_SEED}"
    )
    train: TrainConfig = Field(TrainConfig(), description="the training keys")

    @model_validator(mode="after")
    def _a_valid_space(self) -> "SweepConfig":
        if not self.lrs and self.lr_space is None:
            raise UsageError(f"lr must be {LR_FORMS}, got []")
        if self.sampler == GRID_SAMPLER:
            if any(d.is_range for d in self.dimensions):
                raise UsageError("a grid's ranges must be made into values (from_mapping)")
            check_grid(self.train, self.dimensions)
        elif (size := finite_size(self.dimensions)) is not None and (
            size < self.trials_per_activation
        ):
            raise UsageError(
                f"sampler {self.sampler} draws trials_per_activation {self.trials_per_activation} "
                f"points per activation from a space of {size}; use sampler: grid for it, fewer "
                "trials_per_activation, or a range {low, high}"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _multi_objective_prunes_nothing(cls, data: Any) -> Any:
        many = isinstance(data, dict) and isinstance(data.get("objective"), (list, tuple))
        if many and len(data["objective"]) > 1 and "pruner" not in data:
            return {**data, "pruner": "none"}
        return data

    @model_validator(mode="after")
    def _pruner_takes_objective(self) -> "SweepConfig":
        if len(self.objective) > 1 and self.pruner != "none":
            raise UsageError(
                f"pruner {self.pruner} does not take a multi-objective study (objective "
                f"{list(self.objective)}): Optuna's pruners judge one value; drop `pruner:` or "
                "set pruner: none"
            )
        return self

    @model_validator(mode="after")
    def _swept_settings_apply(self) -> "SweepConfig":
        """A setting of SGD alone swept where no trial trains with SGD would be swept for
        nothing: every point the same trial."""
        optimizers = next(
            (d.listed for d in self.dimensions if d.key == "optimizer"), (self.train.optimizer,)
        )
        for key in (d.key for d in self.dimensions if d.key in SGD_ONLY):
            if "sgd" not in optimizers:
                raise UsageError(
                    f"{key} is swept, but only SGD has it and the sweep's optimizer is "
                    f"{'/'.join(optimizers)}; give {key} one value, or sweep optimizer: [sgd, ...]"
                )
        return self

    @model_validator(mode="after")
    def _stack_fits_in_memory(self) -> "SweepConfig":
        if self.stack is not None:
            memory_check(self.largest_train, min(self.stack, self.trial_count))
        return self

    @model_validator(mode="after")
    def _replicate_seeds_fit(self) -> "SweepConfig":
        check_replicate_seeds(self, self.replicate_seeds, "replicate_seeds")
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
    def reference_budget(self) -> dict[str, Any] | None:
        """The reference trials' own budget (max_epochs, patience, lr_schedule), where the file
        gives one: None where they are grid points like the others."""
        given = {
            "max_epochs": self.reference_max_epochs,
            "patience": self.reference_patience,
            "lr_schedule": self.reference_lr_schedule,
        }
        if self.reference_lr is None or all(value is None for value in given.values()):
            return None
        train = self.train
        defaults: dict[str, Any] = {"max_epochs": train.max_epochs, "patience": train.patience}
        defaults["lr_schedule"] = train.lr_schedule
        return {key: defaults[key] if value is None else value for key, value in given.items()}

    @property
    def learnable_activations(self) -> tuple[str, ...]:
        """Custom activations with parameters of their own: their trials train alone."""
        return tuple(name for name in self.activations if get_activation(name).learnable)

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """Every swept setting, lr first (one lr is a dimension of one value: lr is always a
        trial's param, as the grid has always recorded it)."""
        lr = self.lr_space or Dimension(key="lr", values=self.lrs)
        return (lr, *self.space)

    @property
    def swept_keys(self) -> tuple[str, ...]:
        """The settings that vary: lr and the other dimensions of more than one value."""
        return tuple(
            d.key for d in self.dimensions if d.key == "lr" or d.is_range or len(d.listed) > 1
        )

    @property
    def points_per_activation(self) -> int:
        if self.sampler == GRID_SAMPLER:
            return len(collapsed(grid_points(self.dimensions), self.train.optimizer))
        return self.trials_per_activation

    @property
    def trial_count(self) -> int:
        """The trials of the grid phase: every activation the same number."""
        return len(self.activations) * self.points_per_activation

    @property
    def grid(self) -> list[dict[str, Any]]:
        """Every point of a grid sweep (activation, lr and the other swept settings),
        activation-major; empty for a sampler, whose points are drawn as trials are claimed."""
        if self.sampler != GRID_SAMPLER:
            return []
        points = collapsed(grid_points(self.dimensions), self.train.optimizer)
        return [{"activation": a, **point} for a in self.activations for point in points]

    @property
    def largest_train(self) -> TrainConfig:
        """The training config of the space's most memory-hungry point: the largest batch and
        network, Adam's two moments if Adam may run."""
        changes = {}
        for d in self.space:
            if d.key == "batch_size":
                changes["batch_size"] = int(d.bounds[1]) if d.is_range else max(d.listed)
            elif d.key == "hidden_sizes":
                changes["hidden_sizes"] = max(d.listed, key=lambda sizes: (sum(sizes), sizes))
            elif d.key == "optimizer" and {"adam", "adamw"} & set(d.listed):
                changes["optimizer"] = "adam"
        return self.train.replace(**changes) if changes else self.train

    def train_config(self, activation: str, lr: float, seed: int | None = None) -> TrainConfig:
        return self.point_config({"activation": activation, "lr": lr}, seed)

    def point_config(self, point: dict[str, Any], seed: int | None = None) -> TrainConfig:
        """The training config of one point of the space (the fixed settings, the point's
        own), at `seed` if given (a replicate's)."""
        values = {key: setting_value(key, value) for key, value in point.items()}
        if seed is not None:
            values["seed"] = seed
        return self.train.replace(**values)

    @property
    def base_seed(self) -> int:
        """The seed replicates count from: the fixed seed, or the largest the space holds."""
        for d in self.space:
            if d.key == "seed":
                return int(d.bounds[1]) if d.is_range else max(d.listed)
        return self.train.seed

    def replicate_seed_list(self, count: int | None = None) -> tuple[int, ...]:
        """The replicate seeds, `count` of them (default replicate_seeds): the seeds after the
        grid's, whose run chose the configuration, skipping the design seeds, whose runs chose
        the protocol, so the answer judges both choices on fresh seeds."""
        count = self.replicate_seeds if count is None else count
        design = set(self.design_seeds)
        seeds = (s for s in itertools.count(self.base_seed + 1) if s not in design)
        return tuple(itertools.islice(seeds, count))

    def recorded_settings(self) -> dict[str, str]:
        """The settings a study records (SWEEP_SETTINGS above), each as a canonical string: the
        fixed training values, the sweep keys, and the space: the sampler and each swept
        setting's form (`space.<key>`). A grid's list may gain values on a rerun, as lr's
        always could; a sampler's choices and ranges may not change."""
        swept = {d.key for d in self.dimensions}
        params = self.train.params().items()
        train = {k: v for k, v in params if k not in NOT_SETTINGS and k not in swept}
        sweep = {key: str(getattr(self, key)) for key in SWEEP_SETTINGS}
        sweep["objective"] = objectives.text(self.objective)
        space = {
            f"space.{d.key}": "a grid's list" if self.sampler == GRID_SAMPLER else d.describe()
            for d in self.dimensions
            if d.key != "lr" or self.sampler != GRID_SAMPLER
        }
        return {**train, **sweep, "sampler": self.sampler, **space}

    @classmethod
    def file_keys(cls) -> list[str]:
        """The keys a sweep file may hold: the sweep's and the training's own (but the grid's
        activation), each sweepable training key as a value, a list or a range."""
        train_keys = set(TrainConfig.model_fields) - {"activation"}
        sweep_keys = set(cls.model_fields) - {"train", "lrs", "lr_space", "space"}
        return sorted(sweep_keys | train_keys)

    @classmethod
    def from_mapping(cls, values: Any, source: str = "sweep config") -> "SweepConfig":
        """A sweep file's flat mapping: sweep keys and training keys, each sweepable training
        key fixed (a value), a dimension (a list) or a range ({low, high, log})."""
        if not isinstance(values, dict):
            raise UsageError(f"{source} must be a YAML mapping of keys to values")
        check_native(values, source)
        allowed = cls.file_keys()
        for key in values:
            if key not in allowed:
                raise UsageError(
                    f"{source}: unknown key {shown(key)}{did_you_mean(key, allowed)}; "
                    f"allowed keys: {', '.join(allowed)}"
                )
        values = in_its_case(TrainConfig, in_its_case(cls, values))
        train_keys = set(TrainConfig.model_fields) - {"activation"}
        sweep_values = {k: v for k, v in values.items() if k in cls.model_fields}
        try:
            fixed, space = space_from(values)
            train = TrainConfig(**{k: v for k, v in fixed.items() if k in train_keys})
            sweep_values.setdefault("replicate_max_epochs", train.max_epochs)
            sweep_values.setdefault("replicate_patience", train.patience)
            return cls(train=train, **sweep_values, **space)
        except UsageError as error:
            raise UsageError(f"{source}: {error}") from None

    @classmethod
    def load(cls, path: Path, overrides: tuple[str, ...] = ()) -> "SweepConfig":
        """The file's config, with `--set KEY=VALUE` overrides over its keys."""
        values = overridden(read_yaml(path, "sweep config"), overrides)
        source = f"{path} with --set {' '.join(overrides)}" if overrides else str(path)
        return cls.from_mapping(values, source=source)
