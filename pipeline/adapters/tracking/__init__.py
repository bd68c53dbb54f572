"""The MLflow adapter: the only package that imports mlflow. Store and experiments (`store`),
runs with their metrics and artifacts (`runs`), logged and registered models (`models`).

Stages return plain results; jobs record them here under ARCHITECTURE.md's names.
"""

from pipeline.adapters.tracking.models import (
    MODEL_URIS,
    REGISTERED_MODEL,
    load_model,
    load_predictor,
    log_model,
    register_run_model,
    registered_runs,
    servable,
)
from pipeline.adapters.tracking.runs import Tracker
from pipeline.adapters.tracking.store import (
    DEFAULT_TRACKING_URI,
    check_tracking_uri,
    experiment_names,
    is_server,
    resolve_uri,
    run_experiment,
    tag_experiment_once,
)

__all__ = [
    "DEFAULT_TRACKING_URI",
    "MODEL_URIS",
    "REGISTERED_MODEL",
    "Tracker",
    "check_tracking_uri",
    "experiment_names",
    "is_server",
    "load_model",
    "load_predictor",
    "log_model",
    "register_run_model",
    "registered_runs",
    "resolve_uri",
    "run_experiment",
    "servable",
    "tag_experiment_once",
]
