"""Several workers as processes on one prepared study, followed with one progress bar."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pipeline.adapters import studies
from pipeline.core.process import environment, interrupts
from pipeline.core.process.device import resolve_device
from pipeline.core.process.errors import PipelineError
from pipeline.workflows import trials
from pipeline.workflows.sweep import Sweep, SweepBar


def run_workers(
    sweep: Sweep, workers: int, threads: int | None = None, name: str = "worker"
) -> list[str]:
    """Start `workers` worker processes on the prepared study, each with `threads` torch
    threads (None: its share of the cores), follow them with one bar, and return a warning per
    worker that died while the others (or, where they had ended first, this process) still
    finished the study. Their logs are sweeps/logs/<study>-<name><index>.log."""
    job = sweep.config
    log_dir = studies.SWEEPS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    logs = [log_dir / f"{job.sweep.study}-{name}{index}.log" for index in range(workers)]
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    if _uses_cpu(sweep):
        trials.warn_oversubscribed(workers * threads, socket.gethostname())
    processes = [_start(sweep, threads, log) for log in logs]
    me = studies.this_process(studies.PARENT, 0)
    with studies.watch(sweep.study, me):
        _follow(sweep, processes, f"sweep {job.sweep.study} ({workers} workers)")
    died = [
        f"worker {index} exited with {process.returncode}: {_last_line(logs[index])} "
        f"(log: {logs[index]})"
        for index, process in enumerate(processes)
        if process.returncode != 0
    ]
    if len(died) < len(processes) and unfinished(sweep) and not interrupts.draining():
        # The others ended before the dead worker's trial was failed and queued again (its
        # heartbeat had not gone stale yet), or one was drained alone: this process trains
        # what is left. Where every worker died, it does not: the cause may well kill it too.
        trials.work(sweep)
    if died and unfinished(sweep) and not interrupts.draining():
        raise PipelineError(f"{died[0]}; rerun the sweep to resume")
    return died


def _follow(sweep: Sweep, processes: list[subprocess.Popen[bytes]], title: str) -> None:
    """Wait for the worker processes, the bar following the study. A drain asked of this
    process is passed on to each worker once; a stop signal too, then it waits for them."""
    drained = False
    with SweepBar(sweep, title) as bar:
        try:
            while any(process.poll() is None for process in processes):
                interrupts.check()
                if interrupts.draining() and not drained:
                    _signal_all(processes, interrupts.DRAIN_SIGNAL)  # each ends its trial
                    drained = True
                bar.update_from(sweep.study)
                time.sleep(1)
        except KeyboardInterrupt:
            _signal_all(processes, signal.SIGINT)  # each marks its trial interrupted, exits
            for process in processes:
                process.wait()
            raise
        finally:
            bar.update_from(sweep.study)


def _signal_all(processes: list[subprocess.Popen[bytes]], which: int) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(which)


def _uses_cpu(sweep: Sweep) -> bool:
    return resolve_device(sweep.config.sweep.train.device).type == "cpu"


def unfinished(sweep: Sweep) -> bool:
    study = sweep.study
    return bool(studies.open_points(study) or studies.missing_replicates(study, retry_failed=True))


def _start(sweep: Sweep, threads: int, log: Path) -> subprocess.Popen[bytes]:
    """One `python -m pipeline worker` on the study, its output in `log`. It gets this
    process's stores as settings: what the config says, not what the environment may have."""
    job = sweep.config
    command = [sys.executable, "-m", "pipeline", "worker", "--config", str(job.config_path)]
    command += ["--threads", str(threads), "--no-progress"]
    command += [f"--set={override}" for override in job.overrides]  # the same study as ours
    command += ["--data-dir", str(job.data_dir)] if job.data_dir else []
    command += ["--dataset", job.sweep.train.dataset]  # the file's, or the flag's over it
    stores = {
        environment.TRACKING_URI: job.tracking_uri,
        environment.STUDY_STORAGE: sweep.study.url,
        environment.CUDA_GRAPHS: "1" if job.cuda_graphs else "0",
    }
    with log.open("w") as out:  # the child keeps its own handle
        # Its own session: a Ctrl-C reaches only this process, which passes it on once.
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=environment.child_environment(overrides=stores),
        )


def _last_line(path: Path) -> str:
    lines = path.read_text().strip().splitlines()
    return lines[-1] if lines else "(no output)"
