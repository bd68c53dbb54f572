"""The study's queue and the claims on it: fail the trials whose worker died, queue the grid
points that have no trial, claim queued trials for a worker (the replicates queued first once
the grid is finished), and keep the claimed trials' heartbeats while they train."""

import contextlib
import threading
from collections.abc import Iterator

import optuna
from optuna.trial import Trial, TrialState

from pipeline.adapters.studies.logs import experimental_features
from pipeline.adapters.studies.queries import FINISHED, grid_point, phase, trials
from pipeline.adapters.studies.replicates import queue_replicates
from pipeline.adapters.studies.study import Study
from pipeline.core.config import GRID


def _fail_stale(study: Study) -> None:
    """Fail the trials whose heartbeats stopped; the storage's callback queues their retries."""
    with experimental_features():
        optuna.storages.fail_stale_trials(study.optuna_study)


def fail_orphans(study: Study) -> None:
    """Fail trials whose worker died (queuing retries). A journal file has no heartbeats:
    a RUNNING trial there at start-up is an orphan. Call under the study's lock."""
    if study.has_heartbeat:
        _fail_stale(study)
        return
    for trial in trials(study, TrialState.RUNNING):
        why = "found RUNNING when the sweep restarted"
        study.on_orphan(trial.user_attrs.get("mlflow_run_id"), why)
        study.storage.set_trial_state_values(study.trial_id(trial.number), TrialState.FAIL)


def queue_missing(study: Study) -> None:
    """Queue the grid points with no finished, running or queued trial, largest lr first
    across all activations: fast learners finish early and give the pruner its references
    sooner."""
    grid = study.config.grid
    held = trials(study, *FINISHED, TrialState.RUNNING, TrialState.WAITING, of_phase=GRID)
    taken = {grid_point(t) for t in held}
    for activation, lr in sorted(grid, key=lambda p: (-p[1], grid.index(p))):
        if (activation, lr) not in taken:
            point = {"activation": activation, "lr": lr}
            study.optuna_study.enqueue_trial(point, user_attrs=point)


def stack_key(trial) -> tuple:
    """What trials trained as one stack share: the phase, and a replicate's seed and budget
    (stacked trials see the same batches for the same number of epochs)."""
    attrs = trial.user_attrs
    return phase(trial), attrs.get("seed"), attrs.get("max_epochs"), attrs.get("patience")


def claim(study: Study, count: int = 1) -> list[Trial]:
    """Fail orphaned trials; with nothing queued, queue the replicates if the grid is finished;
    then take up to `count` queued trials that can train as one stack (none left: an empty
    list). Atomic: where workers race for a trial, the storage (or the lock) lets one win."""
    claimed: list[Trial] = []
    with study.lock():
        if study.has_heartbeat:
            _fail_stale(study)
        waiting = trials(study, TrialState.WAITING)
        if not waiting and queue_replicates(study):
            waiting = trials(study, TrialState.WAITING)
        key = None
        for trial in waiting:
            if len(claimed) == count:
                break
            if key is not None and stack_key(trial) != key:
                continue
            trial_id = study.trial_id(trial.number)
            try:
                if study.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                    claimed.append(Trial(study.optuna_study, trial_id))
                    key = stack_key(trial)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
    return claimed


@contextlib.contextmanager
def heartbeat(study: Study, *claimed: Trial) -> Iterator[None]:
    """Record the trials' heartbeats every interval while the block runs (RDB storages)."""
    if not study.has_heartbeat:
        yield
        return
    stop = threading.Event()
    trial_ids = [study.trial_id(trial.number) for trial in claimed]

    def beat() -> None:
        while True:
            for trial_id in trial_ids:
                study.storage.record_heartbeat(trial_id)
            if stop.wait(study.storage.get_heartbeat_interval()):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
