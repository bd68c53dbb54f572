"""`make ui`: the MLflow UI on the project's store, opening a saved comparison of the runs."""

import hashlib
import json
import re
import sys
import time
from typing import Any

from pipeline.adapters import servers, tracking
from pipeline.core.dataset.datasets import display_name
from pipeline.core.process import environment
from pipeline.core.schema.job_config import ServerConfig
from pipeline.core.schema.vocabulary import Tag

COMPARISON_VIEW = "compare-activations"  # every run: an experiment with no run yet
# Which data and which study a run belongs to first. A 3-class study's 98% is no Fashion-MNIST
# figure: each dataset gets its own view, filtered to its runs.
COMPARISON_CONTEXT = ("params.`dataset`", f"tags.`{Tag.SWEEP}`")
COMPARISON_PARAMS = ("activation", "lr")
COMPARISON_METRICS = ("best_val_acc", "val_acc", "test_acc")
# How a run ended, at a glance: Optuna's state of a trial (COMPLETE, PRUNED, FAIL; MLflow calls
# them all FINISHED), and whether it learned anything at all.
COMPARISON_TAGS = (Tag.TRIAL_STATE, Tag.AT_CHANCE)
# MLflow's UI (3.x) keeps each saved view of an experiment's runs table in one experiment tag,
# `mlflow.sharedViewState.<key>` = {name, createdAt, updatedAt, state: the table's state as JSON},
# and opens it at `#/experiments/<id>/runs?viewStateShareKey=<key>`. A UI that cannot read it
# says so and shows the default table, so nothing depends on it but convenience.
_SAVED_VIEW_TAG = "mlflow.sharedViewState."
# MLflow 3.17's UI lays pages out by its GenAI / Model training switch, GenAI in a browser that
# never chose: the url above opens in Model training, and pages reached from it keep it only
# once the browser has chosen.
_LAYOUT_NOTE = (
    "note: a page in MLflow's GenAI layout (Judges, Prompts in the sidebar): click "
    "'Model training' at the top left once; this browser keeps it"
)
# Job execution serves GenAI features (judges, prompt optimisation) this project does not use;
# it costs seven more processes and ~700 MB.
_UI_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def dataset_filter(dataset: str) -> str:
    """An MLflow search filter for the runs on `dataset`: its strings take no escapes, so a
    name holding both quotes is matched with LIKE's one-character wildcard at each `'`."""
    if "'" not in dataset:
        return f"params.dataset = '{dataset}'"
    if '"' not in dataset:
        return f'params.dataset = "{dataset}"'
    return "params.dataset LIKE '{}'".format(dataset.replace("'", "_"))


def view_key(dataset: str | None) -> str:
    """The saved view's key, which the URL carries: a slug of the dataset's name, with a hash
    of the name where the slug is not the name itself."""
    if dataset is None:
        return COMPARISON_VIEW
    slug = re.sub(r"[^a-z0-9]+", "-", dataset.lower()).strip("-")
    if slug != dataset:
        slug = f"{slug}-{hashlib.sha1(dataset.encode()).hexdigest()[:8]}".lstrip("-")
    return f"compare-{slug}"


def comparison_view_state(dataset: str | None = None) -> dict[str, Any]:
    """The runs table a comparison needs: the activation, lr, accuracies and outcome of every
    run on `dataset` (of every run if None), best first. Sorting by a metric lists the trials
    flat (they nest under their sweep when sorted by time), and the registered model's version
    shows beside the best trial of each activation."""
    params = [f"params.`{name}`" for name in COMPARISON_PARAMS]
    metrics = [f"metrics.`{name}`" for name in COMPARISON_METRICS]
    tags = [f"tags.`{name}`" for name in COMPARISON_TAGS]
    return {
        "selectedColumns": ["attributes.`Models`", *COMPARISON_CONTEXT, *params, *metrics, *tags],
        # Unless given an order, the UI groups columns as metrics, params, tags, and the tags
        # start past the right edge of a 1500-pixel window. What a run is, how well it did and
        # how it ended come first; the UI's own columns (name, start, duration) are always there.
        "columnOrder": [
            "attributes.`Run Name`",
            "runDateAndNestInfo",
            *COMPARISON_CONTEXT,
            *params,
            *metrics,
            *tags,
            "attributes.`Models`",
            "duration",
        ],
        "columnWidths": {
            "params.`dataset`": 105,
            "tags.`sweep`": 70,
            "params.`lr`": 80,
            "tags.`trial_state`": 105,
            "tags.`at_chance`": 85,
        },
        "orderByKey": "metrics.`best_val_acc`",
        "orderByAsc": False,
        "runsHiddenMode": "SHOW_ALL",  # charts draw every run, not the UI's default first ten
        "searchFilter": "" if dataset is None else dataset_filter(dataset),
    }


def prepare_comparison_views(experiment: str, uri: str) -> tuple[str | None, list[str | None]]:
    """The experiment's id and its datasets, newest first ([None] before any run), with a
    comparison view saved in it for each once (a user's own changes to a view are kept);
    (None, []) if the store has no such experiment."""
    found = tracking.experiment_datasets(uri, experiment)
    if found is None:
        return None, []
    experiment_id, datasets = found
    views: list[str | None] = list(datasets) or [None]
    now = int(time.time() * 1000)
    tags = {}
    for dataset in views:
        name = "Compare activations" + ("" if dataset is None else f" on {display_name(dataset)}")
        envelope = {"name": name, "createdAt": now, "updatedAt": now}
        envelope["state"] = json.dumps(comparison_view_state(dataset))
        tags[_SAVED_VIEW_TAG + view_key(dataset)] = json.dumps(envelope)
    tracking.tag_experiment_once(uri, experiment_id, tags)
    return experiment_id, views


def experiment_url(base_url: str, experiment_id: str | None, dataset: str | None = None) -> str:
    """The experiment's runs table in the comparison view of `dataset` (the UI's start page
    without an experiment), in the UI's "Model training" mode rather than its GenAI one."""
    base_url = base_url.rstrip("/")
    if experiment_id is None:
        return f"{base_url}/"
    return (
        f"{base_url}/#/experiments/{experiment_id}/runs"
        f"?viewStateShareKey={view_key(dataset)}&workflowType=machine_learning"
    )


def print_urls(base_url: str, experiment_id: str | None, views: list[str | None]) -> None:
    """`url=` the newest dataset's view; then one line for each other dataset's."""
    newest, *others = views or [None]
    print(f"url={experiment_url(base_url, experiment_id, newest)}")
    for dataset in others:
        url = experiment_url(base_url, experiment_id, dataset)
        print(f"  runs on {display_name(dataset) if dataset else 'every dataset'}: {url}")


def ui_command(uri: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """`mlflow ui` on the project's store, and its environment. One worker: the UI serves one
    person, and each worker costs a core's share and ~270 MB."""
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", host, "--port", str(port), "--workers", "1"]
    if root := tracking.artifact_root(uri):  # experiments made in the UI keep them there
        command += ["--default-artifact-root", root]
    return command, environment.child_environment(_UI_ENVIRONMENT)  # the user's settings win


def run(config: ServerConfig) -> int:
    uri = tracking.resolve_uri(config.tracking_uri)
    if tracking.is_server(uri):  # a tracking server serves the UI itself
        experiment_id, views = prepare_comparison_views(config.experiment, uri)
        print(f"MLFLOW_TRACKING_URI is the tracking server {uri}: open its UI, nothing started")
        print_urls(uri, experiment_id, views)
        return 0
    servers.check_port(config.host, config.port, "ui", "MLflow UI")
    experiment_id, views = prepare_comparison_views(config.experiment, uri)
    if experiment_id is None:
        names = ", ".join(tracking.experiment_names(uri)) or "none"
        print(
            f"note: no experiment {config.experiment!r} in {uri} yet (experiments: {names}); "
            "`make sweep` creates it",
            file=sys.stderr,
        )
    servers.warn_if_shared(config.host, "UI")
    base = servers.base_url(config.host, config.port)
    print(f"MLflow UI on {base} for {uri} (ready in ~10 s; Ctrl-C stops it)")
    print_urls(base, experiment_id, views)
    print(_LAYOUT_NOTE, file=sys.stderr, flush=True)
    return servers.exec_server(*ui_command(uri, config.host, config.port))
