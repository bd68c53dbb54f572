"""Faults a long sweep meets: kills, Ctrl-C, concurrent workers, crashes while writing files."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from optuna.trial import TrialState

from pipeline.adapters import studies, tracking
from pipeline.cli.main import main
from pipeline.core.schema.config import DEFAULT_TRACKING_URI
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.workflows import sweep as sweep_workflow
from tests.conftest import open_sweep
from tests.sweeps import (
    SCRATCH,
    kill_mid_trial,
    run_sweep,
    study_of,
    worker_pid,
    write_config,
)

# Each test kills or runs whole sweeps in fresh processes.
pytestmark = pytest.mark.slow

# Six trials of 20 tiny epochs: a kill always finds one in progress (tests/sweeps.kill_mid_trial
# stops the worker and checks before it kills, so how long a trial takes does not matter).
SLOW_TRIALS = {
    "activations": ["relu", "tanh"],
    "lr": [0.02, 0.05, 0.1],
    "max_epochs": 20,
    "patience": 20,
    "heartbeat_interval": 1,
}


def start_sweep(config: Path, data_dir: Path, *extra: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "sweep",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "--no-progress",
            *extra,
        ],
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        **options,
    )


def ignore_sigint() -> None:
    """What a shell does for its background jobs, and Python keeps in the process it runs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def database_of(config: Path) -> Path:
    return config.parent / "sweeps" / f"{SweepConfig.load(config).study}.db"


def study_lock(config: Path):
    """The lock the sweep creates its database under: reading it meanwhile would race."""
    return studies.local_lock(f"sqlite:///{database_of(config)}")


def trial_reader(config: Path) -> Callable[[], list]:
    """The sweep's trials, read as it writes them: none before it has made its database (reading
    would make one too), then through one handle on its study (loading the study for each read,
    five times a second, would take a quarter of a core from the sweep being watched)."""
    study = None

    def read() -> list:
        nonlocal study
        if study is None:
            if not database_of(config).exists():
                return []
            study = study_of(config)  # KeyError while the sweep creates it: read again later
        return study.get_trials()

    return read


def kill_the_sweep_mid_trial(
    config: Path,
    process: subprocess.Popen,
    completed: int,
    running: int = 1,
    stop_signal: int = signal.SIGKILL,
) -> list:
    """SIGKILL (or `stop_signal`) the sweep once `completed` trials are done and `running` others
    have each logged an epoch (tests/sweeps.kill_mid_trial); the trials it was running."""
    return kill_mid_trial(
        process,
        trial_reader(config),
        completed=completed,
        running=running,
        pid=process.pid,
        lock=lambda: study_lock(config),
        stop_signal=stop_signal,
    )


def mlflow_runs(workdir: Path):
    client = mlflow.MlflowClient(tracking.resolve_uri(DEFAULT_TRACKING_URI))
    experiment = client.get_experiment_by_name("activation-study").experiment_id
    return client, client.search_runs([experiment], max_results=1000)


def assert_budget_completed_once(config: Path, budget: int, replicates: int = 0) -> list:
    """Every grid point and every replicate (activation, lr, seed) completed exactly once."""
    trials = study_of(config).get_trials()
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    grid = [t for t in completed if t.user_attrs.get("phase", "grid") == "grid"]
    points = [(t.params["activation"], t.params["lr"]) for t in grid]
    assert len(grid) == budget and len(set(points)) == budget
    keys = [studies.replicate_key(t) for t in completed if t.user_attrs.get("phase") == "replicate"]
    assert len(keys) == replicates and len(set(keys)) == replicates
    assert len({t.number for t in trials}) == len(trials)
    return trials


def test_sigkill_mid_trial_then_resume_loses_nothing(workdir, tiny_data):
    config = write_config(workdir, **SCRATCH, **SLOW_TRIALS)
    process = start_sweep(config, tiny_data)
    [victim] = kill_the_sweep_mid_trial(config, process, completed=2)
    process.wait()
    before = {
        t.number: (t.datetime_complete, t.value)
        for t in study_of(config).get_trials()
        if t.state == TrialState.COMPLETE
    }
    assert len(before) >= 2 and victim.intermediate_values, "killed after an epoch was logged"

    assert (
        main(["sweep", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]) == 0
    )
    trials = assert_budget_completed_once(config, budget=6)
    by_number = {t.number: t for t in trials}
    for number, finished in before.items():  # finished work survives and is not redone
        assert (by_number[number].datetime_complete, by_number[number].value) == finished
    assert by_number[victim.number].state == TrialState.FAIL
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].params == victim.params

    client, runs = mlflow_runs(workdir)
    orphan = client.get_run(victim.user_attrs["mlflow_run_id"])
    assert orphan.info.status == "KILLED"
    assert orphan.data.tags["stop_reason"].startswith("orphaned")
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_ctrl_c_marks_the_trial_interrupted_and_a_rerun_resumes(workdir, tiny_data):
    """Even for a sweep started with SIGINT ignored, and stopped wherever it was (a store's
    query included): one line on stderr, no traceback of ours or of a database driver. Two
    long trials: the interrupt lands far from a trial's last epoch, where it would find the
    trial already complete."""
    long = {"lr": [0.05], "max_epochs": 80, "patience": 80}
    config = write_config(workdir, **SCRATCH, **{**SLOW_TRIALS, **long})
    process = start_sweep(config, tiny_data, preexec_fn=ignore_sigint)
    [victim] = kill_the_sweep_mid_trial(config, process, completed=1, stop_signal=signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == [err.strip()] and err.startswith("interrupted:")
    assert "Traceback" not in err

    interrupted = study_of(config).get_trials()[victim.number]
    assert interrupted.state == TrialState.FAIL
    assert interrupted.user_attrs["stop_reason"] == "interrupted"
    client, _ = mlflow_runs(workdir)
    run = client.get_run(victim.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["stop_reason"] == "interrupted"
    assert run.data.tags["trial_state"] == "FAIL", "the UI's trial_state column says so too"
    parent = study_of(config).user_attrs["mlflow_parent_run_id"]
    assert client.get_run(parent).info.status == "KILLED"

    assert (
        main(["sweep", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]) == 0
    )
    assert_budget_completed_once(config, budget=2)
    assert client.get_run(parent).info.status == "FINISHED"


def test_concurrent_workers_share_one_fresh_study(workdir, tiny_data):
    """Three workers on this 2-core machine: more processes than cores, 8 grid trials shared
    unevenly, then the replicates (2 seeds x 2 activations), queued once by whichever worker
    claimed first after the grid, and shared too."""
    workers = 3
    config = write_config(
        workdir,
        **SCRATCH,
        activations=["relu", "tanh"],
        lr=[0.01, 0.02, 0.05, 0.1],
        replicate_seeds=2,
    )
    process = start_sweep(config, tiny_data, "--workers", str(workers))
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    logs = list((workdir / "sweeps/logs").glob("tiny-worker*.log"))
    assert len(logs) == workers
    for log in logs:
        text = log.read_text()
        assert "error" not in text.lower() and "Traceback" not in text, text
    trials = assert_budget_completed_once(config, budget=8, replicates=4)
    assert {t.state for t in trials} == {TrialState.COMPLETE} and len(trials) == 12

    parent = study_of(config).user_attrs["mlflow_parent_run_id"]
    _, runs = mlflow_runs(workdir)
    children = [
        r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parent and r.data.tags["stage"] == "train"
    ]
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == sorted(
        t.number for t in trials
    )
    assert {r.info.status for r in children} == {"FINISHED"}
    assert {r.info.run_id for r in children} == {t.user_attrs["mlflow_run_id"] for t in trials}
    assert [r for r in runs if r.data.tags["stage"] == "sweep"] == [
        r for r in runs if r.info.run_id == parent
    ]


def test_sigkill_of_a_stacked_worker_mid_epoch_then_resume_loses_nothing(workdir, tiny_data):
    """A stack of three trials dies at once: each is failed by heartbeat, retried, completed."""
    config = write_config(workdir, **SCRATCH, **SLOW_TRIALS, stack=3)
    process = start_sweep(config, tiny_data)
    victims = kill_the_sweep_mid_trial(config, process, completed=3, running=3)
    process.wait()
    assert len(victims) == 3, "the second stack was running"

    assert (
        main(["sweep", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]) == 0
    )
    trials = assert_budget_completed_once(config, budget=6)
    for victim in victims:
        assert trials[victim.number].state == TrialState.FAIL
        [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
        assert retry.state == TrialState.COMPLETE and retry.params == victim.params
    client, runs = mlflow_runs(workdir)
    for victim in victims:
        orphan = client.get_run(victim.user_attrs["mlflow_run_id"])
        assert orphan.info.status == "KILLED"
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_sigkill_in_the_replicate_phase_then_resume_retries_the_replicate(workdir, tiny_data):
    """A worker killed while it trains a seed's replicates (stacked: one per activation): each is
    failed by heartbeat and retried at the same seed and budget; the grid is not run again, nor
    any replicate twice."""
    config = write_config(
        workdir,
        **SCRATCH,
        **{**SLOW_TRIALS, "lr": [0.05], "max_epochs": 2},
        replicate_seeds=2,
        replicate_max_epochs=20,
        replicate_patience=20,
    )
    process = start_sweep(config, tiny_data)
    victims = kill_the_sweep_mid_trial(config, process, completed=2, running=2)  # grid's 2 done
    process.wait()
    assert {v.user_attrs["phase"] for v in victims} == {"replicate"}
    assert {v.params["activation"] for v in victims} == {"relu", "tanh"}, "one seed, stacked"
    assert len({v.user_attrs["seed"] for v in victims}) == 1
    grid = {t.number: t.datetime_complete for t in study_of(config).get_trials()[:2]}

    assert (
        main(["sweep", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]) == 0
    )
    trials = assert_budget_completed_once(config, budget=2, replicates=4)
    assert {n: trials[n].datetime_complete for n in grid} == grid, "the grid is not redone"
    for victim in victims:
        assert trials[victim.number].state == TrialState.FAIL
        [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
        assert retry.state == TrialState.COMPLETE
        assert retry.user_attrs["seed"] == victim.user_attrs["seed"]
        assert retry.user_attrs["phase"] == "replicate" and retry.user_attrs["max_epochs"] == 20
    client, runs = mlflow_runs(workdir)
    for victim in victims:
        assert client.get_run(victim.user_attrs["mlflow_run_id"]).info.status == "KILLED"
    assert not [r for r in runs if r.info.status == "RUNNING"]
    # A rerun after the replicates finished adds nothing.
    assert (
        main(["sweep", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]) == 0
    )
    assert len(study_of(config).get_trials()) == len(trials)


def test_a_worker_that_dies_mid_sweep_is_a_warning_and_its_trial_is_retried(workdir, tiny_data):
    """`make sweep WORKERS=2`, one worker killed mid-trial: the other finishes the study,
    retrying the dead worker's trial once its heartbeats stop; the sweep warns and exits 0."""
    config = write_config(workdir, **SCRATCH, **SLOW_TRIALS)
    process = start_sweep(config, tiny_data, "--workers", "2")
    [victim] = kill_mid_trial(process, trial_reader(config), lock=lambda: study_lock(config))
    assert worker_pid(victim) != process.pid, "a worker process, not the sweep"
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "exited with -9" in warnings[0], err
    assert warnings[0].endswith("its trial was retried by the others")

    trials = assert_budget_completed_once(config, budget=6)
    assert trials[victim.number].state == TrialState.FAIL
    [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert retry.state == TrialState.COMPLETE and retry.params == victim.params
    assert worker_pid(retry) != worker_pid(victim)
    client, runs = mlflow_runs(workdir)
    orphan = client.get_run(victim.user_attrs["mlflow_run_id"])
    assert orphan.info.status == "KILLED"
    assert orphan.data.tags["stop_reason"].startswith("orphaned")
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_a_retry_queued_after_an_empty_claim_is_still_trained(workdir, tiny_data, monkeypatch):
    """A worker's claim finds nothing queued while another worker's trial still runs; then that
    trial's heartbeats stop and the watch fails it, queuing its retry, before the worker looks
    again. Nothing runs, but the retry waits: the worker trains it rather than stopping."""
    config = write_config(workdir, **SCRATCH, activations=["relu"], lr=[0.05], heartbeat_interval=1)
    study = open_sweep(config, create=True).study
    [dead] = studies.claim(study)  # the other worker's trial, beating until the first claim
    other_worker = contextlib.ExitStack()
    other_worker.enter_context(studies.heartbeat(study, dead))
    claim, empty_claims = studies.claim, []

    def claim_then_the_other_worker_dies(*args):
        claimed = claim(*args)
        if not claimed and not empty_claims:
            empty_claims.append(args)
            other_worker.close()
            while study.optuna_study.trials[dead.number].state == TrialState.RUNNING:
                time.sleep(0.2)  # till its grace has passed: the watch (or this reap) fails it
                studies.reap(study)
        return claimed

    monkeypatch.setattr(studies, "claim", claim_then_the_other_worker_dies)
    assert run_sweep(config, tiny_data) == 0
    trials = study_of(config).get_trials()
    assert len(empty_claims) == 1
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].system_attrs["failed_trial"] == dead.number
    assert trials[1].params == {"activation": "relu", "lr": 0.05}


def test_a_worker_that_asks_while_a_stale_trial_is_being_retried_waits_for_the_retry(
    workdir, tiny_data, monkeypatch
):
    """The watch fails a stale trial, closes its MLflow run (over HTTP, a while: 1.5 s here),
    then queues its retry. A worker whose claim found nothing, asking in between whether
    anything is left, must not read "no": it waits for the reap and trains the retry."""
    config = write_config(workdir, **SCRATCH, activations=["relu"], lr=[0.05], heartbeat_interval=1)
    study = open_sweep(config, create=True).study
    [dead] = studies.claim(study)
    other_worker = contextlib.ExitStack()
    other_worker.enter_context(studies.heartbeat(study, dead))
    monkeypatch.setattr(sweep_workflow, "_orphan_closer", lambda *_: lambda *_: time.sleep(1.5))
    claim, empty_claims = studies.claim, []

    def claim_then_the_other_worker_dies(*args):
        claimed = claim(*args)
        if not claimed and not empty_claims:
            empty_claims.append(args)
            other_worker.close()
            while study.optuna_study.trials[dead.number].state == TrialState.RUNNING:
                time.sleep(0.02)  # till the watch fails it; its retry is queued 1.5 s later
        return claimed

    monkeypatch.setattr(studies, "claim", claim_then_the_other_worker_dies)
    assert run_sweep(config, tiny_data) == 0
    trials = study_of(config).get_trials()
    assert len(empty_claims) == 1
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].system_attrs["failed_trial"] == dead.number
