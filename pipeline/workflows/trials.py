"""A worker's loop: claim queued trials of a prepared study and train them, alone or stacked,
each as its own nested MLflow run, and tell Optuna how each ended."""

import contextlib
import math
import time
from dataclasses import dataclass

from pipeline.core import data
from pipeline.core.config import CPU_STACK, SweepConfig
from pipeline.stages import stacked, training
from pipeline.workflows.sweep import Sweep, SweepBar, check_same_data
from pipeline.workflows.tracked_training import training_run


@dataclass
class TrialOutcome:
    number: int
    activation: str
    lr: float
    state: str  # COMPLETE | PRUNED | FAIL
    value: float | None
    reason: str
    train_time_s: float
    at_chance: bool = False  # it learned nothing (best val_acc at chance level)


def _trial_state(result: training.TrainResult) -> tuple[str, str]:
    if result.stop_reason == "diverged":
        return "PRUNED", "diverged"
    if result.stop_reason == "pruned":
        return "PRUNED", f"pruned at epoch {result.history[-1].epoch}"
    return "COMPLETE", result.stop_reason


def run_trials(
    sweep: Sweep, trials: list, splits: data.Splits, settings: dict
) -> list[TrialOutcome]:
    """Train claimed grid points, each as its own nested MLflow run: one alone (training.train),
    several at once as one stacked network (stacked.train_stacked). Tell Optuna how each ended."""
    job = sweep.config
    points = [sweep.study.suggest_point(trial) for trial in trials]
    configs = [job.sweep.train_config(activation, lr) for activation, lr in points]
    try:
        with contextlib.ExitStack() as scopes:
            runs = [
                scopes.enter_context(
                    _trial_run(sweep, trial, config, splits, settings, len(trials))
                )
                for trial, config in zip(trials, configs, strict=True)
            ]

            def report(k: int, metrics: training.EpochMetrics) -> None:
                runs[k].log_epoch(metrics)
                trials[k].report(metrics.val_acc, metrics.epoch)

            def should_prune(k: int) -> bool:
                return trials[k].should_prune()

            def alone(metrics: training.EpochMetrics) -> bool:
                report(0, metrics)
                return should_prune(0)

            if len(trials) == 1:
                results = [training.train(configs[0], splits, alone, job.progress)]
            else:
                results = stacked.train_stacked(configs, splits, report, should_prune, job.progress)
            for run, result in zip(runs, results, strict=True):
                run.log_result(result)
                sweep.tracker.set_tags(run.run_id, {"trial_state": _trial_state(result)[0]})
    except BaseException as error:  # Ctrl-C included: the trials are told, then it propagates
        why = "interrupted" if isinstance(error, KeyboardInterrupt) else f"error: {error}"
        for trial in trials:
            trial.set_user_attr("stop_reason", why)
            sweep.study.tell(trial, "FAIL")
        raise
    outcomes = []
    for trial, (activation, lr), result in zip(trials, points, results, strict=True):
        state, reason = _trial_state(result)
        trial.set_user_attr("stop_reason", reason)
        trial.set_user_attr("at_chance", result.at_chance)
        sweep.study.tell(trial, state, result.best_val_acc)
        value = result.best_val_acc if result.best_epoch else None
        outcomes.append(
            TrialOutcome(
                trial.number,
                activation,
                lr,
                state,
                value,
                reason,
                result.train_time_s,
                result.at_chance,
            )
        )
    return outcomes


@contextlib.contextmanager
def _trial_run(sweep: Sweep, trial, config, splits, settings, stack_size: int):
    """The trial's nested MLflow run, its id recorded on the Optuna trial."""
    study = sweep.config.sweep.study
    with training_run(
        sweep.tracker,
        config,
        splits,
        settings,
        parent_run_id=sweep.parent_run_id,
        tags={"sweep": study, "optuna.trial": str(trial.number), "stack_size": str(stack_size)},
        description=f"Trial {trial.number} of sweep {study}.",
    ) as tracked:
        trial.set_user_attr("mlflow_run_id", tracked.run_id)
        yield tracked


def work(
    sweep: Sweep, poll_s: float = 1.0, source: data.DataSource | None = None
) -> list[TrialOutcome]:
    """One worker: claim queued trials until none is queued or running anywhere. A `source`
    already verified by the caller is loaded without finding and hashing it again."""
    job, config = sweep.config, sweep.config.sweep
    device = training.resolve_device(config.train.device)
    settings = training.configure_torch(device, job.threads)
    splits = data.load_splits(
        job.data_dir,
        val_fraction=config.train.val_fraction,
        seed=config.train.seed,
        device=device,
        source=source,
    )
    check_same_data(sweep.study, splits.source.digest, "this worker's")
    outcomes: list[TrialOutcome] = []
    with SweepBar(sweep, f"sweep {config.study}") as bar:
        while True:
            trials = sweep.study.claim(stack_size(config, device))
            if not trials:
                if not sweep.study.running_count() or not sweep.study.has_heartbeat:
                    break
                time.sleep(poll_s)  # another worker's trial may still fail and be queued again
                continue
            with sweep.study.heartbeat(*trials):
                outcomes += run_trials(sweep, trials, splits, settings)
            bar.update_from(sweep.study)
    return outcomes


def stack_size(config: SweepConfig, device) -> int:
    """Trials a worker trains at once: the config's `stack`, else the whole grid on a GPU (one
    trial leaves it launch-bound) and CPU_STACK on a CPU (measured by make bench)."""
    if config.stack is not None:
        return config.stack
    return len(config.grid) if device.type == "cuda" else CPU_STACK


def worker_count(config: SweepConfig, device, asked: int) -> int:
    """At most one worker per stack the grid fills: on a GPU the default stack holds the whole
    grid, and a second process would only split it (CUDA time-slices between processes)."""
    stacks = math.ceil(len(config.grid) / stack_size(config, device))
    return min(asked, stacks)
