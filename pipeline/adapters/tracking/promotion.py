"""Promotion: a registered version of one study's model put on an alias of another registered
model, deliberately. It is refused, changing nothing, when the model does not fit the target
(another dataset's classes, another input); otherwise the copy records where it came from (the
study, the run, the source URI), when and why."""

from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from pipeline.adapters.tracking.models import model_info, model_store
from pipeline.adapters.tracking.registry import registered_version
from pipeline.adapters.tracking.store import first_line, quiet
from pipeline.core.process.errors import PipelineError, UsageError


def _contract(uri: str, tracking_uri: str) -> tuple[list[Any], str]:
    """What a model answers and takes: its classes and its signature's input."""
    info = model_info(uri, tracking_uri)
    inputs = info.signature.inputs.to_json() if info.signature else "any"
    return list((info.metadata or {}).get("classes", [])), inputs


def _holder(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The target's version to fit: the alias's holder, else its newest version, else none."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        found = client.search_model_versions(f"name = '{name}'")
        return max(found, key=lambda v: int(v.version)) if found else None


def _some(classes: list[Any]) -> str:
    shown = ", ".join(map(str, classes[:3]))
    return f"{shown}, ..." if len(classes) > 3 else shown


def misfit(source_uri: str, target: ModelVersion, tracking_uri: str) -> str | None:
    """Why the source model cannot stand in for the target's (None: it can)."""
    classes, inputs = _contract(source_uri, tracking_uri)
    held_classes, held_inputs = _contract(f"models:/{target.name}/{target.version}", tracking_uri)
    if classes != held_classes:
        return (
            f"it answers {len(classes)} classes ({_some(classes)}), {target.name} version "
            f"{target.version} answers {len(held_classes)} ({_some(held_classes)})"
        )
    if inputs != held_inputs:
        return f"its input is {inputs}, {target.name} version {target.version}'s is {held_inputs}"
    return None


def promote(model_uri: str, name: str, alias: str, reason: str, tracking_uri: str) -> ModelVersion:
    """Copy the registered version `model_uri` names to `name` as a new version, record where
    it came from, when and why, and put `alias` on it."""
    uri = model_store(model_uri, tracking_uri)  # one that exists: nothing is created
    client = MlflowClient(uri, registry_uri=uri)
    source = registered_version(client, model_uri)
    if source is None:
        raise UsageError(
            f"promote takes a registered model (models:/<name>@<alias> or "
            f"models:/<name>/<version>), got {model_uri}"
        )
    held = _holder(client, name, alias)
    why = misfit(model_uri, held, tracking_uri) if held else None
    if why:
        raise UsageError(f"{model_uri} does not fit {name}@{alias}: {why}; nothing changed")
    try:
        with quiet():
            copy = client.copy_model_version(f"models:/{source.name}/{source.version}", name)
    except MlflowException as error:
        raise PipelineError(f"cannot promote {model_uri}: {first_line(error.message)}") from None
    tags = {
        "promoted_from": f"models:/{source.name}/{source.version}",
        "study": source.tags.get("study", "none recorded"),
        "source_run": source.run_id,
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "promoted_why": reason,
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, copy.version, key, value)
    client.update_model_version(name, copy.version, description=source.description or "")
    client.set_registered_model_alias(name, alias, copy.version)
    return client.get_model_version(name, copy.version)
