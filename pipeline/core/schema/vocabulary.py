"""The words the pipeline records and branches on, defined once: a sweep's phases, how a trial
ended, why training stopped, how a trial's point is drawn, and the names of the tags and user
attrs that hold them. Each is a `StrEnum`: a member equals its string and MLflow, Optuna, JSON
and f-strings write it as that string, so the stores read exactly as before. The table in
docs/tracking-and-ui.md lists the same values (tests/core/schema/test_vocabulary.py checks both)."""

from enum import StrEnum
from typing import Final, Literal, get_args


class Phase(StrEnum):
    """A sweep's phases, as MLflow tag `phase` of a training run and Optuna user attr `phase` of
    its trial: the grid picks each activation's lr; the replicates train that lr again with more
    seeds; where a sweep gives the reference lr a protocol of its own (the seed's table), its
    trials are the reference phase, apart from the grid's choice. A run without the tag (one
    recorded before phases existed) is the grid's."""

    GRID = "grid"
    REFERENCE = "reference"
    REPLICATE = "replicate"


class TrialEnd(StrEnum):
    """How a trial ended, by the name of Optuna's `TrialState` member it is told with; MLflow tag
    `trial_state` of its training run (FAIL too for a run an interrupt, an error or a dead worker
    stopped)."""

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"


class StopReason(StrEnum):
    """Why a training run stopped: `TrainResult.stop_reason`, MLflow tag `stop_reason` and Optuna
    user attr `stop_reason`. The tag and attr also hold prose for the ends no loop decides
    (`pruned at epoch N`, `error: Name`, `orphaned: why`), which nothing branches on."""

    MAX_EPOCHS = "max_epochs"
    EARLY_STOPPING = "early_stopping"
    DIVERGED = "diverged"
    PRUNED = "pruned"
    INTERRUPTED = "interrupted"


class Outcome(StrEnum):
    """How a trial's point is drawn in the response figures (a filled marker, a hollow one, an x
    at 0); derived from the trial's state and stop reason, never recorded."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    DIVERGED = "diverged"


class Tag(StrEnum):
    """Names of the MLflow tags of a training run that the code reads back or filters on."""

    STAGE = "stage"
    SWEEP = "sweep"
    PHASE = "phase"
    TRIAL = "optuna.trial"
    TRIAL_STATE = "trial_state"
    STOP_REASON = "stop_reason"
    AT_CHANCE = "at_chance"
    STACK_SIZE = "stack_size"


class UserAttr(StrEnum):
    """Names of the Optuna user attrs of a trial that the code reads back."""

    PHASE = "phase"
    MLFLOW_RUN_ID = "mlflow_run_id"
    STOP_REASON = "stop_reason"
    AT_CHANCE = "at_chance"
    WORKER = "worker"


# What chooses a sweep's points (sweep file key `sampler`, MLflow param of the parent run). A
# Literal, not an enum, so the validated config holds the plain string it was given.
Sampler = Literal["grid", "random", "tpe", "gp"]
SAMPLERS = get_args(Sampler)
GRID_SAMPLER: Final = "grid"
