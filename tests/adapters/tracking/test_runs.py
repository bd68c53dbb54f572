import time

import mlflow
import numpy as np
import pytest
import torch

from pipeline.adapters import tracking
from pipeline.core.dataset import data
from pipeline.core.network import predictor
from pipeline.core.network.model import MLP
from pipeline.core.process.device import configure_torch
from pipeline.core.process.errors import PipelineError, UsageError
from pipeline.core.schema.config import DEFAULT_TRACKING_URI, TrainConfig
from pipeline.stages import lone, training
from pipeline.workflows.tracked_training import training_run

CONFIG = TrainConfig(lr=0.05, max_epochs=2, patience=2, hidden_sizes=(32, 16), batch_size=32)


@pytest.fixture
def splits(tiny_data):
    return data.load_splits(tiny_data)


def tracked_training(splits, config=CONFIG, with_model=True):
    tracker = tracking.Tracker("test-exp", DEFAULT_TRACKING_URI)
    settings = configure_torch(torch.device("cpu"))
    with training_run(tracker, config, splits, settings) as run:
        result = training.train(config, splits, run, progress=False)
        run.log_result(result, log_model=with_model)
    return tracker, run.run_id, result


def test_a_training_run_records_everything(workdir, splits):
    tracker, run_id, result = tracked_training(splits)
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "train-relu-lr0.05"
    assert (workdir / "mlflow.db").is_file()
    # Where MLflow's defaults put them: ./mlruns/<experiment id>/<run id>/artifacts.
    experiment_id = tracker.experiment_id
    assert run.info.artifact_uri == f"{workdir}/mlruns/{experiment_id}/{run_id}/artifacts"

    params = run.data.params
    assert {*TrainConfig().params(), "data_source", "flush_denormal"} <= set(params)
    assert params["lr"] == "0.05" and params["hidden_sizes"] == "32,16"
    assert params["data_source"] == "explicit-custom" and params["device"] == "cpu"
    assert not any("/" in value for value in params.values()), "no machine paths in params"

    metrics = run.data.metrics
    assert metrics["test_acc"] == result.test_acc and 0 <= metrics["test_acc"] <= 1
    for key in ("best_val_acc", "best_epoch", "test_loss", "train_time_s", "time_to_best_s"):
        assert key in metrics
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s", "grad_norm.fc1"):
        history = tracker.client.get_metric_history(run_id, key)
        assert [m.step for m in history] == [1, 2], key
    assert [m.value for m in tracker.client.get_metric_history(run_id, "val_acc")] == [
        m.val_acc for m in result.history
    ]

    tags = run.data.tags
    assert tags["stage"] == "train" and tags["activation"] == "relu"
    assert tags["at_chance"] == "false"
    assert tags["stop_reason"] == result.stop_reason and "git_commit" in tags
    assert "Fashion-MNIST" in tags["mlflow.note.content"]

    dataset = run.inputs.dataset_inputs[0].dataset
    assert dataset.name == "fashion-mnist-custom" and dataset.digest == splits.source.digest[:16]

    artifacts = {a.path for a in tracker.client.list_artifacts(run_id)}
    assert artifacts == {"checkpoint", "figures", "histograms"}
    local = mlflow.artifacts.download_artifacts(
        f"runs:/{run_id}/", dst_path=str(workdir / "dl"), tracking_uri=tracker.uri
    )
    assert (workdir / "dl/figures/learning_curves.png").stat().st_size > 10_000
    assert {p.name for p in (workdir / "dl/checkpoint").iterdir()} == {"model.pt", "config.json"}
    with np.load(f"{local}/histograms/weights.npz") as histograms:
        assert histograms["fc1.counts"].sum() == 32 * 784
        assert len(histograms["fc1.edges"]) == len(histograms["fc1.counts"]) + 1

    # The logged model is the whole predictor: raw uint8 test images in, the logged test_acc out.
    model, what = tracking.load_predictor(f"runs:/{run_id}/model", DEFAULT_TRACKING_URI)
    assert "torch.export program of MLP 784-32-16-10 with relu" in what
    images, labels = data.load_test_images(splits.source)
    assert torch.equal(data.normalise(images), splits.test_x), "raw and training test images agree"
    probabilities = predictor.predict_proba(model, images)
    assert predictor.score(probabilities, labels)[1] == result.test_acc
    # The project's own tools get the MLP behind it from the run's checkpoint.
    mlp = tracking.load_model(f"runs:/{run_id}/model", DEFAULT_TRACKING_URI)
    assert isinstance(mlp, MLP) and lone.evaluate(mlp, splits.test_x, splits.test_y)[1] == (
        result.test_acc
    )


def test_a_failing_stage_leaves_a_failed_run_not_a_running_one(workdir, splits):
    tracker = tracking.Tracker("test-exp", DEFAULT_TRACKING_URI)
    with pytest.raises(RuntimeError), training_run(tracker, CONFIG, splits, {}) as run:
        raise RuntimeError("boom")
    assert tracker.client.get_run(run.run_id).info.status == "FAILED"
    with (
        pytest.raises(KeyboardInterrupt),
        training_run(tracker, CONFIG, splits, {}) as run,
    ):
        raise KeyboardInterrupt
    killed = tracker.client.get_run(run.run_id)
    assert killed.info.status == "KILLED" and killed.data.tags["stop_reason"] == "interrupted"


def test_tracking_uri_problems_are_caught_before_any_run(monkeypatch):
    with pytest.raises(UsageError, match="unsupported scheme"):
        tracking.check_tracking_uri("ftp://example.org/store")
    with pytest.raises(PipelineError, match=r"http://127.0.0.1:9 is unreachable"):
        tracking.check_tracking_uri("http://127.0.0.1:9")


def test_model_uris_of_the_wrong_kind_or_missing(workdir, splits):
    with pytest.raises(UsageError, match="unsupported model URI 's3://bucket/model'"):
        tracking.load_model("s3://bucket/model", DEFAULT_TRACKING_URI)
    _, run_id, _ = tracked_training(splits, with_model=False)
    with pytest.raises(PipelineError, match=f"model runs:/{run_id}/model not found"):
        tracking.load_model(f"runs:/{run_id}/model", DEFAULT_TRACKING_URI)
    with pytest.raises(PipelineError, match="not found"):
        tracking.load_model("models:/fashion-mlp@nobody", DEFAULT_TRACKING_URI)
    checkpoint = tracking.load_model(f"runs:/{run_id}/checkpoint", DEFAULT_TRACKING_URI)
    assert isinstance(checkpoint, MLP) and checkpoint.config.hidden_sizes == (32, 16)


def test_a_run_that_learned_nothing_is_tagged_at_chance(workdir, splits):
    config = TrainConfig(activation="sigmoid", lr=1e-4, max_epochs=1, batch_size=32)
    tracker, run_id, result = tracked_training(splits, config, with_model=False)
    run = tracker.client.get_run(run_id)
    assert result.at_chance and run.data.tags["at_chance"] == "true"
    assert run.data.metrics["chance_acc"] == result.chance_acc


class PruneAtEpoch2(training.Observer):
    def report(self, trial, metrics):
        self.epoch = metrics.epoch

    def should_prune(self, trial):
        return self.epoch == 2


def test_a_pruned_run_keeps_its_best_epoch_as_a_checkpoint(workdir, splits):
    tracker = tracking.Tracker("test-exp", DEFAULT_TRACKING_URI)
    config = CONFIG.model_copy(update={"max_epochs": 3})
    with training_run(tracker, config, splits, {}) as run:
        result = training.train(config, splits, PruneAtEpoch2(), progress=False)
        run.log_result(result)
    assert result.stop_reason == "pruned"
    model = tracking.load_run_checkpoint(tracker, run.run_id)
    weights = result.model.state_dict()
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def test_a_training_run_records_system_metrics_until_it_ends(workdir, splits, monkeypatch):
    """MLflow's system metrics (the UI's System metrics tab) on every training run, sampled
    every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds (here 0.1: a tiny run is short), and
    off with MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false."""
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
    tracker = tracking.Tracker("test-exp", DEFAULT_TRACKING_URI)
    with training_run(tracker, CONFIG, splits, {}) as run:
        result = training.train(CONFIG, splits, run, progress=False)
        # The sampler logs as the run goes: wait for two samples of each (a loaded machine may
        # take longer than a few intervals), not a fixed time.
        deadline = time.monotonic() + 30
        keys = ("system/cpu_utilization_percentage", "system/system_memory_usage_megabytes")
        while time.monotonic() < deadline and any(
            len(tracker.client.get_metric_history(run.run_id, key)) < 2 for key in keys
        ):
            time.sleep(0.1)
        run.log_result(result)
    finished = tracker.client.get_run(run.run_id)
    assert finished.info.status == "FINISHED" and mlflow.active_run() is None
    for key in ("system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"):
        history = tracker.client.get_metric_history(run.run_id, key)
        assert len(history) >= 2, key
        assert [m.step for m in history] == list(range(len(history)))
    assert 0 <= finished.data.metrics["system/cpu_utilization_percentage"] <= 100
    assert finished.data.metrics["system/system_memory_usage_megabytes"] > 0
    if torch.cuda.is_available():  # with nvidia-ml-py, MLflow samples each GPU too
        assert "system/gpu_0_utilization_percentage" in finished.data.metrics

    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    with training_run(tracker, CONFIG, splits, {}) as run:
        time.sleep(0.3)
    metrics = tracker.client.get_run(run.run_id).data.metrics
    assert not any(key.startswith("system/") for key in metrics)
