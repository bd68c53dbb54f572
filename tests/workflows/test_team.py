"""Workers run as a team, in real processes with real signals: a dead worker's trial is
failed and retried on time while the others train, `status` shows who does what from the
study's storage alone, `drain` lets a worker finish its trial and exit, and `worker
--workers/--threads` share a host's cores."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from pipeline.adapters import studies
from tests.conftest import client, open_sweep, run_cli, runs_of
from tests.sweeps import SCRATCH, kill_mid_trial, study_of, worker_pid, write_config

pytestmark = pytest.mark.slow  # worker processes

# Trials long enough (minutes) that a worker is always mid-trial when a test looks (each test
# stops its workers itself), beating every 2 s: a grace of 4 s that a busy machine's stalls
# stay within.
LONG = {
    "activations": ["relu", "tanh"],
    "lr": [0.02, 0.05, 0.1],
    "max_epochs": 10000,
    "patience": 10000,
    "heartbeat_interval": 2,
}


def start_worker(config: Path, data_dir: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipeline", "worker", "--config", str(config)]
    return subprocess.Popen(
        [*command, "--data-dir", str(data_dir), "--no-progress", *extra],
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
    )


def mid_trial(study, process: subprocess.Popen, timeout: float = 120):
    """The trial `process` trains once it has reported an epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for trial in study.get_trials(states=[TrialState.RUNNING]):
            if trial.intermediate_values and worker_pid(trial) == process.pid:
                return trial
        time.sleep(0.25)
    raise AssertionError("the worker never reached an epoch")


def local_lock(config: Path):
    return studies.local_lock(f"sqlite:///{config.parent / 'sweeps/tiny.db'}")


def files_digest(*paths: Path) -> str:
    return hashlib.sha256(b"".join(path.read_bytes() for path in paths)).hexdigest()


def test_a_dead_workers_trial_is_retried_within_three_heartbeats_while_the_others_train(
    workdir, tiny_data
):
    config = write_config(workdir, **SCRATCH, **LONG)
    open_sweep(config, create=True)
    study = study_of(config)
    first = start_worker(config, tiny_data)
    victim = mid_trial(study, first)
    cores = os.cpu_count() or 1
    second = start_worker(config, tiny_data, "--threads", str(cores))  # with the first: too many
    try:
        busy = mid_trial(study, second)
        shown = run_cli("status", "--config", str(config), cwd=workdir, check=True).stdout
        first.kill()  # mid-trial: its 10000 epochs take minutes
        killed = time.monotonic()
        while study.get_trials()[victim.number].state == TrialState.RUNNING:
            assert time.monotonic() - killed < 20, "the dead worker's trial was never failed"
            time.sleep(0.1)
        reaped = time.monotonic() - killed
        still = study.get_trials()[busy.number]
        # The retry is queued once the orphaned run is closed, just after the FAIL.
        while not [
            t for t in study.get_trials() if t.system_attrs.get("failed_trial") == victim.number
        ]:
            assert time.monotonic() - killed < 30, "the dead worker's trial was never retried"
            time.sleep(0.1)
        trials = study.get_trials()
    finally:
        first.kill()
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=120)
    victim = trials[victim.number]
    # Its last beat came at most an interval (2 s) before the kill: failed 2-6 s after it.
    assert 2 <= reaped <= 6 + 1.5, reaped
    assert still.state == TrialState.RUNNING, "the other worker was training all along"
    [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert retry.state == TrialState.WAITING and retry.params == victim.params
    assert "worker" not in retry.user_attrs and "mlflow_run_id" not in retry.user_attrs
    orphan = client().get_run(victim.user_attrs["mlflow_run_id"])
    assert orphan.info.status == "KILLED"
    assert orphan.data.tags["stop_reason"] == "orphaned: its worker stopped sending heartbeats"

    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{cores + 1} torch threads on {cores} cores" in warnings[0]
    lines = shown.splitlines()
    assert lines[0].startswith("study tiny in sqlite:///")
    assert "4 waiting, 2 running, 0 finished, 0 failed" in lines[0]
    assert lines[1] == "workers: 2 live"
    for process, threads in ((first, 1), (second, cores)):
        [line] = [row for row in lines if f":{process.pid} (worker, {threads} threads)" in row]
        held = busy if process is second else victim
        age = float(re.search(r"heartbeat ([\d.]+) s ago", line).group(1))
        assert age < 4, line
        point = f"trial {held.number} {held.params['activation']} lr {held.params['lr']:g}"
        assert f"{point} (grid, seed 42) epoch " in line, line
        assert int(line.rpartition("epoch ")[2]) >= 1


def test_drain_lets_a_worker_end_its_trial_then_exit_0_leaving_the_queue(workdir, tiny_data):
    config = write_config(workdir, **SCRATCH, **{**LONG, "max_epochs": 40, "patience": 40})
    open_sweep(config, create=True)
    worker = start_worker(config, tiny_data)
    held = mid_trial(study_of(config), worker)
    asked = run_cli("drain", "--config", str(config), cwd=workdir, check=True).stdout
    out, err = worker.communicate(timeout=300)

    assert asked.startswith(f"drain: asked {os.uname().nodename}:{worker.pid} (worker, ")
    assert worker.returncode == 0, err
    assert out.splitlines()[-1].startswith("drained: study tiny's trials in progress here")
    trials = study_of(config).get_trials()
    states = [t.state for t in trials]
    assert trials[held.number].state == TrialState.COMPLETE
    assert TrialState.RUNNING not in states and TrialState.FAIL not in states
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert 1 <= len(done) < 6 and states.count(TrialState.WAITING) == 6 - len(done)
    assert f"trial {held.number}: " in out
    parent = study_of(config).user_attrs["mlflow_parent_run_id"]
    assert {r.info.status for r in runs_of(parent)} == {"FINISHED"}
    assert (
        "drain: no live worker of study tiny"
        in run_cli("drain", "--config", str(config), cwd=workdir, check=True).stdout
    )


def test_status_of_a_study_whose_worker_died_writes_nothing(workdir, tiny_data):
    """With no process left to fail it, the dead worker's trial stays RUNNING: status shows it
    held by a worker that is not live (out of the roster 3 intervals after its last write)."""
    config = write_config(workdir, **SCRATCH, **{**LONG, "heartbeat_interval": 1})
    open_sweep(config, create=True)
    worker = start_worker(config, tiny_data)
    [victim] = kill_mid_trial(
        worker, lambda: study_of(config).get_trials(), lock=lambda: local_lock(config)
    )
    worker.wait()
    time.sleep(3.5)
    stores = workdir / "sweeps/tiny.db", workdir / "mlflow.db"
    before = files_digest(*stores), sorted(p.name for p in workdir.rglob("*"))
    shown = run_cli("status", "--config", str(config), cwd=workdir, check=True).stdout
    assert (files_digest(*stores), sorted(p.name for p in workdir.rglob("*"))) == before
    lines = shown.splitlines()
    assert "5 waiting, 1 running, 0 finished, 0 failed" in lines[0], shown
    assert lines[1] == "workers: 0 live"
    assert lines[2].startswith(f"  trial {victim.number} ")
    assert lines[2].endswith(f"held by {victim.user_attrs['worker']}, which is not live")


def test_workers_on_one_host_share_its_cores_and_too_many_threads_is_one_line(workdir, tiny_data):
    config = write_config(workdir, **SCRATCH, heartbeat_interval=1)
    open_sweep(config, create=True)
    cores = os.cpu_count() or 1
    result = run_cli(
        "worker", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress",
        "--workers", "2", "--threads", str(cores), cwd=workdir, check=True,
    )  # fmt: skip
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, result.stderr
    assert f"would run {2 * cores} torch threads on {cores} cores" in warnings[0]
    trials = study_of(config).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    logs = sorted((workdir / "sweeps/logs").glob("tiny-host-worker*.log"))
    assert len(logs) == 2
    # Each worker's job as data beside its log, no store's URL in it (they go as settings).
    jobs = [json.loads(log.with_suffix(".job.json").read_text()) for log in logs]
    assert {(job["threads"], job["progress"], job["workers"]) for job in jobs} == {
        (cores, False, None)
    }
    assert all("tracking_uri" not in job and "storage" not in job["sweep"] for job in jobs)
    parent = study_of(config).user_attrs["mlflow_parent_run_id"]
    assert {r.data.params["threads"] for r in runs_of(parent)} == {str(cores)}


def test_drain_of_a_sweep_passes_to_its_workers_and_ends_it_unfinished(workdir, tiny_data):
    """`make drain` reaches the sweep and its worker processes: the trials in progress end,
    nothing more is claimed, the sweep exits 0 without registering, its parent run KILLED."""
    config = write_config(workdir, **{**LONG, "max_epochs": 150, "patience": 150})
    command = [sys.executable, "-m", "pipeline", "sweep", "--config", str(config)]
    sweep = subprocess.Popen(
        [*command, "--data-dir", str(tiny_data), "--no-progress", "--workers", "2"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
    )
    deadline = time.monotonic() + 120
    # The first line comes once the study is made: reading it sooner would race its creation.
    assert sweep.stdout.readline().startswith("plan: "), sweep.communicate()
    while not [
        t for t in study_of(config).get_trials(states=[TrialState.RUNNING]) if t.intermediate_values
    ]:
        assert sweep.poll() is None and time.monotonic() < deadline, sweep.communicate()
        time.sleep(0.25)
    asked = run_cli("drain", "--config", str(config), cwd=workdir, check=True).stdout
    out, err = sweep.communicate(timeout=300)

    assert sorted(line.split(" (")[1].split(",")[0] for line in asked.splitlines()) == [
        "parent",
        "worker",
        "worker",
    ], asked
    assert sweep.returncode == 0, err
    assert out.splitlines()[-1].startswith("drained: study tiny's trials in progress here")
    states = [t.state for t in study_of(config).get_trials()]
    assert TrialState.RUNNING not in states and TrialState.FAIL not in states
    assert 1 <= states.count(TrialState.COMPLETE) < 6
    assert states.count(TrialState.WAITING) == 6 - states.count(TrialState.COMPLETE)
    parent = client().get_run(study_of(config).user_attrs["mlflow_parent_run_id"])
    assert parent.info.status == "KILLED"
    assert {r.info.status for r in runs_of(parent.info.run_id)} == {"FINISHED"}
    assert not client().search_registered_models(), "a drained sweep registers nothing"
