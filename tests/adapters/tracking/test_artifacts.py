import pytest
from mlflow.exceptions import MlflowException

from pipeline.adapters import tracking
from pipeline.core.dataset import data
from pipeline.core.schema.config import DEFAULT_TRACKING_URI


class RacingClient:
    """MLflow's client, but its first log_inputs fails as the store answers a worker that lost
    the race to create a dataset row (or with another error, given)."""

    def __init__(self, client, message: str):
        self.client, self.message, self.calls = client, message, 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def log_inputs(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            raise MlflowException(self.message)
        return self.client.log_inputs(*args, **kwargs)


def a_run(workdir):
    tracker = tracking.Tracker("test-exp", DEFAULT_TRACKING_URI)
    run = tracker.client.create_run(tracker.experiment_id)
    return tracker, run.info.run_id


def test_a_dataset_another_worker_just_created_is_linked_on_a_second_try(workdir, tiny_data):
    tracker, run_id = a_run(workdir)
    real = tracker.client
    tracker.client = RacingClient(real, "UNIQUE constraint failed: datasets.experiment_id, ...")
    tracking.log_dataset(tracker, run_id, data.load_splits(tiny_data))
    assert tracker.client.calls == 2
    [logged] = real.get_run(run_id).inputs.dataset_inputs
    assert logged.dataset.digest == data.locate(tiny_data).digest[:16]


def test_any_other_store_error_is_not_retried(workdir, tiny_data):
    tracker, run_id = a_run(workdir)
    tracker.client = RacingClient(tracker.client, "database is locked")
    with pytest.raises(MlflowException, match="database is locked"):
        tracking.log_dataset(tracker, run_id, data.load_splits(tiny_data))
    assert tracker.client.calls == 1
