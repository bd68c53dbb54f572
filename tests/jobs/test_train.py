"""`make train` stopped by SIGTERM, as a job system stops it: mid-training, wherever the
signal lands (a batch, an epoch's logging to MLflow), the run ends KILLED and the command
says so in one line. And a run trained in bf16-mixed precision: logged as such, its model as
any other's."""

import math
import os
import re
import signal
import threading
import time

import mlflow
import numpy as np
import pytest

from pipeline.adapters import tracking
from pipeline.cli.main import main
from pipeline.core.dataset import data

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


def test_a_bf16_mixed_run_trains_logs_its_precision_and_its_model_takes_raw_pixels(
    workdir, tiny_data, capsys
):
    """One epoch under bf16 autocast on the tiny data: a finite loss and an accuracy logged,
    param precision=bf16-mixed, and the logged model (fp32 weights) loaded with mlflow.pyfunc
    answers raw 0-255 pixels with one probability row per image, as an fp32 run's does."""
    flags = ["--epochs", "1", "--precision", "bf16-mixed", "--data-dir", str(tiny_data), *TINY]
    assert main(["train", *flags]) == 0
    run_id = re.search(r"^run_id=(\w+)$", capsys.readouterr().out, re.M).group(1)
    store = f"sqlite:///{workdir}/mlflow.db"
    run = mlflow.MlflowClient(store).get_run(run_id)
    assert run.data.params["precision"] == "bf16-mixed"
    assert run.info.run_name == "train-relu-lr0.001", "precision is a param, not a name"
    metrics = run.data.metrics
    assert math.isfinite(metrics["train_loss"]) and 0 <= metrics["val_acc"] <= 1
    assert 0 <= metrics["test_acc"] <= 1
    images, _ = data.load_test_images(data.locate(tiny_data))
    raw = images[:16].numpy().astype(np.float32)  # the files' 0-255 values, unscaled
    with tracking.using_store(store):
        model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    probabilities = np.asarray(model.predict(raw))
    assert probabilities.shape == (16, 10) and probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(1), 1, atol=1e-5)
