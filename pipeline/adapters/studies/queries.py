"""What a study holds: its trials by state and phase, their counts, the best value so far, the
grid points still open, whether the grid is finished, and each activation's best trial."""

from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from pipeline.adapters.studies.study import Study
from pipeline.core.schema import objectives
from pipeline.core.schema.config import unused_settings
from pipeline.core.schema.search_space import point_key
from pipeline.core.schema.vocabulary import GRID_SAMPLER, Phase, UserAttr

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
PENDING = (TrialState.RUNNING, TrialState.WAITING)
# The phases whose trials stand for the grid's points: the grid's own, and the reference lr's
# where it has a protocol of its own.
GRID_PHASES = (Phase.GRID, Phase.REFERENCE)


@dataclass
class BestTrial:
    activation: str
    lr: float
    score: float  # the study's first objective (val_acc, or val_loss)
    run_id: str
    number: int
    # Its point: activation, lr and every other swept setting, as Optuna holds them.
    params: dict[str, Any] = field(default_factory=dict, compare=False)


def phase(trial: FrozenTrial) -> Phase:
    """The user attr a trial was queued with (trials from before the replicate phase existed
    are the grid's)."""
    return Phase(trial.user_attrs.get(UserAttr.PHASE, Phase.GRID))


def grid_point(trial: FrozenTrial) -> tuple[str, float] | None:
    """The (activation, lr) of a trial: its params once it ran, the user attrs it was queued
    with before."""
    values = trial.params or trial.user_attrs
    if "activation" not in values or "lr" not in values:
        return None
    return values["activation"], float(values["lr"])


def point_of(
    trial: FrozenTrial, keys: tuple[str, ...], optimizer: str
) -> tuple[tuple[str, Any], ...] | None:
    """A trial's point (activation and the settings `keys` its optimizer has; `optimizer` the
    sweep's where the trial names none) as `point_key` gives it: its params once it ran, the
    user attrs it was queued with before; None where one is missing."""
    values = {**trial.user_attrs, **trial.params}
    unused = unused_settings(values.get("optimizer", optimizer))
    keys = ("activation", *(key for key in keys if key not in unused))
    if any(key not in values for key in keys):
        return None
    return point_key({key: values[key] for key in keys})


def space_keys(study: Study) -> tuple[str, ...]:
    return tuple(d.key for d in study.config.dimensions)


def trials(study: Study, *states: TrialState, of_phase: Phase | None = None) -> list[FrozenTrial]:
    """The study's trials in these states (all of them without a state), of one phase or all."""
    found = study.optuna_study.get_trials(deepcopy=False, states=states or None)
    return found if of_phase is None else [t for t in found if phase(t) == of_phase]


def counts(study: Study) -> dict[str, int]:
    """Trials per state name (COMPLETE, PRUNED, ...); states without a trial are left out."""
    found: dict[str, int] = {}
    for t in trials(study):
        found[t.state.name] = found.get(t.state.name, 0) + 1
    return found


def finished_count(study: Study) -> int:
    return len(trials(study, *FINISHED))


def finished_per_activation(study: Study) -> dict[str, int]:
    """Finished (COMPLETE or PRUNED) trials of each of the study's activations, every phase."""
    found = trials(study, *FINISHED)
    return {a: activation_count(found, a) for a in study.config.activations}


def pending_count(study: Study) -> int:
    """Trials running or queued: while any is, a worker with nothing claimed keeps asking (a
    stale trial failed since its last claim is queued again, not running)."""
    return len(trials(study, *PENDING))


def score(trial: FrozenTrial) -> float:
    """A completed trial's value of the study's first objective, what ranks it."""
    return float(trial.values[0])


def best_value(study: Study) -> tuple[float, str]:
    """The best first-objective value of a completed trial and the phase of that trial; (NaN,
    "") before one has completed."""
    best, objective = None, study.config.objective[0]
    for t in trials(study, TrialState.COMPLETE):
        if best is None or objectives.better(objective, score(t), score(best)):
            best = t
    return (float("nan"), "") if best is None else (score(best), phase(best))


def open_points(study: Study) -> list[dict[str, Any]]:
    """Grid points without a finished (COMPLETE or PRUNED) grid trial; for a sampler, one
    `{"activation": ...}` per trial an activation still lacks."""
    config, keys = study.config, space_keys(study)
    finished = [t for t in trials(study, *FINISHED) if phase(t) in GRID_PHASES]
    if config.sampler != GRID_SAMPLER:
        return [
            {"activation": activation}
            for activation in config.activations
            for _ in range(config.trials_per_activation - activation_count(finished, activation))
        ]
    done = {point_of(t, keys, config.train.optimizer) for t in finished}
    return [point for point in config.grid if point_key(point) not in done]


def activation_count(found: list[FrozenTrial], activation: str) -> int:
    return sum(1 for t in found if {**t.user_attrs, **t.params}.get("activation") == activation)


def grid_finished(study: Study) -> bool:
    """Every grid point has a finished trial and none of the grid's is queued or running: each
    activation's best lr is known (a reference trial with a protocol of its own is not a
    candidate, so it need not have finished)."""
    return not open_points(study) and not trials(study, *PENDING, of_phase=Phase.GRID)


def best_trials(study: Study, of_phase: Phase | None = Phase.GRID) -> dict[str, BestTrial]:
    """Each activation's completed trial with the best first objective (the highest
    best_val_acc by default): of the grid (the configuration it chose) by default, of every
    phase with `of_phase=None`; of equals, the earliest."""
    best: dict[str, BestTrial] = {}
    keys, objective = space_keys(study), study.config.objective[0]
    for t in trials(study, TrialState.COMPLETE, of_phase=of_phase):
        activation = t.params.get("activation")  # none on a trial told without suggesting
        if activation in study.config.activations and (
            activation not in best or objectives.better(objective, score(t), best[activation].score)
        ):
            run_id = t.user_attrs[UserAttr.MLFLOW_RUN_ID]
            params = {key: t.params[key] for key in keys if key in t.params}
            best[activation] = BestTrial(
                activation, t.params["lr"], score(t), run_id, t.number, params
            )
    return best
