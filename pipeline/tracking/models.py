"""Logged models and the registry: log a trained MLP, register it under aliases, reload it."""

import tempfile
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from pipeline.errors import PipelineError, UsageError
from pipeline.model import MLP, load_checkpoint
from pipeline.tracking.runs import Tracker, quiet
from pipeline.tracking.store import check_tracking_uri, first_line, tracking_uri

REGISTERED_MODEL = "fashion-mlp"


def model_pip_requirements() -> list[str]:
    """Given explicitly: MLflow's own inference of them costs seconds per logged model."""
    import torchvision

    return [
        f"torch=={torch.__version__.split('+')[0]}",
        f"torchvision=={torchvision.__version__.split('+')[0]}",
        f"mlflow=={mlflow.__version__}",
    ]


def log_model(tracker: Tracker, run_id: str, model: MLP) -> str:
    """The MLflow pytorch model (pickle format: reloads as the real MLP); returns its URI."""
    model = model.cpu().eval()
    example = np.zeros((2, model.config.in_features), dtype=np.float32)
    with torch.inference_mode():
        output = model(torch.from_numpy(example)).numpy()
    with quiet():
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


def logged_model_uri(tracker: Tracker, run_id: str) -> str | None:
    """`models:/<model_id>` of the model named "model" that `run_id` logged, if any."""
    run = tracker.client.get_run(run_id)
    models = tracker.client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string="name = 'model'"
    )
    found = [m for m in models if m.source_run_id == run_id]
    return f"models:/{found[0].model_id}" if found else None


def register_run_model(
    tracker: Tracker, run_id: str, aliases: list[str], name: str = REGISTERED_MODEL
) -> str:
    """Make the run's logged model a version of `name` (once) and move `aliases` onto it."""
    model_uri = logged_model_uri(tracker, run_id)
    if model_uri is None:
        log_model(tracker, run_id, tracker.load_run_checkpoint(run_id))
        model_uri = logged_model_uri(tracker, run_id)
    client = tracker.client
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if versions:
        version = versions[0].version
    else:
        with quiet():
            version = mlflow.register_model(model_uri, name).version
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)
    return str(version)


def registered_runs(
    tracker: Tracker, aliases: tuple[str, ...], name: str = REGISTERED_MODEL
) -> dict[str, str]:
    """alias -> run id of the version it points to (aliases that do not exist: left out)."""
    found = {}
    for alias in aliases:
        try:
            found[alias] = tracker.client.get_model_version_by_alias(name, alias).run_id
        except MlflowException:
            continue
    return found


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
        with quiet():
            model = mlflow.pytorch.load_model(model_uri, map_location=device)
    except MlflowException as error:
        raise PipelineError(f"model {model_uri} not found: {first_line(error.message)}") from None
    except OSError as error:
        raise PipelineError(f"model {model_uri} could not be read: {error}") from None
    if not isinstance(model, MLP):
        raise PipelineError(
            f"model {model_uri} is a {type(model).__name__}, not this project's MLP"
        )
    return model
