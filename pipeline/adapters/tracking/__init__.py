"""The MLflow adapter: the only package that imports mlflow. The store, its experiments and the
process's MLflow settings (`store`); a run's lifecycle, params, tags and metrics (`runs`: the
`Tracker`); what a run keeps (`artifacts`); queries (`search`); logged models (`models`); the
registry (`registry`), and deliberate promotion from one registered model to another
(`promotion`).

Stages return plain results; jobs record them here under ARCHITECTURE.md's names, as
`tracking.log_figure(tracker, run_id, fig, path)`. Nothing here changes MLflow's process-wide
state but `configure_process()`, which the command line calls once.
"""

from pipeline.adapters.tracking.artifacts import (
    load_run_checkpoint,
    log_checkpoint,
    log_dataset,
    log_figure,
    log_file,
    log_npz,
    log_text,
    record_run,
)
from pipeline.adapters.tracking.models import (
    MODEL_URIS,
    load_model,
    load_predictor,
    log_model,
    model_classes,
    servable,
)
from pipeline.adapters.tracking.promotion import promote
from pipeline.adapters.tracking.registry import (
    alias_holder,
    describe_model,
    provenance,
    register_run_model,
    registered_runs,
)
from pipeline.adapters.tracking.runs import Run, Tracker, check_experiment
from pipeline.adapters.tracking.search import (
    deleted_trial_runs,
    latest_trained_runs,
    metric_at_step,
    metric_histories,
    run_experiment,
    search_runs,
    sweep_runs,
)
from pipeline.adapters.tracking.store import (
    artifact_root,
    check_tracking_uri,
    configure_process,
    experiment_datasets,
    experiment_names,
    is_server,
    resolve_uri,
    tag_experiment_once,
    using_store,
)
from pipeline.core.schema.config import DEFAULT_TRACKING_URI

__all__ = [
    "DEFAULT_TRACKING_URI",
    "MODEL_URIS",
    "Run",
    "Tracker",
    "alias_holder",
    "artifact_root",
    "check_experiment",
    "check_tracking_uri",
    "configure_process",
    "deleted_trial_runs",
    "describe_model",
    "experiment_datasets",
    "experiment_names",
    "is_server",
    "latest_trained_runs",
    "load_model",
    "load_predictor",
    "load_run_checkpoint",
    "log_checkpoint",
    "log_dataset",
    "log_figure",
    "log_file",
    "log_model",
    "log_npz",
    "log_text",
    "metric_at_step",
    "metric_histories",
    "model_classes",
    "promote",
    "provenance",
    "record_run",
    "register_run_model",
    "registered_runs",
    "resolve_uri",
    "run_experiment",
    "search_runs",
    "servable",
    "sweep_runs",
    "tag_experiment_once",
    "using_store",
]
