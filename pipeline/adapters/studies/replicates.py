"""The replicate phase of a study: once the grid is finished, each activation's chosen
configuration (lr and every other swept setting) is trained again with more seeds (the same
seeds for every activation) at a budget of its own.

The replicates can be queued only then, when the grid's best per activation is known. Whichever
process claims next after the grid's last trial is told (normally the one that told it) queues
them, under the study's lock, so exactly once however many workers, on however many machines.
Each is a trial of the study like the grid's: claimed, heartbeaten, retried when its worker
dies. Its user attrs say what it is (`phase`, `seed`, `max_epochs`, `patience`): the pruner
leaves it alone and a worker trains it at its own seed and budget.
"""

from typing import Any

from optuna.trial import FrozenTrial

from pipeline.adapters.studies.queries import (
    FINISHED,
    PENDING,
    BestTrial,
    best_trials,
    grid_finished,
    trials,
)
from pipeline.adapters.studies.study import Study
from pipeline.core.schema.search_space import SWEEPABLE, point_key
from pipeline.core.schema.vocabulary import Phase, UserAttr

POINT = ("activation", *SWEEPABLE)  # what a replicate's user attrs hold of its point

# A study attribute: the replicate seeds asked for (`make confirm SEEDS=5`), read by every
# worker, so a machine whose sweep file says fewer still queues them all.
SEEDS_ATTR = "replicate_seeds"


def seed_count(study: Study) -> int:
    """Replicate seeds per activation: the sweep file's, or more where the study was asked."""
    return max(study.config.replicate_seeds, int(study.attr(SEEDS_ATTR) or 0))


def ask_for_seeds(study: Study, count: int) -> None:
    """Raise the study's replicate seeds to `count` (never lowers them: runs stay)."""
    if count > seed_count(study):
        study.set_attr(SEEDS_ATTR, str(count))


# A replicate's user attrs beside its point (a replicate queued before lr_schedule was one of
# them trained at the default, "constant").
BUDGET = (UserAttr.PHASE, "seed", "max_epochs", "patience", "lr_schedule")


def replicate_key(trial: FrozenTrial) -> tuple[Any, ...]:
    """A replicate's activation, lr and seed, then its other settings."""
    return _key(trial.user_attrs)


def _point(best: BestTrial) -> dict[str, Any]:
    """A best trial's point as a replicate is queued with it (its seed is the replicate's)."""
    return {"activation": best.activation, **{k: v for k, v in best.params.items() if k != "seed"}}


def plan(study: Study) -> list[dict[str, Any]]:
    """The replicate trials the study should hold, as the user attrs they are queued with:
    seed by seed, each seed every activation with a completed grid trial (at its best
    configuration)."""
    config, best = study.config, best_trials(study)
    return [
        {
            UserAttr.PHASE: Phase.REPLICATE,
            **_point(best[activation]),
            "seed": seed,
            "max_epochs": config.replicate_max_epochs,
            "patience": config.replicate_patience,
            "lr_schedule": config.replicate_lr_schedule,
        }
        for seed in config.replicate_seed_list(seed_count(study))
        for activation in config.activations
        if activation in best
    ]


def missing_replicates(study: Study, retry_failed: bool = False) -> list[dict[str, Any]]:
    """The planned replicates without a trial (with `retry_failed`: without a finished, running
    or queued one); none before the grid is finished."""
    if not grid_finished(study):
        return []
    states = (*FINISHED, *PENDING) if retry_failed else ()
    held = {replicate_key(t) for t in trials(study, *states, of_phase=Phase.REPLICATE)}
    return [a for a in plan(study) if _key(a) not in held]


def _key(attrs: dict[str, Any]) -> tuple[Any, ...]:
    """(activation, lr, seed), then the other settings of the point as (key, value) pairs."""
    rest = {k: v for k, v in attrs.items() if k in POINT and k not in ("activation", "lr", "seed")}
    return (attrs["activation"], float(attrs["lr"]), int(attrs["seed"]), *point_key(rest))


def queue_replicates(study: Study, retry_failed: bool = False) -> int:
    """Queue the missing replicates; how many. A claim queues only those never queued, so a
    replicate that keeps failing is not retried forever; a rerun's preparation also retries the
    failed ones (`retry_failed`), as it queues the grid's open points again. Call under the
    study's lock."""
    todo = missing_replicates(study, retry_failed)
    for attrs in todo:
        point = {key: value for key, value in attrs.items() if key not in BUDGET}
        study.optuna_study.enqueue_trial(point, user_attrs=attrs)
    return len(todo)
