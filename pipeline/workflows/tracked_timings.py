"""The benchmark's timings that need the stores: an epoch of the training stage in a tracked
MLflow run, and what a sweep trial costs beyond its training, in a real sweep on throwaway stores.
"""

import statistics
import time
from pathlib import Path

from pipeline.adapters import studies, tracking
from pipeline.core.dataset import data
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.stages import training
from pipeline.stages.timings import CONFIG, EpochTimer
from pipeline.workflows import trials
from pipeline.workflows.sweep import open_sweep
from pipeline.workflows.tracked_training import training_run


def store_uri(store: Path) -> str:
    return f"sqlite:///{store / 'mlflow.db'}"


def tracked_epoch(splits: data.Splits, config: TrainConfig, tracker: tracking.Tracker) -> float:
    """One epoch of the training stage in an MLflow run, the epoch's logging counted."""
    config = config.replace(max_epochs=1, patience=1)
    with training_run(tracker, config, splits, {"device": splits.device.type}) as run:
        timer = EpochTimer(run.report)
        training.train(config, splits, timer, progress=False)
    return timer.times[0]


def sweep_overhead(splits: data.Splits, store: Path, count: int = 3) -> dict[str, float]:
    """Run `count` one-epoch trials of a real sweep in a throwaway store; the overhead is each
    trial's wall time minus its training time. The MLflow model, logged only for each
    activation's best trial, is timed on its own."""
    sweep_config = SweepConfig(
        study="bench",
        experiment="bench",
        activations=("relu",),
        lrs=tuple(0.01 * (i + 1) for i in range(count)),
        pruner="none",
        replicate_seeds=0,  # the grid's trials alone: the overhead is per trial
        storage=f"sqlite:///{store / 'bench-study.db'}",
        train=CONFIG.replace(max_epochs=1),
    )
    job = SweepJobConfig(sweep=sweep_config, progress=False, tracking_uri=store_uri(store))
    handle = open_sweep(job, create=True)
    settings = {"device": splits.device.type}
    overheads, run_ids = [], []
    while claimed := studies.claim(handle.study):
        trial = claimed[0]
        started = time.perf_counter()
        with studies.heartbeat(handle.study, trial):
            [outcome] = trials.run_trials(handle, [trial], splits, settings)
        overheads.append(time.perf_counter() - started - outcome.train_time_s)
        assert outcome.run_id is not None  # a trial's run is opened before it trains
        run_ids.append(outcome.run_id)
    model_times = []
    for run_id in run_ids:
        model = tracking.load_run_checkpoint(handle.tracker, run_id)
        started = time.perf_counter()
        tracking.log_model(handle.tracker, run_id, model, splits.source)
        model_times.append(time.perf_counter() - started)
    handle.tracker.end_run(handle.parent_run_id)
    return {
        "per_trial_overhead_s": statistics.median(overheads),
        "model_log_s": statistics.median(model_times),
        "first_model_log_s": model_times[0],
    }
