"""How long a dead worker's trial stays RUNNING: two `python -m pipeline worker` processes on a
tiny synthetic study in SQLite, each mid-trial; one is killed with SIGKILL, and the time until
its trial is FAIL (failed by the other worker's watch, which is training meanwhile) is printed.
The trial's last heartbeat came up to one interval before the kill, so the delay after the kill
lies between one and three intervals.

    python -m benchmarks.reaping_delay --interval 2 --rounds 3
    python -m benchmarks.reaping_delay --interval 10      # the default heartbeat_interval

Not a test: the numbers depend on the machine's load. Results are in docs/several-machines.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.cli.main import make_config
from pipeline.core.process.environment import read_settings
from pipeline.workflows.sweep import open_sweep
from tests.conftest import write_dataset
from tests.sweeps import study_of, worker_pid, write_config

# Trials far longer than a round: a worker is always mid-trial when it is killed.
LONG = {"activations": ["relu", "tanh"], "lr": [0.02, 0.1], "max_epochs": 10000, "patience": 10000}


def start_worker(config: Path, data_dir: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipeline", "worker", "--config", str(config)]
    command += ["--data-dir", str(data_dir), "--no-progress", "--threads", "1"]
    return subprocess.Popen(command, cwd=config.parent, stdout=subprocess.DEVNULL)


def mid_trial(study, process: subprocess.Popen) -> int:
    """The number of the trial `process` trains, once it has reported an epoch."""
    while True:
        assert process.poll() is None, "the worker ended"
        for trial in study.get_trials():
            if (
                trial.state.name == "RUNNING"
                and trial.intermediate_values
                and worker_pid(trial) == process.pid
            ):
                return trial.number
        time.sleep(0.1)


def one_round(directory: Path, interval: int) -> float:
    """Seconds from the kill until the killed worker's trial is FAIL."""
    data_dir = write_dataset(directory / "data")
    config = write_config(directory, **LONG, heartbeat_interval=interval)
    os.chdir(directory)
    open_sweep(make_config("sweep", {"config_path": config}, read_settings()), create=True)
    study = study_of(config)
    first, second = start_worker(config, data_dir), None
    try:
        number = mid_trial(study, first)
        second = start_worker(config, data_dir)
        mid_trial(study, second)
        first.kill()
        killed = time.monotonic()
        while study.get_trials()[number].state.name == "RUNNING":
            time.sleep(0.05)
        return time.monotonic() - killed
    finally:
        for process in (first, second):
            if process is not None:
                process.kill()
                process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=int, default=10, help="heartbeat_interval, seconds")
    parser.add_argument("--rounds", type=int, default=1, help="kills to time")
    args = parser.parse_args()
    for name in ("MLFLOW_TRACKING_URI", "OPTUNA_STORAGE", "FASHION_MNIST_DIR"):
        os.environ.pop(name, None)
    delays = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as directory:
            delays.append(one_round(Path(directory), args.interval))
    shown = ", ".join(f"{delay:.1f}" for delay in delays)
    print(
        f"heartbeat_interval {args.interval} s: trial FAIL {shown} s after SIGKILL "
        f"(median {statistics.median(delays):.1f} s; bounds {args.interval}-{3 * args.interval} s)"
    )


if __name__ == "__main__":
    main()
