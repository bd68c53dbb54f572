"""The tracking adapter and MLflow's process-wide state: a Tracker, a tracked training run, a
logged, registered and reloaded model leave MLflow's current store and experiment as they found
them; the process's settings are made once, by `configure_process`, and never over the user's."""

import logging

import mlflow
import pytest
from mlflow.environment_variables import (
    MLFLOW_ALLOW_PICKLE_DESERIALIZATION,
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR,
    MLFLOW_EXPERIMENT_ID,
    MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT,
    MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL,
    MLFLOW_TRACKING_URI,
)

from pipeline.adapters import tracking
from pipeline.adapters.tracking.models import pickle_disallowed
from pipeline.core.dataset import data
from pipeline.core.network.model import build_model
from pipeline.core.schema.config import DEFAULT_TRACKING_URI


def mlflow_state() -> tuple:
    """What MLflow's fluent API would use next: the store, the experiment, the active run."""
    return (
        mlflow.get_tracking_uri(),
        MLFLOW_TRACKING_URI.get_raw(),
        MLFLOW_EXPERIMENT_ID.get_raw(),
        mlflow.active_run(),
    )


def test_a_tracker_is_made_without_touching_mlflow_s_current_store(workdir):
    before = mlflow_state()
    tracker = tracking.Tracker("test-exp", DEFAULT_TRACKING_URI)
    assert tracker.uri == f"sqlite:///{workdir}/mlflow.db"
    assert mlflow_state() == before


def test_runs_models_and_the_registry_leave_the_user_s_store_alone(workdir, tiny_data):
    """A user's own fluent calls, pointed at their own store, still land there after the
    pipeline ran a run with system metrics, logged, registered and loaded its model in the
    project's store; the model lives in the run's experiment."""
    user_store = f"sqlite:///{workdir}/user.db"
    source = data.locate(tiny_data)
    with tracking.using_store(user_store):
        before = mlflow_state()
        tracker = tracking.Tracker("test-exp", DEFAULT_TRACKING_URI)
        params = {"activation": "relu", "lr": "0.05"}
        with tracker.run_scope("train-relu", "train", params, {}, "", system_metrics=True) as run:
            assert mlflow.active_run().info.run_id == run.run_id  # the monitored run
            tracking.log_model(tracker, run.run_id, build_model("relu", (16,), seed=0), source)
        tracking.register_run_model(tracker, run.run_id, ["relu"], source, "mine")
        tracking.load_predictor("models:/mine@relu", DEFAULT_TRACKING_URI)
        assert mlflow_state() == before
        with mlflow.start_run() as mine:
            pass
    assert mine.info.experiment_id == "0"  # the user's store's default experiment
    assert mlflow.MlflowClient(user_store).get_run(mine.info.run_id).info.status == "FINISHED"
    assert tracker.client.get_run(run.run_id).info.status == "FINISHED"
    [model] = tracker.client.search_logged_models(experiment_ids=[tracker.experiment_id])
    assert model.source_run_id == run.run_id and model.name == "model"
    assert model.params == params and model.status == "READY"


def test_using_store_puts_back_what_was_set_and_where(monkeypatch, tmp_path):
    """The URI set in code, the one from MLFLOW_TRACKING_URI alone, or none: each comes back."""
    ours, theirs = f"sqlite:///{tmp_path}/ours.db", f"sqlite:///{tmp_path}/theirs.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with tracking.using_store(ours):
        assert mlflow.get_tracking_uri() == ours
    assert not mlflow.tracking.is_tracking_uri_set()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", theirs)
    with tracking.using_store(ours):
        assert mlflow.get_tracking_uri() == ours
    assert mlflow.get_tracking_uri() == theirs
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # it came from the variable alone
    assert not mlflow.tracking.is_tracking_uri_set()
    with tracking.using_store(theirs):  # a URI set in code, as mlflow.set_tracking_uri does
        with pytest.raises(RuntimeError), tracking.using_store(ours):
            raise RuntimeError
        assert mlflow.get_tracking_uri() == theirs == MLFLOW_TRACKING_URI.get_raw()
        MLFLOW_TRACKING_URI.unset()
        assert mlflow.get_tracking_uri() == theirs


def test_pickle_is_disallowed_for_the_block_only(monkeypatch):
    monkeypatch.delenv(MLFLOW_ALLOW_PICKLE_DESERIALIZATION.name, raising=False)
    with pickle_disallowed():
        assert MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get() is False
    assert not MLFLOW_ALLOW_PICKLE_DESERIALIZATION.defined
    monkeypatch.setenv(MLFLOW_ALLOW_PICKLE_DESERIALIZATION.name, "TRUE")
    with pickle_disallowed():
        assert MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get() is False
    assert MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get_raw() == "TRUE"


def test_configure_process_sets_mlflow_s_defaults_but_never_over_the_user_s(monkeypatch):
    monkeypatch.delenv(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name, raising=False)
    monkeypatch.delenv(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name, raising=False)
    monkeypatch.setenv(MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL.name, "7")
    logging.getLogger("mlflow").setLevel(logging.NOTSET)  # put back to ERROR below
    tracking.configure_process()
    assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get() is False
    assert MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.get() is True
    assert MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL.get() == 7
    assert logging.getLogger("mlflow").level == logging.ERROR
    monkeypatch.delenv(MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL.name)
    tracking.configure_process()
    assert MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL.get() == 2
