"""Questions asked of a store: runs of an experiment as a table, the newest trained run per
activation, a metric at one step, which experiment holds a run."""

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.adapters.tracking.runs import Tracker
from pipeline.adapters.tracking.store import first_line, sqlite_database, using_store
from pipeline.core.errors import PipelineError
from pipeline.core.urls import redact


def search_runs(tracker: Tracker, filter_string: str) -> pd.DataFrame:
    """Runs of the tracker's experiment as a DataFrame (columns params.*, metrics.*, tags.*)."""
    with using_store(tracker.uri):
        return mlflow.search_runs(
            experiment_ids=[tracker.experiment_id],
            filter_string=filter_string,
            output_format="pandas",
        )


def metric_at_step(tracker: Tracker, run_id: str, key: str, step: int) -> float:
    """The value `key` was logged with at `step` (from its history); NaN where it was not."""
    history = tracker.client.get_metric_history(run_id, key)
    return next((m.value for m in history if m.step == step), float("nan"))


def latest_trained_runs(tracker: Tracker, activations: tuple[str, ...]) -> dict[str, str]:
    """Per activation, the newest finished training run that has a checkpoint."""
    found: dict[str, str] = {}
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        "tags.stage = 'train' and attributes.status = 'FINISHED' and metrics.test_acc >= 0",
        order_by=["attributes.start_time DESC"],
        max_results=5000,
    )
    for run in runs:
        activation = run.data.params.get("activation")
        if activation in activations and activation not in found:
            found[activation] = run.info.run_id
    return found


def run_experiment(uri: str, run_id: str) -> str | None:
    """The name of the experiment that holds `run_id` in the store at `uri`; None where the store
    does not have it (or has it deleted). Creates nothing: a SQLite store that does not exist
    yet is not made to answer."""
    database = sqlite_database(uri)
    if database and not database.is_file():
        return None
    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
        if run.info.lifecycle_stage == "deleted":
            return None
        return client.get_experiment(run.info.experiment_id).name
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise PipelineError(
            f"tracking store {redact(uri)} failed: {first_line(error.message)}"
        ) from None
