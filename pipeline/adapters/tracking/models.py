"""Logged models and the registry: log a trained MLP as a portable predictor, register it with
a description, reload it for the project's tools, check one before it is served."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from torch import nn

from pipeline.adapters.tracking.runs import Tracker, quiet
from pipeline.adapters.tracking.store import (
    check_tracking_uri,
    first_line,
    resolve_uri,
    sqlite_database,
)
from pipeline.core.data import CLASSES
from pipeline.core.errors import PipelineError, UsageError
from pipeline.core.model import IN_FEATURES, MLP, describe, load_checkpoint
from pipeline.core.predictor import INPUT_CONTRACT, Predictor

REGISTERED_MODEL = "fashion-mlp"
MODEL_FORMAT = "pt2"  # torch.export: a graph and tensors, loadable without pickle or this package


def model_pip_requirements() -> list[str]:
    """Given explicitly: MLflow's own inference of them costs seconds per logged model. The
    exported program needs torch alone (no torchvision, no pipeline)."""
    return [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"]


def model_metadata(model: MLP) -> dict:
    """What the logged model's MLmodel file records beside its signature."""
    return {
        "classes": list(CLASSES),
        "input_contract": INPUT_CONTRACT,
        "activation": model.config.activation,
        "hidden_sizes": list(model.config.hidden_sizes),
        "serialization_format": MODEL_FORMAT,
    }


def log_model(tracker: Tracker, run_id: str, model: MLP, examples: torch.Tensor) -> str:
    """Log the whole predictor, raw uint8 images (N, 28, 28) in and class probabilities out,
    exported with torch.export (batch size dynamic); returns its URI. `examples` (a few real
    test images, N >= 2 so the batch dimension stays dynamic) become its input example."""
    predictor = Predictor(model.cpu()).eval()
    example = examples.cpu().numpy()
    with torch.inference_mode():
        output = predictor(examples.cpu()).numpy()
    with quiet():
        info = mlflow.pytorch.log_model(
            predictor,
            name="model",
            run_id=run_id,
            serialization_format=MODEL_FORMAT,
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=model_pip_requirements(),
            metadata=model_metadata(model),
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


def version_description(tracker: Tracker, run_id: str) -> str:
    """What a registered version is, where it came from, and how to call it."""
    run = tracker.client.get_run(run_id)
    params, metrics = run.data.params, run.data.metrics
    hidden = params.get("hidden_sizes", "?").replace(",", "-")
    epochs = len(tracker.client.get_metric_history(run_id, "val_acc"))

    def metric(key: str) -> str:
        return f"{metrics[key]:.4f}" if key in metrics else "?"

    return (
        f"{params.get('activation', '?')} MLP {IN_FEATURES}-{hidden}-{len(CLASSES)}, SGD lr "
        f"{params.get('lr', '?')}, {epochs} epochs (best at epoch "
        f"{int(metrics.get('best_epoch', 0))}); best val_acc {metric('best_val_acc')}, "
        f"test_acc {metric('test_acc')}. From run {run.info.run_name} ({run_id}); its "
        f"checkpoint/ holds the same weights. {INPUT_CONTRACT}. Format: torch.export (pt2), "
        "loads without pickle: mlflow.pyfunc.load_model(uri).predict(images)."
    )


def register_run_model(
    tracker: Tracker,
    run_id: str,
    aliases: list[str],
    examples: torch.Tensor,
    name: str = REGISTERED_MODEL,
) -> str:
    """Make the run's logged model (logged now from its checkpoint, with `examples` as its
    input example, if it has none) a version of `name` (once), describe that version, and move
    `aliases` onto it."""
    model_uri = logged_model_uri(tracker, run_id)
    if model_uri is None:
        log_model(tracker, run_id, tracker.load_run_checkpoint(run_id), examples)
        model_uri = logged_model_uri(tracker, run_id)
    client = tracker.client
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if versions:
        version = versions[0].version
    else:
        with quiet():
            version = mlflow.register_model(model_uri, name).version
    client.update_model_version(name, version, description=version_description(tracker, run_id))
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


MODEL_URIS = (
    "runs:/<run_id>/model, runs:/<run_id>/checkpoint, models:/<name>@<alias>, "
    "models:/<name>/<version>, models:/<model_id> or a checkpoint directory"
)


def _is_checkpoint(model_uri: str) -> bool:
    return Path(model_uri).is_dir() or (
        model_uri.startswith("runs:/") and model_uri.rstrip("/").endswith("/checkpoint")
    )


def _open_store(model_uri: str, tracking_uri: str) -> None:
    """Point MLflow at the project's store for a runs:/ or models:/ URI; nothing is created."""
    if urlparse(model_uri).scheme not in ("runs", "models"):
        raise UsageError(f"unsupported model URI {model_uri!r}; use {MODEL_URIS}")
    uri = resolve_uri(tracking_uri)
    check_tracking_uri(uri, create=False)
    database = sqlite_database(uri)
    if database and not database.is_file():
        raise PipelineError(
            f"model {model_uri} not found: there is no tracking store {database} yet "
            "(`make sweep` or `make train` creates it)"
        )
    mlflow.set_tracking_uri(uri)


def model_info(model_uri: str, tracking_uri: str) -> ModelInfo:
    """The MLmodel of a logged or registered model (a local MLflow model directory too)."""
    if not Path(model_uri).is_dir():
        _open_store(model_uri, tracking_uri)
    try:
        with quiet():
            return mlflow.models.get_model_info(model_uri)
    except MlflowException as error:
        raise PipelineError(f"model {model_uri} not found: {first_line(error.message)}") from None
    except OSError as error:
        raise PipelineError(f"model {model_uri} could not be read: {error}") from None


def load_model(model_uri: str, tracking_uri: str, device: str = "cpu") -> MLP:
    """The MLP behind a URI, for the project's own tools: from a checkpoint (`runs:/<id>/
    checkpoint` or a local directory), or for a logged or registered model from the checkpoint
    of the run that logged it. Checkpoints never unpickle code."""
    if Path(model_uri).is_dir():
        return load_checkpoint(Path(model_uri), device)
    _open_store(model_uri, tracking_uri)
    if not _is_checkpoint(model_uri):
        run_id = model_info(model_uri, tracking_uri).run_id
        return load_model(f"runs:/{run_id}/checkpoint", tracking_uri, device)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = mlflow.artifacts.download_artifacts(model_uri, dst_path=scratch)
            return load_checkpoint(Path(local), device)
    except MlflowException as error:
        raise PipelineError(f"model {model_uri} not found: {first_line(error.message)}") from None
    except OSError as error:
        raise PipelineError(f"model {model_uri} could not be read: {error}") from None


@contextlib.contextmanager
def pickle_disallowed() -> Iterator[None]:
    """MLflow's documented switch: loading a model that would unpickle anything fails instead."""
    key = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def load_predictor(model_uri: str, tracking_uri: str, device: str = "cpu") -> tuple[nn.Module, str]:
    """(module taking uint8 images (N, 28, 28) and returning class probabilities, what it is).

    A logged model is loaded as anyone would load it, the torch.export program with pickle
    disallowed (on the CPU, where it was exported); a checkpoint is wrapped in the same
    Predictor. A logged model that cannot be opened so (one an older version pickled) is
    replaced by the checkpoint of its run, and the description says so."""
    if _is_checkpoint(model_uri):
        mlp = load_model(model_uri, tracking_uri, device)
        return Predictor(mlp).eval(), f"checkpoint: {describe(mlp)}"
    info = model_info(model_uri, tracking_uri)
    try:
        with pickle_disallowed(), quiet():
            module = mlflow.pytorch.load_model(model_uri)
    except MlflowException as error:
        mlp = load_model(f"runs:/{info.run_id}/checkpoint", tracking_uri, device)
        reason = first_line(error.message).split(". ")[0]
        return Predictor(mlp).eval(), (
            f"{describe(mlp)} from the checkpoint of run {info.run_id}; the logged model was not "
            f"opened: {reason}"
        )
    meta = info.metadata or {}
    widths = "-".join(map(str, (IN_FEATURES, *meta.get("hidden_sizes", ["?"]), len(CLASSES))))
    return module, (
        f"logged model, torch.export program of MLP {widths} with "
        f"{meta.get('activation', '?')}, from run {info.run_id}"
    )


def servable(model_uri: str, tracking_uri: str) -> str:
    """One line on what `mlflow models serve` would serve, or a PipelineError saying why it
    cannot (a URI that does not exist, a checkpoint, a model without a pyfunc flavour)."""
    if _is_checkpoint(model_uri) and not Path(model_uri).is_dir():
        raise UsageError(
            f"{model_uri} is a checkpoint, not an MLflow model; serve a logged or registered "
            "model (runs:/<run_id>/model, models:/<name>@<alias>)"
        )
    info = model_info(model_uri, tracking_uri)
    if "python_function" not in info.flavors:
        raise PipelineError(f"model {model_uri} has no python_function flavour to serve")
    inputs = ", ".join(map(repr, info.signature.inputs.inputs)) if info.signature else "any"
    return f"from run {info.run_id}, input {inputs}"
