"""The Study handle: opening, user attributes, trial ids, the trials it hands out and what it
is told of them."""

import dataclasses

import pytest
from optuna.trial import TrialState

from pipeline.adapters import studies
from pipeline.core.process.errors import PipelineError


def test_a_study_that_does_not_exist_is_one_error_and_leaves_no_file(make_study, tmp_path):
    with pytest.raises(PipelineError, match="study 'unit' does not exist in sqlite:///"):
        make_study(create=False)
    assert not (tmp_path / "unit.db").exists()


def test_a_study_is_created_once_and_loaded_after(make_study):
    created = make_study()
    created.set_attr("mlflow_parent_run_id", "parent")
    loaded = make_study(create=False)
    assert loaded.attr("mlflow_parent_run_id") == "parent" and loaded.attr("other") is None
    assert loaded.study_id == created.study_id and loaded.has_heartbeat
    assert isinstance(loaded.optuna_study.pruner, studies.PerActivationMedianPruner)


def test_claimed_trials_and_trial_ids(make_study):
    study = make_study(activations=("relu",), lrs=(0.01, 0.1))
    studies.queue_missing(study)
    first, second = studies.claim(study, 2)
    assert study.storage.get_trial(study.trial_id(second.number)).number == second.number
    assert (first.activation, first.lr) == ("relu", 0.1)
    assert (second.activation, second.lr) == ("relu", 0.01)
    study.tell(first, "COMPLETE", 0.9)
    study.tell(second, "FAIL", 0.5)  # a value is kept for COMPLETE only
    done, failed = studies.trials(study)
    assert (done.state, done.value) == (TrialState.COMPLETE, 0.9)
    assert (failed.state, failed.value) == (TrialState.FAIL, None)


def test_a_claimed_trial_is_the_projects_own_and_goes_back_through_its_study(make_study):
    """A claimed trial carries plain values (its point and training config), no Optuna object;
    what a worker says of it (its run, its worker, its epochs, how it ended) goes back through
    the study that claimed it, and a told trial is no longer held."""
    study = make_study(activations=("relu",), lrs=(0.01,))
    studies.queue_missing(study)
    [trial] = studies.claim(study)
    assert {f.name for f in dataclasses.fields(trial)} == {"number", "phase", "point", "config"}
    assert (trial.phase, trial.point) == ("grid", {"activation": "relu", "lr": 0.01})
    assert (trial.config.activation, trial.config.lr, trial.seed) == ("relu", 0.01, 42)
    study.set_run_id(trial, "run-0")
    study.set_worker(trial, "host:1")
    study.report(trial, 0.5, 1)
    assert not study.should_prune(trial) and study.run_id(trial) == "run-0"
    study.tell(trial, "PRUNED", reason="pruned at epoch 1", at_chance=False)
    [told] = studies.trials(study)
    assert (told.state, told.intermediate_values) == (TrialState.PRUNED, {1: 0.5})
    assert told.user_attrs["mlflow_run_id"] == "run-0" and told.user_attrs["worker"] == "host:1"
    assert told.user_attrs["stop_reason"] == "pruned at epoch 1"
    assert told.user_attrs["at_chance"] is False
    assert study.run_id(trial) is None, "told: no longer held"
    with pytest.raises(KeyError):
        study.tell(trial, "FAIL")


def test_the_lock_is_a_file_beside_a_local_storage(make_study, tmp_path):
    study = make_study()
    with study.lock():
        assert (tmp_path / "unit.db.claims.lock").exists()
