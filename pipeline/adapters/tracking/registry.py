"""The model registry: a run's logged model made a version of a registered model, described,
and given aliases; and which run each alias points to."""

import mlflow
from mlflow.exceptions import MlflowException

from pipeline.adapters.tracking.artifacts import load_run_checkpoint
from pipeline.adapters.tracking.models import log_model, logged_model_uri
from pipeline.adapters.tracking.runs import Tracker
from pipeline.adapters.tracking.store import quiet, using_store
from pipeline.core.config import TrainConfig
from pipeline.core.data import DataSource
from pipeline.core.datasets import FASHION_MODEL
from pipeline.core.errors import UsageError
from pipeline.core.model import IN_FEATURES
from pipeline.core.predictor import input_contract

REGISTERED_MODEL = FASHION_MODEL  # a sweep on another dataset fills `<dataset>-mlp`


def optimizer_text(params: dict[str, str]) -> str:
    """ "SGD lr 0.05 momentum 0.9" and the like, read back from a run's params; the bare params
    where they no longer make a config (a run of an older version, an activation gone)."""
    try:
        return TrainConfig.from_params(params).describe_optimizer()
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
        f"{source.name} (sha256 {source.digest[:12]}), {optimizer_text(params)}, {epochs} "
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
    name: str = REGISTERED_MODEL,
) -> str:
    """Make the run's logged model (logged now from its checkpoint if it has none, with test
    images of `source`, its dataset, as its input example) a version of `name` (once), describe
    that version, and move `aliases` onto it."""
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
