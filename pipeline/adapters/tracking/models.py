"""Logged models: log a trained MLP as a portable predictor, read what a logged model is, load
one for the project's tools, check one before it is served."""

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import torch
from mlflow import MlflowClient
from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from torch import nn

from pipeline.adapters.tracking.runs import Tracker
from pipeline.adapters.tracking.store import (
    check_tracking_uri,
    first_line,
    quiet,
    resolve_uri,
    sqlite_database,
    using_store,
)
from pipeline.core.dataset.data import CLASSES, DataSource, example_images
from pipeline.core.network.model import MLP, describe, load_checkpoint
from pipeline.core.network.predictor import INPUT_DTYPE, Predictor, exported, input_contract
from pipeline.core.process.errors import PipelineError, UsageError
from pipeline.core.schema.config import IN_FEATURES

MODEL_NAME = "model"  # the name each run's logged model has
MODEL_FORMAT = "pt2"  # torch.export: a graph and tensors, loadable without pickle or this package
MODEL_URIS = (
    "runs:/<run_id>/model, runs:/<run_id>/checkpoint, models:/<name>@<alias>, "
    "models:/<name>/<version>, models:/<model_id> or a checkpoint directory"
)


def model_pip_requirements() -> list[str]:
    """Given explicitly: MLflow's own inference of them costs seconds per logged model. The
    exported program needs torch alone (no torchvision, no pipeline)."""
    return [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"]


def model_metadata(model: MLP, source: DataSource) -> dict[str, Any]:
    """What the logged model's MLmodel file records beside its signature: its classes are the
    dataset's, one per output."""
    if model.config.num_classes != source.num_classes:
        raise PipelineError(
            f"the model has {model.config.num_classes} outputs but dataset {source.name!r} has "
            f"{source.num_classes} classes; log it with the dataset it was trained on"
        )
    return {
        "classes": list(source.classes),
        "dataset": source.name,
        "data_digest": source.digest[:16],
        "input_contract": input_contract(source.classes, source.name),
        "activation": model.config.activation,
        "hidden_sizes": list(model.config.hidden_sizes),
        "serialization_format": MODEL_FORMAT,
    }


def log_model(tracker: Tracker, run_id: str, model: MLP, source: DataSource) -> str:
    """Log the whole predictor, raw pixels (N, 28, 28) in and class probabilities out, exported
    with torch.export (batch size dynamic); returns its URI. A few real test images of `source`,
    the dataset it was trained on (N >= 2 so the batch dimension stays dynamic), become its
    input example, as the model's input dtype; its class names, the model's metadata."""
    metadata = model_metadata(model, source)
    example = example_images(source).cpu().to(INPUT_DTYPE)
    predictor = exported(model, example)
    with torch.inference_mode():
        output = predictor(example).numpy()
    example_array = example.numpy()
    # MLflow would put the model in the process's current experiment: it is made here, in the
    # run's own, with the run's params, as log_model would make it.
    params = tracker.client.get_run(run_id).data.params
    with quiet(), using_store(tracker.uri):
        logged = mlflow.initialize_logged_model(
            name=MODEL_NAME,
            source_run_id=run_id,
            params=params,
            experiment_id=tracker.experiment_id,
        )
        info = mlflow.pytorch.log_model(
            predictor,
            name=MODEL_NAME,
            model_id=logged.model_id,
            run_id=run_id,
            serialization_format=MODEL_FORMAT,
            signature=infer_signature(example_array, output),
            input_example=example_array,
            pip_requirements=model_pip_requirements(),
            metadata=metadata,
        )
    return str(info.model_uri)


def logged_model_uri(tracker: Tracker, run_id: str) -> str | None:
    """`models:/<model_id>` of the model named "model" that `run_id` logged, if any."""
    run = tracker.client.get_run(run_id)
    models = tracker.client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"name = '{MODEL_NAME}'"
    )
    found = [m for m in models if m.source_run_id == run_id]
    return f"models:/{found[0].model_id}" if found else None


def _is_checkpoint(model_uri: str) -> bool:
    return Path(model_uri).is_dir() or (
        model_uri.startswith("runs:/") and model_uri.rstrip("/").endswith("/checkpoint")
    )


def model_store(model_uri: str, tracking_uri: str) -> str:
    """The project's store, checked, for a runs:/ or models:/ URI; nothing is created."""
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
    return uri


def registered_parts(model_uri: str) -> tuple[str, str] | None:
    """(name, "@alias" or "/version") of a models:/ URI; None for any other URI."""
    if not model_uri.startswith("models:/"):
        return None
    rest = model_uri.removeprefix("models:/")
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        return name, f"@{alias}"
    name, _, version = rest.rpartition("/")
    return (name, f"/{version}") if name else None


def not_found(model_uri: str, store: str, error: MlflowException) -> PipelineError:
    """One line for a URI the store cannot resolve: for a registered model, what the registry
    holds instead (its models, or the model's aliases and versions), since a model or a
    version deleted in MLflow takes its aliases with it."""
    parts, reason = registered_parts(model_uri), first_line(error.message)
    if parts is not None:
        client = MlflowClient(store, registry_uri=store)
        name, which = parts
        try:
            model = client.get_registered_model(name)
            versions = sorted(
                int(v.version) for v in client.search_model_versions(f"name='{name}'")
            )
        except MlflowException:
            names = ", ".join(m.name for m in client.search_registered_models()) or "none"
            reason = f"no registered model {name!r} (registered models: {names})"
        else:
            aliases = ", ".join(f"@{a} (version {v})" for a, v in sorted(model.aliases.items()))
            what = f"alias {which[1:]!r}" if which.startswith("@") else f"version {which[1:]}"
            reason = (
                f"registered model {name!r} has no {what} (aliases: {aliases or 'none'}; "
                f"versions: {', '.join(map(str, versions)) or 'none'}); a version deleted in "
                "MLflow takes its aliases with it, and the study's next `make sweep` sets them"
            )
    return PipelineError(f"model {model_uri} not found: {reason}")


def model_info(model_uri: str, tracking_uri: str) -> ModelInfo:
    """The MLmodel of a logged or registered model (a local MLflow model directory too)."""
    local = Path(model_uri).is_dir()
    uri = None if local else model_store(model_uri, tracking_uri)
    try:
        with quiet(), contextlib.nullcontext() if uri is None else using_store(uri):
            return mlflow.models.get_model_info(model_uri)
    except MlflowException as error:
        raise not_found(model_uri, uri or "", error) from None
    except OSError as error:
        raise PipelineError(f"model {model_uri} could not be read: {error}") from None


def load_model(model_uri: str, tracking_uri: str, device: str = "cpu") -> MLP:
    """The MLP behind a URI, for the project's own tools: from a checkpoint (`runs:/<id>/
    checkpoint` or a local directory), or for a logged or registered model from the checkpoint
    of the run that logged it. Checkpoints never unpickle code."""
    if Path(model_uri).is_dir():
        return load_checkpoint(Path(model_uri), device)
    store = model_store(model_uri, tracking_uri)
    if not _is_checkpoint(model_uri):
        run_id = model_info(model_uri, tracking_uri).run_id
        return load_model(f"runs:/{run_id}/checkpoint", tracking_uri, device)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = mlflow.artifacts.download_artifacts(
                model_uri, dst_path=scratch, tracking_uri=store, registry_uri=store
            )
            return load_checkpoint(Path(local), device)
    except MlflowException as error:
        raise PipelineError(f"model {model_uri} not found: {first_line(error.message)}") from None
    except OSError as error:
        raise PipelineError(f"model {model_uri} could not be read: {error}") from None


@contextlib.contextmanager
def pickle_disallowed() -> Iterator[None]:
    """MLflow's documented switch: loading a model that would unpickle anything fails instead."""
    switch = MLFLOW_ALLOW_PICKLE_DESERIALIZATION
    before = switch.get_raw()
    switch.set("false")
    try:
        yield
    finally:
        if before is None:
            switch.unset()
        else:
            switch.set(before)


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
        with pickle_disallowed(), quiet(), using_store(model_store(model_uri, tracking_uri)):
            module = mlflow.pytorch.load_model(model_uri)
    except MlflowException as error:
        mlp = load_model(f"runs:/{info.run_id}/checkpoint", tracking_uri, device)
        reason = first_line(error.message).split(". ")[0]
        return Predictor(mlp).eval(), (
            f"{describe(mlp)} from the checkpoint of run {info.run_id}; the logged model was not "
            f"opened: {reason}"
        )
    meta = info.metadata or {}
    classes = meta.get("classes", CLASSES)
    widths = "-".join(map(str, (IN_FEATURES, *meta.get("hidden_sizes", ["?"]), len(classes))))
    return module, (
        f"logged model, torch.export program of MLP {widths} with "
        f"{meta.get('activation', '?')}, from run {info.run_id}"
    )


def model_classes(model_uri: str, tracking_uri: str) -> list[str]:
    """The class names a logged model's metadata records (Fashion-MNIST's for a model logged
    before models recorded them)."""
    return list((model_info(model_uri, tracking_uri).metadata or {}).get("classes", CLASSES))


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
