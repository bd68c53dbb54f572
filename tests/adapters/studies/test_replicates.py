"""The replicate phase: queued once the grid is finished, by a claim, under the study's lock; each
activation's best lr with the same seeds; trained at their own seed and budget; retried as the
grid is."""

import pytest
from optuna.trial import TrialState

from pipeline.adapters import studies

REPLICATES = {
    "replicate_seeds": 2,
    "replicate_max_epochs": 7,
    "replicate_patience": 4,
    "replicate_lr_schedule": "cosine",
}


def finish_next(study: studies.Study, values: dict[tuple[str, float], float]) -> None:
    """Claim the next queued trial and complete it with the value of its point."""
    [trial] = studies.claim(study)
    point = (trial.activation, trial.lr)
    study.set_run_id(trial, f"run-{trial.number}")
    study.tell(trial, "COMPLETE", values.get(point, 0.5))


# relu's best lr is 0.01, tanh's 0.1
GRID_VALUES = {("relu", 0.1): 0.80, ("tanh", 0.1): 0.85, ("relu", 0.01): 0.88, ("tanh", 0.01): 0.7}


def finished_grid(make_study, kind: str = "sqlite", **values) -> studies.Study:
    study = make_study(kind, **{**REPLICATES, **values})
    studies.queue_missing(study)
    for _ in range(4):
        finish_next(study, GRID_VALUES)
    return study


def replicates(study: studies.Study, *states: TrialState) -> list:
    return studies.trials(study, *states, of_phase="replicate")


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_the_first_claim_after_the_grid_queues_each_best_lr_seed_by_seed(make_study, kind):
    study = make_study(kind, **REPLICATES)
    studies.queue_missing(study)
    for _ in range(3):
        finish_next(study, GRID_VALUES)
    [last] = studies.claim(study)
    assert studies.claim(study) == [], "the grid's last trial still runs: nothing to queue"
    assert replicates(study) == [] and not studies.grid_finished(study)
    study.set_run_id(last, "run-3")
    study.tell(last, "COMPLETE", GRID_VALUES[("tanh", 0.01)])
    assert studies.grid_finished(study)

    [first] = studies.claim(study)
    queued = replicates(study)
    assert [studies.replicate_key(t) for t in queued] == [
        ("relu", 0.01, 43),
        ("tanh", 0.1, 43),
        ("relu", 0.01, 44),
        ("tanh", 0.1, 44),
    ], "the grid's best lr, the same seeds for every activation, seed by seed"
    assert first.number == queued[0].number == 4, "numbered after the grid"
    assert queued[0].user_attrs == {
        "phase": "replicate",
        "activation": "relu",
        "lr": 0.01,
        "seed": 43,
        "max_epochs": 7,
        "patience": 4,
        "lr_schedule": "cosine",
    }
    config = first.config
    assert (config.activation, config.lr, config.seed) == ("relu", 0.01, 43)
    assert (config.max_epochs, config.patience) == (7, 4), "the replicates' own budget"
    assert config.lr_schedule == "cosine", "and their own schedule"
    assert study.config.train.lr_schedule == "constant", "the grid's stays the seed's"
    assert config.hidden_sizes == study.config.train.hidden_sizes


def test_replicates_are_queued_exactly_once_however_often_a_claim_asks(make_study):
    study = finished_grid(make_study)
    claimed = []
    while trials := studies.claim(study):
        claimed += trials
    assert len(claimed) == 4 and len(replicates(study)) == 4
    for trial in claimed:
        study.tell(trial, "COMPLETE", 0.9)
    assert studies.claim(study) == [] and len(replicates(study)) == 4
    studies.queue_replicates(study, retry_failed=True)  # a rerun's preparation
    assert len(studies.trials(study)) == 8, "a rerun after the replicates adds nothing"


def test_a_stack_holds_one_seed_and_budget(make_study):
    study = finished_grid(make_study)
    first = studies.claim(study, 3)
    second = studies.claim(study, 3)
    assert [t.seed for t in first] == [43, 43]
    assert [t.seed for t in second] == [44, 44]
    frozen = study.optuna_study.trials
    assert len({studies.stack_key(frozen[t.number], study.config) for t in first + second}) == 2


def test_a_failed_replicate_is_retried_by_a_rerun_not_by_every_claim(make_study):
    study = finished_grid(make_study)
    [trial] = studies.claim(study)
    study.tell(trial, "FAIL")
    rest = studies.claim(study, 10) + studies.claim(study, 10)
    assert len(rest) == 3 and studies.claim(study) == [], "no endless retries by claims"
    assert studies.queue_replicates(study, retry_failed=True) == 1
    [retry] = studies.claim(study)
    assert studies.replicate_key(studies.trials(study)[retry.number]) == ("relu", 0.01, 43)


def test_more_seeds_asked_of_a_study_reach_every_worker(make_study):
    study = finished_grid(make_study)
    studies.ask_for_seeds(study, 3)
    studies.ask_for_seeds(study, 1)  # never lowers it
    elsewhere = make_study(create=False, **REPLICATES)  # a worker whose file says 2
    assert studies.seed_count(elsewhere) == 3
    studies.claim(elsewhere)
    assert sorted({studies.replicate_key(t)[2] for t in replicates(study)}) == [43, 44, 45]


def test_an_activation_without_a_completed_grid_trial_gets_no_replicates(make_study):
    study = make_study(**REPLICATES)
    studies.queue_missing(study)
    for _ in range(4):
        [trial] = studies.claim(study)
        activation = trial.activation
        study.set_run_id(trial, "run")
        study.tell(trial, *(("COMPLETE", 0.8) if activation == "relu" else ("PRUNED",)))
    studies.claim(study)
    assert {studies.replicate_key(t)[0] for t in replicates(study)} == {"relu"}


def test_no_replicates_without_seeds(make_study):
    study = finished_grid(make_study, replicate_seeds=0)
    assert studies.claim(study) == [] and replicates(study) == []


def test_a_replicate_queued_without_a_schedule_trains_at_a_held_lr(make_study):
    """A study's replicates queued before `lr_schedule` was one of their attrs trained at the
    held lr, the only schedule there was: a worker resuming one trains it so."""
    study = make_study(**{**REPLICATES, "replicate_lr_schedule": "constant"})
    old = {"phase": "replicate", "activation": "tanh", "lr": 0.1, "seed": 43}
    study.optuna_study.enqueue_trial(
        {"activation": "tanh", "lr": 0.1}, user_attrs={**old, "max_epochs": 7, "patience": 4}
    )
    [trial] = studies.claim(study)
    config = trial.config
    assert (config.seed, config.max_epochs, config.lr_schedule) == (43, 7, "constant")
