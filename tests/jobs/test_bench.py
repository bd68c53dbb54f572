"""The benchmark's plumbing (not its speed: speed claims live in `make bench`'s own output)."""

import json
import os

import pytest

from pipeline.jobs import bench
from pipeline.stages import timings
from pipeline.stages.bench_report import TARGETS


def test_epoch_flops_of_the_seed_network():
    # 784-512-256-256-128-10: 632,064 multiply-adds a sample; training skips fc1's input grad.
    macs = 784 * 512 + 512 * 256 + 256 * 256 + 256 * 128 + 128 * 10
    expected = ((6 * macs - 2 * 784 * 512) * 48000 + 2 * macs * 12000) / 1e9
    assert timings.epoch_gflop(48000, 12000) == pytest.approx(expected)
    assert expected == pytest.approx(158.67, abs=0.01)


@pytest.mark.slow
def test_a_bench_run_measures_every_figure(workdir, tiny_data):
    result = bench.measure(
        str(tiny_data), "cpu", rounds=1, with_seed_table=False, log=lambda _: None
    )
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
    assert figures["optimizer_epoch_s"]["sgd"] == figures["activation_epoch_s"]["relu"]
    assert figures["device"] == "cpu" and all(
        figures[k] > 0 for k in ("seed_style_epoch_s", "pipeline_epoch_s", "bare_epoch_s")
    )
    assert set(figures["stacked_trial_epochs_per_s"]) == {"1", "5", "30"}
    assert os.environ.get("MLFLOW_TRACKING_URI") is None, "the bench's store does not leak"
    markdown = (workdir / "out/bench.md").read_text()
    assert "| stack of 30 |" in markdown and "| adamw |" in markdown
    for target in TARGETS:
        assert f"| {target} |" in markdown
