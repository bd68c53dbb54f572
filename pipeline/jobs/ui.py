"""`make ui`: the MLflow UI on the project's store, opening a saved comparison of the runs."""

import json
import sys
import time

from pipeline.adapters import servers, tracking
from pipeline.core import environment
from pipeline.core.job_config import ServerConfig

COMPARISON_VIEW = "compare-activations"
# Which data and which study a run belongs to first: a 3-class study's 98% is no Fashion-MNIST
# figure, and the table sorts every run of the experiment together.
COMPARISON_CONTEXT = ("params.`dataset`", "tags.`sweep`")
COMPARISON_PARAMS = ("activation", "lr")
COMPARISON_METRICS = ("best_val_acc", "val_acc", "test_acc")
# How a run ended, at a glance: Optuna's state of a trial (COMPLETE, PRUNED, FAIL; MLflow calls
# them all FINISHED), and whether it learned anything at all.
COMPARISON_TAGS = ("trial_state", "at_chance")
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


def comparison_view_state() -> dict:
    """The runs table a comparison needs: the activation, lr, accuracies and outcome of every
    run, best first. Sorting by a metric lists the trials flat (they nest under their sweep when
    sorted by time), and the registered model's version shows beside the best trial of each
    activation."""
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
    }


def prepare_comparison_view(experiment: str, uri: str) -> str | None:
    """The experiment's id, with the comparison view saved in it once (a user's own changes to
    that view are kept); None if the store has no such experiment."""
    now = int(time.time() * 1000)
    envelope = {
        "name": "Compare activations",
        "createdAt": now,
        "updatedAt": now,
        "state": json.dumps(comparison_view_state()),
    }
    return tracking.tag_experiment_once(
        uri, experiment, _SAVED_VIEW_TAG + COMPARISON_VIEW, json.dumps(envelope)
    )


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
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", host, "--port", str(port), "--workers", "1"]
    if root := tracking.artifact_root(uri):  # experiments made in the UI keep them there
        command += ["--default-artifact-root", root]
    return command, environment.child_environment(_UI_ENVIRONMENT)  # the user's settings win


def run(config: ServerConfig) -> int:
    uri = tracking.resolve_uri(config.tracking_uri)
    if tracking.is_server(uri):  # a tracking server serves the UI itself
        experiment_id = prepare_comparison_view(config.experiment, uri)
        print(f"MLFLOW_TRACKING_URI is the tracking server {uri}: open its UI, nothing started")
        print(f"url={experiment_url(uri, experiment_id)}")
        return 0
    servers.check_port(config.host, config.port, "ui", "MLflow UI")
    experiment_id = prepare_comparison_view(config.experiment, uri)
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
    print(f"url={experiment_url(base, experiment_id)}", flush=True)
    print(_LAYOUT_NOTE, file=sys.stderr, flush=True)
    return servers.exec_server(*ui_command(uri, config.host, config.port))
