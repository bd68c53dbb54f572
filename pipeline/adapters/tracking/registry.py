"""The model registry: a run's logged model made a version of a registered model, described,
and given aliases; and which run each alias points to."""

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from pipeline.adapters.tracking.artifacts import load_run_checkpoint
from pipeline.adapters.tracking.models import (
    log_model,
    logged_model_uri,
    model_store,
    not_found,
    registered_parts,
)
from pipeline.adapters.tracking.runs import Tracker
from pipeline.adapters.tracking.store import quiet, using_store
from pipeline.core.dataset.data import DataSource
from pipeline.core.network.predictor import input_contract
from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import IN_FEATURES, TrainConfig


def training_text(params: dict[str, str]) -> str:
    """ "SGD lr 0.05 momentum 0.9, cross-entropy" and the like, read back from a run's params;
    the bare params where they no longer make a config (a run of an older version, an
    activation gone)."""
    try:
        config = TrainConfig.from_params(params)
        return f"{config.describe_optimizer()}, {config.describe_loss()}"
    except UsageError:
        return f"{params.get('optimizer', 'sgd')} lr {params.get('lr', '?')}"


def version_description(tracker: Tracker, run_id: str, source: DataSource) -> str:
    """What a registered version is, where it came from, and how to call it."""
    run = tracker.client.get_run(run_id)
    params, metrics = run.data.params, run.data.metrics
    hidden = params.get("hidden_sizes", "?").replace(",", "-")
    epochs = len(tracker.client.get_metric_history(run_id, "val_acc"))

    def metric(key: str) -> str:
        return f"{metrics[key]:.4f}" if key in metrics else "?"

    return (
        f"{params.get('activation', '?')} MLP {IN_FEATURES}-{hidden}-{source.num_classes} on "
        f"{source.name} (sha256 {source.digest[:12]}), {training_text(params)}, {epochs} "
        f"epochs (best at epoch "
        f"{int(metrics.get('best_epoch', 0))}); best val_acc {metric('best_val_acc')}, "
        f"test_acc {metric('test_acc')}. From run {run.info.run_name} ({run_id}); its "
        f"checkpoint/ holds the same weights. {input_contract(source.classes, source.name)}. "
        "Format: torch.export (pt2), "
        "loads without pickle: mlflow.pyfunc.load_model(uri).predict(images)."
    )


def register_run_model(
    tracker: Tracker,
    run_id: str,
    aliases: list[str],
    source: DataSource,
    name: str,
    tags: dict[str, str] | None = None,
) -> str:
    """Make the run's logged model (logged now from its checkpoint if it has none, with test
    images of `source`, its dataset, as its input example) a version of `name` (once), describe
    and tag that version, and move `aliases` onto it."""
    model_uri = logged_model_uri(tracker, run_id)
    if model_uri is None:
        log_model(tracker, run_id, load_run_checkpoint(tracker, run_id), source)
        model_uri = logged_model_uri(tracker, run_id)
    client = tracker.client
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if versions:
        version = versions[0].version
    else:
        with quiet(), using_store(tracker.uri):
            version = mlflow.register_model(model_uri, name).version
    client.update_model_version(
        name, version, description=version_description(tracker, run_id, source)
    )
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version, key, value)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)
    return str(version)


def describe_model(tracker: Tracker, name: str, description: str, tags: dict[str, str]) -> None:
    """What a registered model holds, on its page in MLflow's UI: a description and tags."""
    tracker.client.update_registered_model(name, description=description)
    for key, value in tags.items():
        tracker.client.set_registered_model_tag(name, key, value)


def alias_holder(tracker: Tracker, name: str, alias: str) -> tuple[str, str | None] | None:
    """(version, run id) the alias points to; None where the model or alias does not exist."""
    try:
        found = tracker.client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return str(found.version), found.run_id


def registered_runs(tracker: Tracker, aliases: tuple[str, ...], name: str) -> dict[str, str]:
    """alias -> run id of the version it points to (aliases that do not exist, or whose
    version has no run: left out)."""
    holders = {alias: alias_holder(tracker, name, alias) for alias in aliases}
    return {
        alias: held[1]
        for alias, held in holders.items()
        if held is not None and held[1] is not None
    }


def registered_version(client: MlflowClient, model_uri: str) -> ModelVersion | None:
    """The registered version a models:/<name>@<alias> or models:/<name>/<version> URI names
    (None for another kind of URI); a PipelineError where the registry has none."""
    parts = registered_parts(model_uri)
    if parts is None:
        return None
    name, which = parts
    try:
        if which.startswith("@"):
            return client.get_model_version_by_alias(name, which[1:])
        return client.get_model_version(name, which[1:])
    except MlflowException as error:
        raise not_found(model_uri, client.tracking_uri, error) from None


def provenance(model_uri: str, tracking_uri: str) -> str:
    """What a URI loads, in one line: the registered model, its version, its study and its run
    (a logged model or a run's: the run; a checkpoint folder: the folder)."""
    if model_uri.startswith("runs:/"):
        return f"run {model_uri.removeprefix('runs:/').split('/')[0]}"
    if not model_uri.startswith("models:/"):
        return f"folder {model_uri}"
    uri = model_store(model_uri, tracking_uri)
    client = MlflowClient(uri, registry_uri=uri)
    found = registered_version(client, model_uri)
    if found is None:  # a logged model's own URI, models:/m-<id>
        return f"logged model {model_uri.removeprefix('models:/')} (not registered)"
    study = found.tags.get("study") or "none recorded"
    promoted = found.tags.get("promoted_from")
    source = f", promoted from {promoted}" if promoted else ""
    try:  # the registry keeps a version whose run was deleted; its metrics are gone from view
        run_id = found.run_id  # a version registered without a run has none to show
        deleted = run_id is None or client.get_run(run_id).info.lifecycle_stage == "deleted"
    except MlflowException:
        deleted = True
    note = " (deleted in MLflow: `mlflow runs restore` brings its page back)" if deleted else ""
    return (
        f"registered model {found.name} version {found.version} (study {study}{source}), "
        f"run {found.run_id}{note}"
    )
