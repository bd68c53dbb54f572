"""MLflow, and only here: store setup, runs, metrics, artifacts, models and reloading them.

Stages return plain results; this module records them under ARCHITECTURE.md's names. It talks
to MLflow through an explicit MlflowClient and run ids (not the fluent "active run"), so nested
sweep trials, resumed runs and several workers never depend on hidden global state.
"""

import contextlib
import functools
import getpass
import io
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from pipeline import plots
from pipeline.config import TrainConfig
from pipeline.data import Splits
from pipeline.errors import PipelineError, UsageError
from pipeline.histograms import layer_histograms, save_npz
from pipeline.model import MLP, describe, load_checkpoint, save_checkpoint
from pipeline.train import EpochMetrics, TrainResult
from pipeline.urls import redact, sqlalchemy_url

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
REGISTERED_MODEL = "fashion-mlp"
DATASET_URL = "https://github.com/zalandoresearch/fashion-mnist"
_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "file", "databricks")

logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep the CLI's output to what matters
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# With a tracking server, MLflow prints two "View run ... at" lines (after a GET) per ended run.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI or the local store; SQLite paths made absolute, since MLflow caches
    stores by URI and a relative path would follow whatever directory the process is in;
    a plain postgresql:// gets the psycopg driver this project installs."""
    uri = sqlalchemy_url(os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def check_tracking_uri(uri: str, create: bool = True) -> None:
    """Fail fast, in one line, before anything is written: unknown scheme or unreachable server.
    `create` also makes a SQLite store's directory; without it nothing at all is written."""
    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme not in _SCHEMES:
        raise UsageError(
            f"MLFLOW_TRACKING_URI {redact(uri)!r} has an unsupported scheme; use sqlite:///PATH, "
            "http://HOST:PORT or postgresql://..."
        )
    if scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise PipelineError(
                f"MLflow tracking server {redact(uri)} is unreachable ({reason}); start it, or "
                f"unset MLFLOW_TRACKING_URI to use the local store {DEFAULT_TRACKING_URI}"
            ) from None
    if scheme == "sqlite" and create:
        database = Path(uri.removeprefix("sqlite:///"))
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PipelineError(f"cannot create the tracking store {database}: {error}") from None


def artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite store live beside the database (mlruns/artifacts); others: MLflow's."""
    if not uri.startswith("sqlite:///"):
        return None
    return str(Path(uri.removeprefix("sqlite:///")).parent.resolve() / "artifacts")


@functools.cache
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def model_pip_requirements() -> list[str]:
    """Given explicitly: MLflow's own inference of them costs seconds per logged model."""
    import torchvision

    return [
        f"torch=={torch.__version__.split('+')[0]}",
        f"torchvision=={torchvision.__version__.split('+')[0]}",
        f"mlflow=={mlflow.__version__}",
    ]


class Tracker:
    """One experiment in one store."""

    def __init__(self, experiment: str, uri: str | None = None):
        self.uri = sqlalchemy_url(uri) if uri else tracking_uri()
        check_tracking_uri(self.uri)
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(self.uri)
        try:
            self.experiment_id = self._experiment_id(experiment)
        except MlflowException as error:
            raise PipelineError(
                f"tracking store {redact(self.uri)} failed: {_first_line(error.message)}"
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
    ) -> Iterator[str]:
        """A run that ends FINISHED when the block does, FAILED if it raises."""
        run_id = self.start_run(name, stage, params, tags, description, parent_run_id)
        try:
            yield run_id
        except BaseException:
            self.end_run(run_id, "FAILED")
            raise
        self.end_run(run_id)

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
        with self.run_scope(name, stage, params, tags, description, parent_run_id) as run_id:
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

    def registered_runs(self, aliases: tuple[str, ...], name: str = REGISTERED_MODEL) -> dict:
        """alias -> run id of the version it points to (aliases that do not exist: left out)."""
        found = {}
        for alias in aliases:
            try:
                found[alias] = self.client.get_model_version_by_alias(name, alias).run_id
            except MlflowException:
                continue
        return found

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def log_figure(self, run_id: str, fig, artifact_file: str) -> None:
        try:
            self.client.log_figure(run_id, fig, artifact_file)
        finally:
            plots.close(fig)

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
        context = InputTag("mlflow.data.context", "training")
        self.client.log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(), [context])])

    # --- models -------------------------------------------------------------------------

    def log_checkpoint(self, run_id: str, model: MLP) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            self.client.log_artifacts(
                run_id, str(save_checkpoint(model, Path(scratch))), "checkpoint"
            )

    def log_model(self, run_id: str, model: MLP) -> str:
        """The MLflow pytorch model (pickle format: reloads as the real MLP); returns its URI."""
        model = model.cpu().eval()
        example = np.zeros((2, model.config.in_features), dtype=np.float32)
        with torch.inference_mode():
            output = model(torch.from_numpy(example)).numpy()
        with _quiet():
            info = mlflow.pytorch.log_model(
                model,
                name="model",
                run_id=run_id,
                serialization_format="pickle",
                signature=infer_signature(example, output),
                input_example=example,
                pip_requirements=model_pip_requirements(),
            )
        return info.model_uri

    def logged_model_uri(self, run_id: str) -> str | None:
        """`models:/<model_id>` of the model named "model" that `run_id` logged, if any."""
        run = self.client.get_run(run_id)
        models = self.client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string="name = 'model'"
        )
        found = [m for m in models if m.source_run_id == run_id]
        return f"models:/{found[0].model_id}" if found else None

    def load_run_checkpoint(self, run_id: str) -> MLP:
        """The run's checkpoint, loaded without unpickling code."""
        try:
            self.client.get_run(run_id)
        except MlflowException:
            raise PipelineError(f"run {run_id} not found in {self.uri}") from None
        if not any(a.path == "checkpoint" for a in self.client.list_artifacts(run_id)):
            raise PipelineError(
                f"run {run_id} has no checkpoint (only runs that finished training keep one)"
            )
        with tempfile.TemporaryDirectory() as scratch:
            local = self.client.download_artifacts(run_id, "checkpoint", scratch)
            return load_checkpoint(Path(local))

    def register_run_model(
        self, run_id: str, aliases: list[str], name: str = REGISTERED_MODEL
    ) -> str:
        """Make the run's logged model a version of `name` (once) and move `aliases` onto it."""
        model_uri = self.logged_model_uri(run_id)
        if model_uri is None:
            self.log_model(run_id, self.load_run_checkpoint(run_id))
            model_uri = self.logged_model_uri(run_id)
        versions = self.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if versions:
            version = versions[0].version
        else:
            with _quiet():
                version = mlflow.register_model(model_uri, name).version
        for alias in aliases:
            self.client.set_registered_model_alias(name, alias, version)
        return str(version)

    def metric_at_step(self, run_id: str, key: str, step: int) -> float:
        history = self.client.get_metric_history(run_id, key)
        return next((m.value for m in history if m.step == step), float("nan"))

    def search_runs(self, filter_string: str) -> pd.DataFrame:
        """Runs of this experiment as a DataFrame (columns params.*, metrics.*, tags.*)."""
        return mlflow.search_runs(
            experiment_ids=[self.experiment_id], filter_string=filter_string, output_format="pandas"
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's warnings and its printed notes ("Successfully registered model ...")."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# --- the training stage, tracked --------------------------------------------------------


def run_description(stage: str, config: TrainConfig, splits: Splits, extra: str = "") -> str:
    widths = "-".join(map(str, (784, *config.hidden_sizes, 10)))
    return (
        f"{stage}: MLP {widths} with {config.activation}, SGD lr {config.lr:g} momentum "
        f"{config.momentum}, batch {config.batch_size}, up to {config.max_epochs} epochs "
        f"(patience {config.patience}), seed {config.seed}. Data: Fashion-MNIST "
        f"({splits.source.label}, sha256 {splits.source.digest[:12]}), "
        f"{splits.sizes['train']}/{splits.sizes['val']}/{splits.sizes['test']} "
        f"train/val/test. {extra}"
    ).strip()


@dataclass
class TrainingRun:
    """The MLflow run of one call of `train`: opened before, fed each epoch, closed after."""

    tracker: Tracker
    run_id: str
    config: TrainConfig
    status: str = "FINISHED"  # how the run ends if no exception escapes

    def log_epoch(self, metrics: EpochMetrics) -> None:
        self.tracker.log_metrics(self.run_id, metrics.as_metrics(), step=metrics.epoch)

    def log_result(self, result: TrainResult, with_model: bool = True) -> None:
        """Final metrics, learning curves, weight histograms, checkpoint and (optionally) model."""
        tracker, run_id = self.tracker, self.run_id
        tracker.log_metrics(run_id, result.final_metrics())
        tags = {"stop_reason": result.stop_reason}
        if result.diverged_at:
            tags["diverged_at"] = result.diverged_at
        tracker.set_tags(run_id, tags)
        if result.history:
            h = result.history
            tracker.log_figure(
                run_id,
                plots.learning_curves(
                    [m.epoch for m in h],
                    [m.train_loss for m in h],
                    [m.val_loss for m in h],
                    [m.train_acc for m in h],
                    [m.val_acc for m in h],
                    title=f"{describe(result.model)}, lr {self.config.lr:g}",
                ),
                "figures/learning_curves.png",
            )
            weights = {name: layer.weight for name, layer in result.model.linear_layers().items()}
            tracker.log_npz(run_id, layer_histograms(weights), "histograms/weights.npz")
        if result.completed:
            tracker.log_checkpoint(run_id, result.model)
            if with_model:
                tracker.log_model(run_id, result.model)


@contextlib.contextmanager
def training_run(
    tracker: Tracker,
    config: TrainConfig,
    splits: Splits,
    torch_settings: dict,
    stage: str = "train",
    name: str | None = None,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
) -> Iterator[TrainingRun]:
    """Open a run with every param, tag and the dataset; close it FINISHED, FAILED or KILLED."""
    params = {
        **config.params(),
        **torch_settings,
        "data_source": splits.source.label,
        "data_digest": splits.source.digest[:16],
    }
    all_tags = {"activation": config.activation, **(tags or {})}
    run_id = tracker.start_run(
        name or config.run_name,
        stage,
        params,
        all_tags,
        run_description(stage, config, splits, description),
        parent_run_id,
    )
    tracker.log_dataset(run_id, splits)
    run = TrainingRun(tracker, run_id, config)
    try:
        yield run
    except KeyboardInterrupt:
        tracker.set_tags(run_id, {"stop_reason": "interrupted"})
        tracker.end_run(run_id, "KILLED")
        raise
    except BaseException as error:
        tracker.set_tags(run_id, {"stop_reason": f"error: {type(error).__name__}"})
        tracker.end_run(run_id, "FAILED")
        raise
    tracker.end_run(run_id, run.status)


# --- reloading ---------------------------------------------------------------------------


def load_model(model_uri: str, device: str = "cpu") -> MLP:
    """A model from `runs:/<id>/model`, `models:/<name>@<alias>` or `/<version>`, a checkpoint
    (`runs:/<id>/checkpoint` or a local directory); checkpoints never unpickle code."""
    if Path(model_uri).is_dir():
        return load_checkpoint(Path(model_uri), device)
    scheme = urlparse(model_uri).scheme
    if scheme not in ("runs", "models"):
        raise UsageError(
            f"unsupported model URI {model_uri!r}; use runs:/<run_id>/model, "
            "runs:/<run_id>/checkpoint, models:/<name>@<alias>, models:/<name>/<version> "
            "or a checkpoint directory"
        )
    check_tracking_uri(tracking_uri())
    mlflow.set_tracking_uri(tracking_uri())
    try:
        if scheme == "runs" and model_uri.rstrip("/").endswith("/checkpoint"):
            with tempfile.TemporaryDirectory() as scratch:
                local = mlflow.artifacts.download_artifacts(model_uri, dst_path=scratch)
                return load_checkpoint(Path(local), device)
        with _quiet():
            model = mlflow.pytorch.load_model(model_uri, map_location=device)
    except MlflowException as error:
        raise PipelineError(f"model {model_uri} not found: {_first_line(error.message)}") from None
    except OSError as error:
        raise PipelineError(f"model {model_uri} could not be read: {error}") from None
    if not isinstance(model, MLP):
        raise PipelineError(
            f"model {model_uri} is a {type(model).__name__}, not this project's MLP"
        )
    return model


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


# --- the MLflow UI ----------------------------------------------------------------------

COMPARISON_VIEW = "compare-activations"
COMPARISON_PARAMS = ("activation", "lr")
COMPARISON_METRICS = ("best_val_acc", "val_acc", "test_acc")
# MLflow's UI (3.x) keeps each saved view of an experiment's runs table in one experiment tag,
# `mlflow.sharedViewState.<key>` = {name, createdAt, updatedAt, state: the table's state as JSON},
# and opens it at `#/experiments/<id>/runs?viewStateShareKey=<key>`. A UI that cannot read it
# says so and shows the default table, so nothing depends on it but convenience.
_SAVED_VIEW_TAG = "mlflow.sharedViewState."
# Job execution serves GenAI features (judges, prompt optimisation) this project does not use;
# it costs seven more processes and ~700 MB.
_UI_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


def comparison_view_state() -> dict:
    """The runs table a comparison needs: the activation, lr and accuracies of every run, best
    first. Sorting by a metric lists the trials flat (they nest under their sweep when sorted by
    time), and the registered model's version shows beside the best trial of each activation."""
    return {
        "selectedColumns": [
            "attributes.`Models`",
            *(f"params.`{name}`" for name in COMPARISON_PARAMS),
            *(f"metrics.`{name}`" for name in COMPARISON_METRICS),
        ],
        "orderByKey": "metrics.`best_val_acc`",
        "orderByAsc": False,
        "runsHiddenMode": "SHOW_ALL",  # charts draw every run, not the UI's default first ten
    }


def prepare_comparison_view(experiment: str, uri: str) -> str | None:
    """The experiment's id, with the comparison view saved in it once (a user's own changes to
    that view are kept); None if the store has no such experiment."""
    check_tracking_uri(uri)
    client = MlflowClient(uri)
    try:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return None
        tag = _SAVED_VIEW_TAG + COMPARISON_VIEW
        if tag not in found.tags:
            now = int(time.time() * 1000)
            envelope = {
                "name": "Compare activations",
                "createdAt": now,
                "updatedAt": now,
                "state": json.dumps(comparison_view_state()),
            }
            client.set_experiment_tag(found.experiment_id, tag, json.dumps(envelope))
    except MlflowException as error:
        raise PipelineError(f"tracking store {uri} failed: {_first_line(error.message)}") from None
    return found.experiment_id


def experiment_names(uri: str) -> list[str]:
    return [e.name for e in MlflowClient(uri).search_experiments()]


def ui_base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server bound to `host`."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def experiment_url(base_url: str, experiment_id: str | None) -> str:
    """The experiment's runs table in its comparison view (the UI's start page without one),
    in the UI's "Model training" mode rather than its default GenAI one."""
    base_url = base_url.rstrip("/")
    if experiment_id is None:
        return f"{base_url}/"
    return (
        f"{base_url}/#/experiments/{experiment_id}/runs"
        f"?viewStateShareKey={COMPARISON_VIEW}&workflowType=machine_learning"
    )


def ui_command(uri: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """`mlflow ui` on the project's store, and its environment. One worker: the UI serves one
    person, and each worker costs a core's share and ~270 MB."""
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if root := artifact_root(uri):  # experiments created in the UI keep artifacts there too
        command += ["--default-artifact-root", root]
    environment = {**_UI_ENVIRONMENT, **os.environ}  # the user's own settings win
    return command, environment


def port_is_free(host: str, port: int) -> bool:
    """Nothing listens on `host`:`port` (a wildcard host is probed on loopback)."""
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    try:
        addresses = socket.getaddrinfo(probe_host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UsageError(f"host {host!r} is not a known host name or address") from None
    family, _, _, _, address = addresses[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex(address) != 0


def free_port_after(host: str, port: int, tries: int = 50) -> int | None:
    candidates = range(port + 1, min(port + 1 + tries, 65536))
    return next((p for p in candidates if port_is_free(host, p)), None)
