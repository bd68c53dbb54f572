"""Runs of one experiment in one store: started, ended (one way: `run_scope`), reopened, and
fed params, tags, metrics and, while they train, MLflow's system metrics."""

import contextlib
import getpass
import importlib.util
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import mlflow
from mlflow.entities import Experiment, Metric, Param, RunTag
from mlflow.environment_variables import MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.adapters.tracking.store import (
    EXPERIMENT_KIND,
    MODEL_TRAINING,
    check_tracking_uri,
    git_commit,
    mark_model_training,
    new_experiment_location,
    resolve_uri,
    sqlite_database,
    store_failed,
    using_store,
)
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.urls import redact
from pipeline.core.schema.vocabulary import StopReason, Tag


@dataclass
class Run:
    run_id: str
    status: str = "FINISHED"  # how the run ends if no exception escapes its scope


def check_not_deleted(experiment: Experiment | None, uri: str) -> None:
    """A deleted experiment (`mlflow experiments delete`) takes no runs: one line saying how to
    restore it."""
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        raise PipelineError(
            f"experiment {experiment.name!r} (id {experiment.experiment_id}) in {redact(uri)} is "
            f"deleted; restore it (`mlflow experiments restore -x {experiment.experiment_id}`, "
            "with MLFLOW_TRACKING_URI set to this store) or give another experiment name"
        )


def check_experiment(name: str, uri: str) -> None:
    """Before anything is written elsewhere: the experiment, if it exists, is not deleted (a
    local store not made yet holds none, and is not made here)."""
    uri = resolve_uri(uri)
    database = sqlite_database(uri)
    if database is None or database.is_file():
        try:
            found = MlflowClient(uri).get_experiment_by_name(name)
        except MlflowException as error:
            raise store_failed(uri, error) from None
        check_not_deleted(found, uri)


class Tracker:
    """One experiment in one store: its URI, a client on it and the experiment's id (found, or
    created once). Making one changes nothing in MLflow's process-wide state."""

    def __init__(self, experiment: str, uri: str, create: bool = True):
        """`create=False` for a tracker that only reads: a store or an experiment that is not
        there yet is an error, and none is made."""
        self.uri = resolve_uri(uri)
        check_tracking_uri(self.uri, create=create)
        database = sqlite_database(self.uri)
        if not create and database and not database.is_file():
            raise PipelineError(
                f"there is no tracking store {database} yet (`make sweep` or `make train` "
                "creates it)"
            )
        self.client = MlflowClient(self.uri)
        try:
            self.experiment_id = self._experiment_id(experiment, create)
        except MlflowException as error:
            raise store_failed(self.uri, error) from None

    def _experiment_id(self, name: str, create: bool) -> str:
        """The experiment's id, created if need be (unless not `create`), in the UI's
        model-training layout."""
        found = self.client.get_experiment_by_name(name)
        check_not_deleted(found, self.uri)
        if found is not None:
            mark_model_training(self.client, found)
            return found.experiment_id
        if not create:
            raise PipelineError(f"no experiment {name!r} in {redact(self.uri)} yet")
        try:
            return self.client.create_experiment(
                name,
                artifact_location=new_experiment_location(self.client, self.uri),
                tags={EXPERIMENT_KIND: MODEL_TRAINING},
            )
        except MlflowException:  # another worker created it first
            found = self.client.get_experiment_by_name(name)
            assert found is not None  # it exists: creating it failed for that
            return found.experiment_id

    def start_run(
        self,
        name: str,
        stage: str,
        params: dict[str, str],
        tags: dict[str, str],
        description: str,
        parent_run_id: str | None = None,
    ) -> str:
        all_tags = {
            Tag.STAGE: stage,
            "git_commit": git_commit(),
            "mlflow.source.git.commit": git_commit(),
            # The UI's "Source" and "Created by": the stage, never a machine path.
            "mlflow.source.name": f"pipeline stage {stage}",
            "mlflow.source.type": "LOCAL",
            "mlflow.user": getpass.getuser(),
            "mlflow.note.content": description,
            **tags,
        }
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        self.log_params(run.info.run_id, params)
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        """One call for many keys (~0.1 ms a key, against ~4 ms per single-metric call)."""
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=batch)

    @contextlib.contextmanager
    def run_scope(
        self,
        name: str,
        stage: str,
        params: dict[str, str],
        tags: dict[str, str],
        description: str,
        parent_run_id: str | None = None,
        system_metrics: bool = False,
    ) -> Iterator[Run]:
        """The one way a run ends: `run.status` (FINISHED unless set) when the block does,
        KILLED on Ctrl-C or SIGTERM, FAILED on any other exception, with a stop_reason tag.
        With `system_metrics`, MLflow samples the machine's load while the block runs."""
        run = Run(self.start_run(name, stage, params, tags, description, parent_run_id))
        end: Callable[[str, str], None] = self.end_run
        try:
            if system_metrics and self._monitor_system(run.run_id):
                end = self._end_monitored
            yield run
        except KeyboardInterrupt:
            self.set_tags(run.run_id, {Tag.STOP_REASON: StopReason.INTERRUPTED})
            end(run.run_id, "KILLED")
            raise
        except BaseException as error:
            self.set_tags(run.run_id, {Tag.STOP_REASON: f"error: {type(error).__name__}"})
            end(run.run_id, "FAILED")
            raise
        end(run.run_id, run.status)

    def _monitor_system(self, run_id: str) -> bool:
        """Start MLflow's system-metrics logging on the run: `system/cpu_utilization_percentage`,
        `system/system_memory_usage_megabytes`, disk and network and, where nvidia-ml-py finds a
        GPU, `system/gpu_0_utilization_percentage` and `system/gpu_0_memory_usage_megabytes`, one
        sample every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds. MLflow documents one way to
        attach it to a run, `mlflow.start_run(log_system_metrics=True)`, which resumes the run
        made here as this thread's active run until `_end_monitored` (its monitor keeps the
        store's URI it was started with). Off where MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING is set
        false, or psutil is missing."""
        switch = MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING
        if (switch.defined and not switch.get()) or importlib.util.find_spec("psutil") is None:
            return False
        if mlflow.active_run() is not None:  # one per thread: this run goes without the samples
            return False
        try:
            with using_store(self.uri):
                mlflow.start_run(run_id=run_id, log_system_metrics=True)
        except MlflowException:  # e.g. the process set another active experiment: no samples
            return False
        return True

    def _end_monitored(self, run_id: str, status: str) -> None:
        """End the run and stop its system-metrics monitor (which logs what it still holds)."""
        active = mlflow.active_run()
        if active is None or active.info.run_id != run_id:
            self.end_run(run_id, status)
            return
        with using_store(self.uri):
            mlflow.end_run(status)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def reopen_run(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def logged_run(self, run_id: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """(name, params, tags) of a run of this store, in any experiment; one line if the
        store has no such run."""
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            raise PipelineError(
                f"run {run_id} is not in the MLflow store {redact(self.uri)}; give the id of a "
                "run there (the UI shows it on the run's page, `make train` prints run_id=)"
            ) from None
        return run.info.run_name, dict(run.data.params), dict(run.data.tags)

    def run_status(self, run_id: str) -> str | None:
        """RUNNING, FINISHED, FAILED or KILLED; None where this store has no such run."""
        try:
            return str(self.client.get_run(run_id).info.status)
        except MlflowException:
            return None
