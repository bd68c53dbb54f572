"""The benchmark's plumbing (not its speed: speed claims live in `make bench`'s own output)."""

import json
import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from pipeline.core.network.model import build_model
from pipeline.core.schema.config import DEFAULT_HIDDEN_SIZES
from pipeline.jobs import bench
from pipeline.stages import timings
from pipeline.stages.bench_report import TARGETS
from tests.conftest import write_dataset


@pytest.mark.parametrize("hidden_sizes", [DEFAULT_HIDDEN_SIZES, (32, 16)])
def test_epoch_flops_are_what_torch_counts_for_a_training_step_and_a_validation_pass(
    hidden_sizes,
):
    """epoch_gflop against torch's own FLOP counter: a training step (forward and backward)
    per training image, a forward pass per validation image, for this MLP."""
    model = build_model("relu", hidden_sizes, seed=0)
    images, labels = torch.randn(64, 784), torch.randint(0, 10, (64,))
    with FlopCounterMode(display=False) as step:
        F.cross_entropy(model(images), labels).backward()
    with FlopCounterMode(display=False) as validation, torch.inference_mode():
        model(torch.randn(100, 784))
    assert timings.epoch_gflop(64, 0, hidden_sizes) == pytest.approx(step.get_total_flops() / 1e9)
    assert timings.epoch_gflop(0, 100, hidden_sizes) == pytest.approx(
        validation.get_total_flops() / 1e9
    )


def test_an_epoch_of_the_seed_network_is_the_figure_the_performance_notes_use():
    # docs/performance.md: "the epoch's 158.7 GFLOP" (48,000 training, 12,000 validation images).
    assert timings.epoch_gflop(48000, 12000) == pytest.approx(158.67, abs=0.01)


@pytest.mark.slow
def test_a_bench_run_measures_every_figure(workdir):
    # The figures' plumbing, not their size: a quarter of the tiny dataset (each epoch of the
    # seed's network and of the 30-trial stack runs over all of it).
    dataset = write_dataset(workdir / "bench-data", train_count=160, test_count=40)
    result = bench.measure(str(dataset), "cpu", rounds=1, with_seed_table=False, log=lambda _: None)
    bench.write(result, workdir / "out")
    figures = json.loads((workdir / "out/bench.json").read_text())
    for key in (
        "seed_style_epoch_s",
        "pipeline_epoch_s",
        "bare_epoch_s",
        "roofline_epoch_s",
        "per_trial_overhead_s",
        "activation_epoch_ratio",
        "device",
        "model_log_s",
        "epoch_probe_fraction",
        "stacked_trial_epochs_per_s",
        "single_trial_epochs_per_s",
    ):
        assert key in figures, key
    assert set(figures["activation_epoch_ratio"]) == {"sigmoid", "tanh", "elu", "swish"}
    assert set(figures["optimizer_epoch_s"]) == {"sgd", "adam", "adamw"}
    # bf16-mixed against fp32: a step time per precision and batch, each round's ratio.
    assert set(figures["precision_step_ratio"]) == {"64", "256"}  # JSON's keys are strings
    for batch, ratio in figures["precision_step_ratio"].items():
        step = figures["precision_step_s"][batch]
        assert set(step) == {"fp32", "bf16-mixed"} and all(0 < s < math.inf for s in step.values())
        [only] = figures["precision_step_ratio_rounds"][batch]  # rounds=1
        assert ratio == pytest.approx(only) == pytest.approx(step["bf16-mixed"] / step["fp32"])
    # Each derived figure is what its parts give, and every time a positive finite number.
    epochs = figures["activation_epoch_s"]
    for name, ratio in figures["activation_epoch_ratio"].items():
        assert ratio == pytest.approx(epochs[name] / epochs["relu"]), name
    assert figures["roofline_epoch_s"] == pytest.approx(
        figures["epoch_gflop"] / figures["sgemm_gflops"]
    )
    assert figures["epoch_probe_fraction"] == pytest.approx(
        figures["epoch_probe_s"] / figures["pipeline_epoch_s"]
    )
    seconds = [*epochs.values(), *figures["optimizer_epoch_s"].values(), figures["bare_epoch_s"]]
    assert all(0 < value < math.inf for value in seconds)
    assert figures["device"] == "cpu" and all(
        figures[k] > 0 for k in ("seed_style_epoch_s", "pipeline_epoch_s", "bare_epoch_s")
    )
    assert set(figures["stacked_trial_epochs_per_s"]) == {"1", "5", "30"}
    assert os.environ.get("MLFLOW_TRACKING_URI") is None, "the bench's store does not leak"
    markdown = (workdir / "out/bench.md").read_text()
    assert "| stack of 30 |" in markdown and "| adamw |" in markdown
    for target in TARGETS:
        assert f"| {target} |" in markdown
