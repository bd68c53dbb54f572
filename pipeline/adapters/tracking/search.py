"""Questions asked of a store: runs of an experiment as a table, a sweep's training runs, the
newest trained run per activation, a metric at one step or over all steps, which experiment
holds a run."""

import math

import mlflow
import pandas as pd
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.adapters.tracking.runs import Tracker
from pipeline.adapters.tracking.store import sqlite_database, store_failed, using_store
from pipeline.core.dataset.datasets import FASHION_MNIST
from pipeline.core.schema.search_space import SWEEPABLE
from pipeline.core.schema.vocabulary import Phase, Tag, TrialEnd

SWEEP_METRICS = (
    "best_val_acc",
    "best_val_loss",
    "epoch_seconds",
    "parameters",
    "best_epoch",
    "epochs_trained",
    "test_acc",
    "train_time_s",
    "time_to_best_s",
)
# A sweep's settings beside activation, lr and seed: the columns of its best configurations;
# momentum and nesterov are absent from runs that had no use for them (Adam's).
SETTINGS = tuple(key for key in SWEEPABLE if key not in ("lr", "seed"))
NUMERIC = ("momentum", "weight_decay", "batch_size")


def search_runs(tracker: Tracker, filter_string: str) -> pd.DataFrame:
    """Runs of the tracker's experiment as a DataFrame (columns params.*, metrics.*, tags.*)."""
    with using_store(tracker.uri):
        return mlflow.search_runs(
            experiment_ids=[tracker.experiment_id],
            filter_string=filter_string,
            output_format="pandas",
        )


def sweep_runs(tracker: Tracker, study: str) -> pd.DataFrame:
    """One row per training run of the sweep (grid trials and replicates, told apart by
    `phase`), tidy column names, with `train_acc_at_best`, the train accuracy at the best epoch
    of a run of the grid or the reference phase; empty before any trial."""
    raw = search_runs(tracker, f"tags.{Tag.SWEEP} = '{study}'")
    if raw.empty:
        return pd.DataFrame()
    raw = raw[raw[f"tags.{Tag.STAGE}"] == "train"]
    if raw.empty:  # the sweep's parent run alone: no trial has started yet
        return pd.DataFrame()
    frame = pd.DataFrame(
        {
            "run_id": raw["run_id"],
            "stage": raw[f"tags.{Tag.STAGE}"],
            "phase": _tag(raw, Tag.PHASE).fillna(Phase.GRID),
            "activation": raw["params.activation"],
            "lr": raw["params.lr"].astype(float),
            "seed": raw["params.seed"].astype(int),
            "max_epochs": raw["params.max_epochs"].astype(int),
            # a run logged before the schedule was a param held its lr
            "lr_schedule": _column(raw, "params.lr_schedule").fillna("constant"),
            "status": raw["status"],
            "state": _tag(raw, Tag.TRIAL_STATE),
            "stop_reason": _tag(raw, Tag.STOP_REASON),
            "at_chance": _tag(raw, Tag.AT_CHANCE) == "true",
            "dataset": _column(raw, "params.dataset"),
            "classes": _tag(raw, "classes"),
            "test_images": pd.to_numeric(_column(raw, "params.test_images")),
            "trial": pd.to_numeric(_tag(raw, Tag.TRIAL)),
        }
    )
    for key in SETTINGS:  # the other settings a sweep may vary, as their params hold them
        values = _column(raw, f"params.{key}")
        if key == "precision":  # a run logged before precision was a param trained in fp32
            values = values.fillna("fp32")
        frame[key] = pd.to_numeric(values) if key in NUMERIC else values
    for metric in SWEEP_METRICS:
        frame[metric] = raw.get(f"metrics.{metric}", math.nan)
    frame = frame.reset_index(drop=True)
    frame["train_acc_at_best"] = [
        math.nan
        if pd.isna(epoch) or phase == Phase.REPLICATE
        else metric_at_step(tracker, run_id, "train_acc", int(epoch))
        for run_id, epoch, phase in zip(
            frame["run_id"], frame["best_epoch"], frame["phase"], strict=True
        )
    ]
    return frame


def _tag(raw: pd.DataFrame, key: str) -> pd.Series:
    return _column(raw, f"tags.{key}")


def _column(raw: pd.DataFrame, column: str) -> pd.Series:
    """The column, or missing values where no run recorded it."""
    return raw[column] if column in raw else pd.Series(index=raw.index, dtype=object)


def metric_at_step(tracker: Tracker, run_id: str, key: str, step: int) -> float:
    """The value `key` was logged with at `step` (from its history); NaN where it was not."""
    history = tracker.client.get_metric_history(run_id, key)
    return next((m.value for m in history if m.step == step), float("nan"))


def metric_histories(
    tracker: Tracker, run_id: str, prefixes: tuple[str, ...]
) -> dict[str, tuple[list[int], list[float]]]:
    """Every metric of the run whose name starts with one of `prefixes`: (steps, values) in
    step order, the whole history (a per-epoch metric's epochs)."""
    keys = [k for k in tracker.client.get_run(run_id).data.metrics if k.startswith(prefixes)]
    histories = {}
    for key in sorted(keys):
        points = sorted((m.step, m.value) for m in tracker.client.get_metric_history(run_id, key))
        histories[key] = ([step for step, _ in points], [value for _, value in points])
    return histories


def latest_trained_runs(
    tracker: Tracker, activations: tuple[str, ...], dataset: str = FASHION_MNIST
) -> dict[str, str]:
    """Per activation, the newest finished training run on `dataset` (by name; a run from
    before runs recorded one trained on Fashion-MNIST) that has a checkpoint."""
    found: dict[str, str] = {}
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        f"tags.{Tag.STAGE} = 'train' and attributes.status = 'FINISHED' and metrics.test_acc >= 0",
        order_by=["attributes.start_time DESC"],
        max_results=5000,
    )
    for run in runs:
        activation = run.data.params.get("activation")
        if run.data.params.get("dataset", FASHION_MNIST) != dataset:
            continue
        if activation in activations and activation not in found:
            found[activation] = run.info.run_id
    return found


def deleted_trial_runs(uri: str, experiment: str, study: str) -> list[str]:
    """The ids of the study's training runs a user deleted (`mlflow runs delete`) whose trials
    finished: a study's report is built from them. Creates nothing."""
    database = sqlite_database(uri)
    if database and not database.is_file():
        return []
    client = MlflowClient(uri)
    try:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return []
        runs = client.search_runs(
            [found.experiment_id],
            f"tags.{Tag.SWEEP} = '{study}'",
            run_view_type=ViewType.DELETED_ONLY,
        )
    except MlflowException as error:
        raise store_failed(uri, error) from None
    tags = [(r.info.run_id, r.data.tags) for r in runs]
    return [
        i
        for i, t in tags
        if t.get(Tag.STAGE) == "train" and t.get(Tag.TRIAL_STATE) != TrialEnd.FAIL
    ]


def run_experiment(uri: str, run_id: str) -> tuple[str | None, bool]:
    """The name of the experiment that holds `run_id` in the store at `uri` (None where the
    store does not have it) and whether the run is deleted (`mlflow runs delete`). Creates
    nothing: a SQLite store that does not exist yet is not made to answer."""
    database = sqlite_database(uri)
    if database and not database.is_file():
        return None, False
    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
        name = client.get_experiment(run.info.experiment_id).name
        return name, run.info.lifecycle_stage == "deleted"
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None, False
        raise store_failed(uri, error) from None
