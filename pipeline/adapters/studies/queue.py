"""The study's queue and the claims on it: fail the trials whose worker died, queue the grid
points that have no trial (or a sampler's trials per activation), claim queued trials for a
worker (drawing a sampler's points then; the replicates queued first once the grid is
finished), and keep the claimed trials' heartbeats while they train."""

import contextlib
import math
import statistics
import threading
from collections.abc import Iterator
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from pipeline.adapters.studies import space
from pipeline.adapters.studies.logs import experimental_features
from pipeline.adapters.studies.outages import outlasting
from pipeline.adapters.studies.queries import (
    FINISHED,
    GRID_PHASES,
    PENDING,
    activation_count,
    pending_count,
    phase,
    point_of,
    space_keys,
    trials,
)
from pipeline.adapters.studies.replicates import queue_replicates
from pipeline.adapters.studies.study import ClaimedTrial, Study
from pipeline.core.process.errors import PipelineError
from pipeline.core.schema.config import LOSS_SETTINGS, OPTIMIZER_FAMILIES
from pipeline.core.schema.search_space import param_text, point_key
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import GRID_SAMPLER, Phase, UserAttr


def fail_stale(study: Study) -> None:
    """Fail the trials whose heartbeats stopped; the storage's callback queues their retries."""
    with experimental_features():
        optuna.storages.fail_stale_trials(study.optuna_study)


def fail_orphans(study: Study) -> None:
    """Fail trials whose worker died (queuing retries). A journal file has no heartbeats:
    a RUNNING trial there at start-up is an orphan. Call under the study's lock."""
    if study.has_heartbeat:
        fail_stale(study)
        return
    for trial in trials(study, TrialState.RUNNING):
        why = "found RUNNING when the sweep restarted"
        study.on_orphan(trial.user_attrs.get(UserAttr.MLFLOW_RUN_ID), why)
        study.storage.set_trial_state_values(study.trial_id(trial.number), TrialState.FAIL)


def queue_missing(study: Study) -> None:
    """Queue what the grid phase lacks. A grid: the points with no finished, running or queued
    trial, from the middle of the lr range outwards (middle_out) across all activations. A
    sampler: each activation's missing trials, as placeholders
    naming only their activation (the point is drawn at claim time), taking turns across the
    activations so each progresses at the same pace."""
    config, keys = study.config, space_keys(study)
    held = [
        t
        for t in trials(study, *FINISHED, TrialState.RUNNING, TrialState.WAITING)
        if phase(t) in GRID_PHASES
    ]
    if config.sampler != GRID_SAMPLER:
        missing = {
            a: config.trials_per_activation - activation_count(held, a) for a in config.activations
        }
        for turn in range(max(missing.values(), default=0)):
            for activation in config.activations:
                if turn < missing[activation]:
                    point = {"activation": activation}
                    study.optuna_study.enqueue_trial(point, user_attrs=point)
        return
    grid = config.grid
    taken = {point_of(t, keys, config.train.optimizer) for t in held}
    for point in middle_out(grid):
        if point_key(point) not in taken:
            params = {key: param_text(key, value) for key, value in point.items()}
            study.optuna_study.enqueue_trial(
                params, user_attrs={**params, **_reference(study, point)}
            )


def _reference(study: Study, point: dict[str, Any]) -> dict[str, Any]:
    """A point at the reference lr, where the sweep gives that lr a protocol of its own: its
    phase and budget (user attrs, as a replicate's); {} for any other point."""
    budget = study.config.reference_budget
    if budget is None or point["lr"] != study.config.reference_lr:
        return {}
    return {UserAttr.PHASE: Phase.REFERENCE, **budget}


def middle_out(grid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grid's points by the distance of their lr from the middle of the grid's lrs (the
    median of their logs), the larger lr first of two as far, in grid order otherwise. A
    middle lr is the likeliest to train well: run first, it is the reference the pruner
    holds an activation's worse lrs against, where an edge run first has none and trains
    to the end (docs/sweep.md says what it saved)."""
    logs = sorted({math.log(point["lr"]) for point in grid})
    if not logs:
        return []
    middle = statistics.median(logs)
    # rounded: two lrs as far from the middle must tie, whatever the logs' last bits say
    return sorted(grid, key=lambda p: (round(abs(math.log(p["lr"]) - middle), 9), -p["lr"]))


def stack_key(trial: FrozenTrial, config: SweepConfig) -> tuple[Any, ...]:
    """What trials trained as one stack share: the phase, the seed, budget and lr schedule
    (stacked trials see the same batches for the same number of epochs, at one lr factor), the
    network's and the batches' shapes, the optimizer's family (SGD's state is not Adam's) and
    the precision (one autocast region serves the whole stack) and the loss's settings."""
    attrs, values = trial.user_attrs, {**trial.user_attrs, **trial.params}
    train = config.train

    def setting(key: str) -> Any:
        return param_text(key, values.get(key, getattr(train, key)))

    return (
        phase(trial),
        setting("seed"),
        attrs.get("max_epochs"),
        attrs.get("patience"),
        attrs.get("lr_schedule", train.lr_schedule),
        setting("batch_size"),
        setting("hidden_sizes"),
        OPTIMIZER_FAMILIES[setting("optimizer")],
        setting("precision"),
        *(setting(key) for key in LOSS_SETTINGS),  # one loss serves the whole stack
    )


def _drawn(study: Study, trial: FrozenTrial, peers: list[FrozenTrial]) -> FrozenTrial:
    """A queued placeholder given its point, drawn by the sampler from its activation's trials
    (`peers`, to which it is added); it stays queued, its params set."""
    activation = trial.user_attrs["activation"]
    mine = [t for t in peers if t.params.get("activation") == activation]
    seed = (study.config.base_seed * 100_003 + trial.number) % 2**31
    point = {"activation": activation, **space.draw_point(study.config, mine, seed)}
    found = {
        "activation": CategoricalDistribution(study.activation_choices),
        **space.distributions(study.config),
    }
    trial_id = study.trial_id(trial.number)
    for key, value in point.items():
        study.storage.set_trial_param(trial_id, key, found[key].to_internal_repr(value), found[key])
    drawn = study.storage.get_trial(trial_id)
    peers.append(drawn)
    return drawn


def _needs_point(study: Study, trial: FrozenTrial) -> bool:
    """A sampler's placeholder not drawn yet (a retry keeps the point of the trial it retries)."""
    return (
        study.config.sampler != GRID_SAMPLER
        and phase(trial) == Phase.GRID
        and "lr" not in trial.params
    )


def claim(study: Study, count: int = 1, replicates: int | None = None) -> list[ClaimedTrial]:
    """Fail orphaned trials; with nothing queued, queue the replicates if the grid is finished;
    then take up to `count` queued trials that can train as one stack (`replicates` of them
    where the first is a replicate, `count` if None; none left: an empty list), drawing a
    sampler's points for the placeholders it takes (at most `count` a claim). Atomic: where
    workers race for a trial, the storage (or the lock) lets one win. Each is handed out with
    its point and training config, its Optuna trial held by the study (`Study.hold`)."""
    claimed: list[Trial] = []
    with study.lock():
        if study.has_heartbeat:
            fail_stale(study)
        waiting = trials(study, TrialState.WAITING)
        if not waiting and queue_replicates(study):
            waiting = trials(study, TrialState.WAITING)
        key, draws, peers = None, 0, None
        for trial in waiting:
            if len(claimed) == count:
                break
            if _needs_point(study, trial):
                if draws == count:
                    continue
                if peers is None:
                    peers = trials(study, *FINISHED, *PENDING, of_phase=Phase.GRID)
                trial, draws = _drawn(study, trial, peers), draws + 1
            if key is not None and stack_key(trial, study.config) != key:
                continue
            trial_id = study.trial_id(trial.number)
            try:
                if study.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                    claimed.append(Trial(study.optuna_study, trial_id))
                    key = stack_key(trial, study.config)
                    if phase(trial) == Phase.REPLICATE and replicates is not None:
                        count = replicates
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
    return [study.hold(trial) for trial in claimed]


def idle(study: Study) -> bool:
    """Whether no trial of the study runs or waits, read under the study's lock: a stale trial
    being failed (under the lock) is read before, running, or after, its retry queued."""
    with study.lock():
        return not pending_count(study)


@contextlib.contextmanager
def heartbeat(study: Study, *claimed: ClaimedTrial) -> Iterator[None]:
    """Record the trials' heartbeats every interval while the block runs (RDB storages)."""
    if not study.has_heartbeat:
        yield
        return
    stop = threading.Event()
    trial_ids = [study.trial_id(trial.number) for trial in claimed]
    storage = study.storage
    assert isinstance(storage, RDBStorage)  # has_heartbeat: only an RDB storage beats

    def beat() -> None:
        while True:
            for trial_id in trial_ids:
                # A server away longer than the outage allowance: the trial goes stale and is
                # retried elsewhere, which is what its heartbeat is for.
                with contextlib.suppress(PipelineError):
                    outlasting(study, storage.record_heartbeat, trial_id)
            if stop.wait(storage.get_heartbeat_interval()):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
