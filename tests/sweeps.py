"""Helpers for the tests that run sweeps: tiny sweep files, running one, its study, killing
one of its workers mid-trial."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy.exc
import yaml
from optuna.trial import FrozenTrial, TrialState

from pipeline.adapters import studies
from pipeline.cli.main import main
from pipeline.core.schema.sweep_config import SweepConfig

TINY = {
    "max_epochs": 2,
    "patience": 2,
    "hidden_sizes": [32, 16],
    "batch_size": 32,
    "pruner": "none",
    "workers": 1,
    "replicate_seeds": 0,  # the tests of the replicate phase ask for it
    "replicate_max_epochs": 2,  # and train them as briefly as the grid
    "replicate_patience": 2,
}


# For tests of faults and teams, which test no registry: a registered model costs ~3 s to export.
SCRATCH = {"registry": False}


def write_config(directory: Path, **values) -> Path:
    path = directory / f"{values.get('study', 'tiny')}.yaml"
    path.write_text(
        yaml.safe_dump(
            {"study": "tiny", "activations": ["relu", "tanh"], "lr": [0.02, 0.1], **TINY, **values}
        )
    )
    return path


def run_sweep(config: Path, data_dir: Path, *extra: str) -> int:
    return main(
        ["sweep", "--config", str(config), "--data-dir", str(data_dir), "--no-progress", *extra]
    )


def study_of(config: Path) -> optuna.Study:
    loaded = SweepConfig.load(config)
    return optuna.load_study(study_name=loaded.study, storage=studies.storage_url(loaded))


def sweep_config(directory: Path, name: str, values: dict) -> str:
    base = {"study": "tiny", "activations": ["relu"], "lr": [0.05], **TINY}
    (directory / name).write_text(yaml.safe_dump({**base, **values}))
    return name


def run_row(
    lr,
    val_acc,
    train_acc,
    state="COMPLETE",
    phase="grid",
    seed=42,
    activation="relu",
    test_acc=None,
):
    """One run as `tracking.sweep_runs` gives it (its test accuracy 0.01 under validation
    unless given: a selection test gives one that ranks otherwise)."""
    return {
        "run_id": f"run-{activation}-{lr}-{seed}",
        "stage": "train",
        "phase": phase,
        "activation": activation,
        "lr": lr,
        "seed": seed,
        "max_epochs": 13 if phase == "grid" else 15,
        "lr_schedule": "constant" if phase == "grid" else "cosine",
        "status": "FINISHED",
        "state": state,
        "stop_reason": "patience",
        "at_chance": False,
        "best_val_acc": val_acc,
        "best_epoch": 3.0 if phase == "grid" else 20.0 + seed - 43,
        "test_acc": val_acc - 0.01 if test_acc is None else test_acc,
        "train_time_s": 10.0,
        "time_to_best_s": 6.0,
        "train_acc_at_best": train_acc,
    }


def _reported(trials: list[FrozenTrial], pid: int | None = None) -> list[FrozenTrial]:
    """Trials in progress that have logged an epoch (their MLflow run open, the epoch reported
    to Optuna), of the worker process `pid` if given."""
    return [
        t
        for t in trials
        if t.state == TrialState.RUNNING
        and "mlflow_run_id" in t.user_attrs
        and t.intermediate_values
        and (pid is None or worker_pid(t) == pid)
    ]


def worker_pid(trial: FrozenTrial) -> int:
    return int(trial.user_attrs["worker"].rpartition(":")[2])


# What reading a local study may raise while a process writes it (SQLite's "database is
# locked" after its 5 s wait, raised as is or, inside Optuna's session, as its own error).
READ_ERRORS = (sqlalchemy.exc.OperationalError, optuna.exceptions.StorageInternalError)


def kill_mid_trial(
    process: subprocess.Popen,
    read_trials: Callable[[], list[FrozenTrial]],
    completed: int = 0,
    running: int = 1,
    pid: int | None = None,
    lock: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    stop_signal: int = signal.SIGKILL,
    timeout: float = 240,
) -> list[FrozenTrial]:
    """SIGKILL (or `stop_signal`) a worker once `completed` trials are done and it holds
    `running` trials that have each logged an epoch; return those trials. No race with a trial
    that ends meanwhile: the worker is stopped (SIGSTOP) and the trials read again; if it moved
    on, it is let go on and the wait goes on. The worker is `pid` if given, else the one running
    the trials (the sweep itself when it has no worker processes). `lock` (a local study's) is
    held while the trials are read and the worker stopped, so it is never stopped holding it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with contextlib.suppress(KeyError, *READ_ERRORS), lock():
            trials = read_trials()  # KeyError: the study is being created
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            victims = _reported(trials, pid)
            if len(done) >= completed and len(victims) >= running:
                victim = pid or worker_pid(victims[0])
                if still := _stop_if_still_running(victim, read_trials, running, stop_signal):
                    return still
        time.sleep(0.2)
    raise AssertionError("no worker was ever mid-trial")


def _stop_if_still_running(
    victim: int, read_trials: Callable[[], list[FrozenTrial]], running: int, stop_signal: int
) -> list[FrozenTrial]:
    """Stop `victim` (SIGSTOP), read its trials again, and send it `stop_signal` if it still
    holds `running` trials in progress (those trials), else nothing; it goes on (SIGCONT)
    either way, whatever the read raises."""
    os.kill(victim, signal.SIGSTOP)
    try:
        still = _reported(read_trials(), victim)
        if len(still) < running:
            return []
        os.kill(victim, stop_signal)  # delivered on SIGCONT, before anything else
        return still
    except READ_ERRORS:  # stopped while writing: try again
        return []
    finally:
        os.kill(victim, signal.SIGCONT)
