"""The Study handle: opening, user attributes, trial ids, suggest and tell."""

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


def test_suggest_tell_and_trial_ids(make_study):
    study = make_study(activations=("relu",), lrs=(0.01, 0.1))
    studies.queue_missing(study)
    first, second = studies.claim(study, 2)
    assert study.storage.get_trial(study.trial_id(second.number)).number == second.number
    assert study.suggest_point(first) == ("relu", 0.1)
    assert study.suggest_point(second) == ("relu", 0.01)
    study.tell(first, "COMPLETE", 0.9)
    study.tell(second, "FAIL", 0.5)  # a value is kept for COMPLETE only
    done, failed = studies.trials(study)
    assert (done.state, done.value) == (TrialState.COMPLETE, 0.9)
    assert (failed.state, failed.value) == (TrialState.FAIL, None)


def test_the_lock_is_a_file_beside_a_local_storage(make_study, tmp_path):
    study = make_study()
    with study.lock():
        assert (tmp_path / "unit.db.claims.lock").exists()
