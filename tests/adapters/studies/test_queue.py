"""The queue of grid points and the claims on it: queuing, claiming, orphans and heartbeats."""

import time
import warnings

import optuna
from optuna.trial import TrialState

from pipeline.adapters import studies


def queued_points(study: studies.Study) -> list[tuple[str, float]]:
    return [studies.grid_point(t) for t in studies.trials(study, TrialState.WAITING)]


def test_the_grid_is_queued_from_the_middle_lr_outwards_across_activations(make_study):
    study = make_study(activations=("relu", "tanh"), lrs=(0.001, 0.01, 0.03, 0.1, 0.3))
    studies.queue_missing(study)
    order = [0.03, 0.01, 0.1, 0.3, 0.001]  # by |log(lr) - log(0.03)|: 1.10, 1.20, 2.30, 3.40
    assert queued_points(study) == [(a, lr) for lr in order for a in ("relu", "tanh")]


def test_of_two_lrs_as_far_from_the_middle_the_larger_is_queued_first(make_study):
    study = make_study(activations=("relu", "tanh"), lrs=(0.01, 0.1))
    studies.queue_missing(study)
    assert queued_points(study) == [("relu", 0.1), ("tanh", 0.1), ("relu", 0.01), ("tanh", 0.01)]


def test_queue_missing_is_idempotent(make_study):
    study = make_study()
    studies.queue_missing(study)
    studies.queue_missing(study)
    assert len(studies.trials(study)) == 4
    [trial] = studies.claim(study)
    study.tell(trial, "COMPLETE", 0.5)
    studies.queue_missing(study)
    assert studies.counts(study) == {"COMPLETE": 1, "WAITING": 3}, "a finished point stays done"


def test_queue_missing_adds_only_the_points_new_to_the_grid(make_study):
    studies.queue_missing(make_study(activations=("relu",), lrs=(0.01,)))
    study = make_study(activations=("relu",), lrs=(0.01, 0.1))
    studies.queue_missing(study)
    assert queued_points(study) == [("relu", 0.01), ("relu", 0.1)]


def test_a_claim_of_two_from_a_queue_of_three_takes_two_and_leaves_one_waiting(make_study):
    study = make_study(activations=("relu",), lrs=(0.01, 0.03, 0.1))
    studies.queue_missing(study)
    claimed = studies.claim(study, 2)
    assert len(claimed) == 2
    assert [(t.activation, t.lr) for t in claimed] == [("relu", 0.03), ("relu", 0.01)]
    assert studies.counts(study) == {"RUNNING": 2, "WAITING": 1}
    assert len(studies.claim(study, 2)) == 1
    assert studies.claim(study, 2) == []


def test_a_journal_study_claims_without_touching_the_journals_own_lock(make_study, tmp_path):
    """The claim lock is not `<journal>.lock`, where Optuna's journal keeps its own lock: were
    it the same file, Optuna would find it held and wait out its 30 s grace period per write."""
    study = make_study("journal", activations=("relu",), lrs=(0.01, 0.1))
    studies.queue_missing(study)
    claimed = studies.claim(study, 2)
    assert [(t.activation, t.lr) for t in claimed] == [("relu", 0.1), ("relu", 0.01)]
    assert (tmp_path / "unit.journal.claims.lock").exists()
    assert not (tmp_path / "unit.journal.lock").exists(), "Optuna's lock is free between writes"


def test_a_journal_study_fails_the_trials_found_running_when_it_restarts(make_study, orphans):
    """A journal file has no heartbeats: a RUNNING trial at start-up lost its worker."""
    study = make_study("journal", activations=("relu",), lrs=(0.01,))
    assert not study.has_heartbeat
    trial = study.optuna_study.ask()  # a RUNNING trial, as a claim leaves it
    trial.set_user_attr("mlflow_run_id", "run-0")
    with studies.heartbeat(study, trial):  # nothing to record in a journal
        pass
    restarted = make_study("journal", create=False, activations=("relu",), lrs=(0.01,))
    studies.fail_orphans(restarted)
    assert studies.counts(restarted) == {"FAIL": 1}
    assert orphans == [("run-0", "found RUNNING when the sweep restarted")]


def test_a_trial_whose_heartbeats_stopped_is_failed_and_retried_without_warnings(
    make_study, orphans
):
    """Heartbeats, failing stale trials and retrying them are experimental in Optuna: the
    adapter silences ExperimentalWarning where it calls them, and nowhere else."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = make_study(activations=("relu",), lrs=(0.01,), heartbeat_interval=1)
        studies.queue_missing(study)
        [trial] = studies.claim(study)
        study.set_run_id(trial, "run-0")
        with studies.heartbeat(study, trial):
            pass  # one heartbeat, then none
        time.sleep(3)  # past the grace period of two intervals
        [retry] = studies.claim(study)
        studies.fail_orphans(study)
    assert not [w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]
    failed, retried = studies.trials(study)
    assert (failed.state, retried.state) == (TrialState.FAIL, TrialState.RUNNING)
    assert retry.number == retried.number and retried.system_attrs["failed_trial"] == 0
    assert orphans == [("run-0", "its worker stopped sending heartbeats")]
    with warnings.catch_warnings():
        warnings.simplefilter("error", optuna.exceptions.ExperimentalWarning)
        try:
            optuna.storages.fail_stale_trials(study.optuna_study)
        except optuna.exceptions.ExperimentalWarning:
            pass  # Optuna's own call still warns: the silence is local to the adapter
        else:
            raise AssertionError("ExperimentalWarning is silenced globally")
