"""`make train` stopped by SIGTERM, as a job system stops it: mid-training, wherever the
signal lands (a batch, an epoch's logging to MLflow), the run ends KILLED and the command
says so in one line."""

import os
import signal
import threading
import time

import mlflow
import pytest

from pipeline.cli.main import main

TINY = ["--hidden-sizes", "32,16", "--batch-size", "32", "--threads", "1"]
EXPERIMENT = "stopped"


def signal_after_epochs(store: str, epochs: int, stop_signal: int) -> threading.Thread:
    """A thread that sends this process `stop_signal` once the one run in `store` has logged
    `epochs` epochs (the signal is handled by the main thread, where training runs)."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                runs = _runs(store)
            except Exception:  # the store is being made
                runs = []
            if runs and _epochs(store, runs[0]) >= epochs:
                os.kill(os.getpid(), stop_signal)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _runs(store: str) -> list:
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id]) if experiment else []


def _epochs(store: str, run) -> int:
    return len(mlflow.MlflowClient(store).get_metric_history(run.info.run_id, "val_acc"))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_mid_training_ends_the_run_killed(workdir, tiny_data, capsys, stop_signal):
    store = f"sqlite:///{workdir}/mlflow.db"
    watcher = signal_after_epochs(store, epochs=2, stop_signal=stop_signal)
    flags = ["--epochs", "500", "--patience", "500", "--experiment", EXPERIMENT]
    code = main(["train", *flags, "--data-dir", str(tiny_data), *TINY])
    watcher.join(timeout=5)
    err = capsys.readouterr().err
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted: ")
    [run] = _runs(store)
    assert run.info.status == "KILLED" and run.data.tags["stop_reason"] == "interrupted"
    assert 2 <= _epochs(store, run) < 500
