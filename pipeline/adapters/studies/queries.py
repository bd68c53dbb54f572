"""What a study holds: its trials by state, their counts, the best value so far, the grid points
still open, and each activation's best trial."""

from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from pipeline.adapters.studies.study import Study

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class BestTrial:
    activation: str
    lr: float
    val_acc: float
    run_id: str
    number: int


def grid_point(trial: FrozenTrial) -> tuple[str, float] | None:
    """The (activation, lr) of a trial: its params once it ran, the user attrs it was queued
    with before."""
    values = trial.params or trial.user_attrs
    if "activation" not in values or "lr" not in values:
        return None
    return values["activation"], float(values["lr"])


def trials(study: Study, *states: TrialState) -> list[FrozenTrial]:
    """The study's trials in these states (all of them without a state)."""
    return study.optuna_study.get_trials(deepcopy=False, states=states or None)


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
    """Grid points without a finished (COMPLETE or PRUNED) trial."""
    done = {grid_point(t) for t in trials(study, *FINISHED)}
    return [point for point in study.config.grid if point not in done]


def best_trials(study: Study) -> dict[str, BestTrial]:
    """Each activation's completed trial with the highest best_val_acc."""
    best: dict[str, BestTrial] = {}
    for t in trials(study, TrialState.COMPLETE):
        activation = t.params["activation"]
        if activation in study.config.activations and (
            activation not in best or t.value > best[activation].val_acc
        ):
            run_id = t.user_attrs["mlflow_run_id"]
            best[activation] = BestTrial(activation, t.params["lr"], t.value, run_id, t.number)
    return best
