"""Runs: params, tags, metrics, figures, arrays, datasets and checkpoints, by run id."""

import contextlib
import getpass
import importlib.util
import io
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.environment_variables import MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.adapters.tracking.store import (
    artifact_root,
    check_tracking_uri,
    first_line,
    git_commit,
    resolve_uri,
)
from pipeline.core.data import Splits
from pipeline.core.errors import PipelineError
from pipeline.core.histograms import save_npz
from pipeline.core.model import MLP, load_checkpoint, save_checkpoint
from pipeline.core.urls import redact
from pipeline.figures import static

DATASET_URL = "https://github.com/zalandoresearch/fashion-mnist"


@dataclass
class Run:
    run_id: str
    status: str = "FINISHED"  # how the run ends if no exception escapes its scope


class Tracker:
    """One experiment in one store."""

    def __init__(self, experiment: str, uri: str):
        self.uri = resolve_uri(uri)
        check_tracking_uri(self.uri)
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(self.uri)
        try:
            self.experiment_id = self._experiment_id(experiment)
        except MlflowException as error:
            raise PipelineError(
                f"tracking store {redact(self.uri)} failed: {first_line(error.message)}"
            ) from None
        # Logged models take their experiment from the fluent API's current one.
        mlflow.set_experiment(experiment_id=self.experiment_id)

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifact_root(self.uri))
        except MlflowException:  # another worker created it first
            return self.client.get_experiment_by_name(name).experiment_id

    # --- runs ---------------------------------------------------------------------------

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
            "stage": stage,
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
        return run.info.run_id

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
    ) -> Iterator["Run"]:
        """The one way a run ends: `run.status` (FINISHED unless set) when the block does,
        KILLED on Ctrl-C or SIGTERM, FAILED on any other exception, with a stop_reason tag.
        With `system_metrics`, MLflow samples the machine's load while the block runs."""
        run = Run(self.start_run(name, stage, params, tags, description, parent_run_id))
        end = self.end_run
        try:
            if system_metrics and self._monitor_system(run.run_id):
                end = self._end_monitored
            yield run
        except KeyboardInterrupt:
            self.set_tags(run.run_id, {"stop_reason": "interrupted"})
            end(run.run_id, "KILLED")
            raise
        except BaseException as error:
            self.set_tags(run.run_id, {"stop_reason": f"error: {type(error).__name__}"})
            end(run.run_id, "FAILED")
            raise
        end(run.run_id, run.status)

    def _monitor_system(self, run_id: str) -> bool:
        """Start MLflow's system-metrics logging on the run: `system/cpu_utilization_percentage`,
        `system/system_memory_usage_megabytes`, disk and network and, where nvidia-ml-py finds a
        GPU, `system/gpu_0_utilization_percentage` and `system/gpu_0_memory_usage_megabytes`, one
        sample every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds. MLflow documents one way to
        attach it to a run, `mlflow.start_run(log_system_metrics=True)`, which resumes the run
        made here as this thread's active run until `_end_monitored`. Off where
        MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING is set false, or psutil is missing."""
        switch = MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING
        if (switch.defined and not switch.get()) or importlib.util.find_spec("psutil") is None:
            return False
        if mlflow.active_run() is not None:  # one per thread: this run goes without the samples
            return False
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_experiment(experiment_id=self.experiment_id)
        mlflow.start_run(run_id=run_id, log_system_metrics=True)
        return True

    def _end_monitored(self, run_id: str, status: str) -> None:
        """End the run and stop its system-metrics monitor (which logs what it still holds)."""
        active = mlflow.active_run()
        if active is None or active.info.run_id != run_id:
            self.end_run(run_id, status)
            return
        mlflow.set_tracking_uri(self.uri)
        mlflow.end_run(status)

    def record_run(
        self,
        name: str,
        stage: str,
        *,
        params: dict[str, str],
        tags: dict[str, str],
        description: str,
        metrics: dict[str, float],
        figures: dict[str, object] | None = None,
        arrays: dict[str, dict[str, np.ndarray]] | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """A whole run at once, for stages that compute first and log after (curves, probe,
        analysis)."""
        with self.run_scope(name, stage, params, tags, description, parent_run_id) as run:
            run_id = run.run_id
            self.log_metrics(run_id, metrics)
            for artifact_file, fig in (figures or {}).items():
                self.log_figure(run_id, fig, artifact_file)
            for artifact_file, values in (arrays or {}).items():
                self.log_npz(run_id, values, artifact_file)
        return run_id

    def latest_trained_runs(self, activations: tuple[str, ...]) -> dict[str, str]:
        """Per activation, the newest finished training run that has a checkpoint."""
        found: dict[str, str] = {}
        runs = self.client.search_runs(
            [self.experiment_id],
            "tags.stage = 'train' and attributes.status = 'FINISHED' and metrics.test_acc >= 0",
            order_by=["attributes.start_time DESC"],
            max_results=5000,
        )
        for run in runs:
            activation = run.data.params.get("activation")
            if activation in activations and activation not in found:
                found[activation] = run.info.run_id
        return found

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def reopen_run(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def run_status(self, run_id: str) -> str | None:
        """RUNNING, FINISHED, FAILED or KILLED; None where this store has no such run."""
        try:
            return self.client.get_run(run_id).info.status
        except MlflowException:
            return None

    def log_figure(self, run_id: str, fig, artifact_file: str) -> None:
        try:
            self.client.log_figure(run_id, fig, artifact_file)
        finally:
            static.close(fig)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """A text artifact, e.g. an HTML page the UI shows inline."""
        self.client.log_text(run_id, text, artifact_file)

    def log_file(self, run_id: str, path: Path, artifact_dir: str) -> None:
        self.client.log_artifact(run_id, str(path), artifact_dir)

    def log_npz(self, run_id: str, arrays: dict[str, np.ndarray], artifact_file: str) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = save_npz(Path(scratch) / Path(artifact_file).name, arrays)
            self.client.log_artifact(run_id, str(path), str(Path(artifact_file).parent))

    def log_dataset(self, run_id: str, splits: Splits) -> None:
        """Fashion-MNIST as an MLflow dataset input: name, digest, source and shape."""
        source = splits.source
        dataset = mlflow.data.from_numpy(
            splits.train_x.cpu().numpy(),
            targets=splits.train_y.cpu().numpy(),
            source=mlflow.data.http_dataset_source.HTTPDatasetSource(DATASET_URL),
            name="fashion-mnist" if source.official else "fashion-mnist-custom",
            digest=source.digest[:16],
        )
        entity = Dataset(**dataset.to_dict())  # name, digest, source type, source, schema, profile
        context = InputTag("mlflow.data.context", "training")
        self.client.log_inputs(run_id, [DatasetInput(entity, [context])])

    # --- models -------------------------------------------------------------------------

    def log_checkpoint(self, run_id: str, model: MLP) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            self.client.log_artifacts(
                run_id, str(save_checkpoint(model, Path(scratch))), "checkpoint"
            )

    def load_run_checkpoint(self, run_id: str) -> MLP:
        """The run's checkpoint, loaded without unpickling code."""
        try:
            self.client.get_run(run_id)
        except MlflowException:
            raise PipelineError(f"run {run_id} not found in {self.uri}") from None
        if not any(a.path == "checkpoint" for a in self.client.list_artifacts(run_id)):
            raise PipelineError(
                f"run {run_id} has no checkpoint (a training run keeps its best epoch's "
                "once it has finished one; one that diverged in its first epoch has none)"
            )
        with tempfile.TemporaryDirectory() as scratch:
            local = self.client.download_artifacts(run_id, "checkpoint", scratch)
            return load_checkpoint(Path(local))

    def metric_at_step(self, run_id: str, key: str, step: int) -> float:
        history = self.client.get_metric_history(run_id, key)
        return next((m.value for m in history if m.step == step), float("nan"))

    def search_runs(self, filter_string: str) -> pd.DataFrame:
        """Runs of this experiment as a DataFrame (columns params.*, metrics.*, tags.*)."""
        return mlflow.search_runs(
            experiment_ids=[self.experiment_id], filter_string=filter_string, output_format="pandas"
        )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow's warnings and its printed notes ("Successfully registered model ...")."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
