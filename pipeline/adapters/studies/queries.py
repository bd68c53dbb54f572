"""What a study holds: its trials by state and phase, their counts, the best value so far, the
grid points still open, whether the grid is finished, and each activation's best trial."""

from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from pipeline.adapters.studies.study import Study
from pipeline.core.config import GRID

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
PENDING = (TrialState.RUNNING, TrialState.WAITING)


@dataclass
class BestTrial:
    activation: str
    lr: float
    val_acc: float
    run_id: str
    number: int


def phase(trial: FrozenTrial) -> str:
    """GRID or REPLICATE: the user attr a trial was queued with (trials from before the
    replicate phase existed are the grid's)."""
    return trial.user_attrs.get("phase", GRID)


def grid_point(trial: FrozenTrial) -> tuple[str, float] | None:
    """The (activation, lr) of a trial: its params once it ran, the user attrs it was queued
    with before."""
    values = trial.params or trial.user_attrs
    if "activation" not in values or "lr" not in values:
        return None
    return values["activation"], float(values["lr"])


def trials(study: Study, *states: TrialState, of_phase: str | None = None) -> list[FrozenTrial]:
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


def running_count(study: Study) -> int:
    return len(trials(study, TrialState.RUNNING))


def best_value(study: Study) -> float:
    """The highest value of a completed trial; NaN before one has completed."""
    return max((t.value for t in trials(study, TrialState.COMPLETE)), default=float("nan"))


def open_points(study: Study) -> list[tuple[str, float]]:
    """Grid points without a finished (COMPLETE or PRUNED) grid trial."""
    done = {grid_point(t) for t in trials(study, *FINISHED, of_phase=GRID)}
    return [point for point in study.config.grid if point not in done]


def grid_finished(study: Study) -> bool:
    """Every grid point has a finished trial and none is queued or running: each activation's
    best lr is known."""
    return not open_points(study) and not trials(study, *PENDING, of_phase=GRID)


def best_trials(study: Study, of_phase: str | None = GRID) -> dict[str, BestTrial]:
    """Each activation's completed trial with the highest best_val_acc: of the grid (the lr it
    chose) by default, of every phase with `of_phase=None`."""
    best: dict[str, BestTrial] = {}
    for t in trials(study, TrialState.COMPLETE, of_phase=of_phase):
        activation = t.params.get("activation")  # none on a trial told without suggesting
        if activation in study.config.activations and (
            activation not in best or t.value > best[activation].val_acc
        ):
            run_id = t.user_attrs["mlflow_run_id"]
            best[activation] = BestTrial(activation, t.params["lr"], t.value, run_id, t.number)
    return best
