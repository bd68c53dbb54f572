"""`make worker`: claim queued trials of a prepared study and train them, one at a time; and the
coordinator that runs several workers as processes and follows them with one progress bar."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from pipeline import data, studies, train
from pipeline.config import SweepJobConfig
from pipeline.errors import PipelineError
from pipeline.jobs.sweep import Sweep, check_same_data, open_sweep
from pipeline.jobs.train import training_run


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


def _trial_state(result: train.TrainResult) -> tuple[str, str]:
    if result.stop_reason == "diverged":
        return "PRUNED", "diverged"
    if result.stop_reason == "pruned":
        return "PRUNED", f"pruned at epoch {result.history[-1].epoch}"
    return "COMPLETE", result.stop_reason


def run_trial(sweep: Sweep, trial, splits: data.Splits, settings: dict) -> TrialOutcome:
    """Train one grid point as a nested MLflow run; tell Optuna how it ended."""
    activation, lr = sweep.study.suggest_point(trial)
    config = sweep.config.sweep.train_config(activation, lr)
    tags = {"sweep": sweep.config.sweep.study, "optuna.trial": str(trial.number)}
    try:
        with training_run(
            sweep.tracker,
            config,
            splits,
            settings,
            parent_run_id=sweep.parent_run_id,
            tags=tags,
            description=f"Trial {trial.number} of sweep {sweep.config.sweep.study}.",
        ) as tracked:
            trial.set_user_attr("mlflow_run_id", tracked.run_id)

            def report_and_ask_pruner(metrics: train.EpochMetrics) -> bool:
                tracked.log_epoch(metrics)
                trial.report(metrics.val_acc, metrics.epoch)
                return trial.should_prune()

            result = train.train(config, splits, report_and_ask_pruner, sweep.config.progress)
            tracked.log_result(result, with_model=False)
            state, reason = _trial_state(result)
            sweep.tracker.set_tags(tracked.run_id, {"trial_state": state})
    except BaseException as error:  # Ctrl-C included: the trial is told, then it propagates
        why = "interrupted" if isinstance(error, KeyboardInterrupt) else f"error: {error}"
        trial.set_user_attr("stop_reason", why)
        sweep.study.tell(trial, "FAIL")
        raise
    trial.set_user_attr("stop_reason", reason)
    trial.set_user_attr("at_chance", result.at_chance)
    sweep.study.tell(trial, state, result.best_val_acc)
    value = result.best_val_acc if result.best_epoch else None
    return TrialOutcome(
        trial.number, activation, lr, state, value, reason, result.train_time_s, result.at_chance
    )


def work(
    sweep: Sweep, poll_s: float = 1.0, source: data.DataSource | None = None
) -> list[TrialOutcome]:
    """One worker: claim queued trials until none is queued or running anywhere. A `source`
    already verified by the caller is loaded without finding and hashing it again."""
    job, config = sweep.config, sweep.config.sweep
    device = train.resolve_device(config.train.device)
    settings = train.configure_torch(device, job.threads)
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
            trial = sweep.study.claim()
            if trial is None:
                if not sweep.study.running_count() or not sweep.study.has_heartbeat:
                    break
                time.sleep(poll_s)  # another worker's trial may still fail and be queued again
                continue
            with sweep.study.heartbeat(trial):
                outcomes.append(run_trial(sweep, trial, splits, settings))
            bar.update_from(sweep.study)
    return outcomes


class SweepBar(tqdm):
    """The sweep's bar: finished trials of the whole grid, and the best value so far."""

    def __init__(self, sweep: Sweep, desc: str):
        total = len(sweep.config.sweep.grid)
        super().__init__(total=total, desc=desc, unit="trial", disable=not sweep.config.progress)

    def update_from(self, study: studies.Study) -> None:
        if (finished := study.finished_count()) != self.n:
            self.n = finished
            self.set_postfix(best=f"{study.best_value():.4f}")
            self.refresh()


def run_workers(sweep: Sweep, workers: int) -> list[str]:
    """Start `workers` worker processes on the prepared study, follow them with one bar, and
    return a warning per worker that died while the others still finished the study."""
    job = sweep.config
    log_dir = studies.SWEEPS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    logs = [log_dir / f"{job.sweep.study}-worker{index}.log" for index in range(workers)]
    threads = max(1, (os.cpu_count() or 1) // workers)
    command = [sys.executable, "-m", "pipeline", "worker", "--config", str(job.config_path)]
    command += ["--threads", str(threads), "--no-progress"]
    command += ["--data-dir", str(job.data_dir)] if job.data_dir else []
    processes = []
    for log in logs:
        with log.open("w") as out:  # the child keeps its own handle
            # Their own session: a Ctrl-C reaches only this process, which passes it on once.
            processes.append(
                subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    with SweepBar(sweep, f"sweep {job.sweep.study} ({workers} workers)") as bar:
        try:
            while any(process.poll() is None for process in processes):
                bar.update_from(sweep.study)
                time.sleep(1)
        except KeyboardInterrupt:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)  # each marks its trial interrupted, exits
            for process in processes:
                process.wait()
            raise
        finally:
            bar.update_from(sweep.study)
    died = [
        f"worker {index} exited with {process.returncode}: {_last_line(logs[index])} "
        f"(log: {logs[index]})"
        for index, process in enumerate(processes)
        if process.returncode != 0
    ]
    if died and sweep.study.open_points():
        raise PipelineError(f"{died[0]}; rerun the sweep to resume")
    return died


def _last_line(path: Path) -> str:
    lines = path.read_text().strip().splitlines()
    return lines[-1] if lines else "(no output)"


def run(job: SweepJobConfig) -> int:
    sweep = open_sweep(job, create=False)
    outcomes = work(sweep)
    for o in outcomes:
        chance = ", at chance: learned nothing" if o.at_chance else ""
        print(f"trial {o.number}: {o.activation} lr {o.lr:g} -> {o.state} ({o.reason}{chance})")
    if not outcomes:
        print(f"study {job.sweep.study}: no queued trial was left for this worker")
    return 0
