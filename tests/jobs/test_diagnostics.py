"""The curves, probe and analyze stages through the CLI: what they leave in MLflow and on disk."""

import re

import mlflow
import numpy as np
import pytest

from pipeline.adapters import tracking
from pipeline.cli.main import main
from pipeline.core.network.model import build_model, save_checkpoint
from pipeline.core.schema.config import DEFAULT_TRACKING_URI
from pipeline.figures import static
from tests.conftest import client, runs_of

TINY_TRAIN = ["--hidden-sizes", "32,16", "--batch-size", "32", "--epochs", "1", "--lr", "0.05"]


def children(parent_id: str) -> dict[str, mlflow.entities.Run]:
    return {run.info.run_name: run for run in runs_of(parent_id)}


def run_id_from(out: str) -> str:
    return re.findall(r"^run_id=(\w+)$", out, re.M)[-1]


def artifact_paths(run_id: str, path: str) -> set[str]:
    return {a.path for a in client().list_artifacts(run_id, path)}


def test_curves_log_a_figure_and_derivative_metrics(workdir, capsys):
    assert main(["curves", "--figures-dir", str(workdir / "figs")]) == 0
    run = client().get_run(run_id_from(capsys.readouterr().out))
    assert run.data.tags["stage"] == "curves" and run.info.run_name == "curves"
    assert run.data.metrics["derivative_max.sigmoid"] == pytest.approx(0.25)
    assert run.data.metrics["derivative_at_minus5.leakyrelu"] == pytest.approx(0.1)
    assert artifact_paths(run.info.run_id, "figures") == {"figures/activation_curves.png"}
    assert (workdir / "figs/activation_curves.png").stat().st_size > 20_000


def test_probe_logs_one_run_per_activation(workdir, tiny_data, capsys):
    assert (
        main(
            [
                "probe",
                "--activations",
                "sigmoid,relu",
                "--data-dir",
                str(tiny_data),
                "--figures-dir",
                str(workdir / "figs"),
            ]
        )
        == 0
    )
    parent = run_id_from(capsys.readouterr().out)
    assert artifact_paths(parent, "figures") == {"figures/gradient_histograms.png"}
    runs = children(parent)
    assert set(runs) == {"probe-sigmoid", "probe-relu"}
    for name, run in runs.items():
        assert run.data.tags["stage"] == "probe" and run.data.params["seed"] == "42"
        for layer in ("fc1", "fc5"):
            for metric in ("grad_norm", "grad_std", "grad_absmax"):
                assert run.data.metrics[f"{metric}.{layer}"] > 0
        ratio = run.data.metrics["grad_norm.fc1"] / run.data.metrics["grad_norm.fc5"]
        assert run.data.metrics["grad_norm_ratio.first_last"] == pytest.approx(ratio)
        local = client().download_artifacts(
            run.info.run_id, "histograms/grad.npz", str(workdir / name)
        )
        with np.load(local) as histograms:
            assert histograms["fc1.counts"].sum() == 512 * 784
    assert (workdir / "figs/gradient_histograms.png").exists()


def test_analyze_uses_the_latest_trained_run_of_each_activation(workdir, tiny_data, capsys):
    for activation in ("relu", "tanh"):
        assert (
            main(["train", "--activation", activation, "--data-dir", str(tiny_data), *TINY_TRAIN])
            == 0
        )
    trained = re.findall(r"^run_id=(\w+)$", capsys.readouterr().out, re.M)
    assert (
        main(
            [
                "analyze",
                "--activations",
                "relu,tanh",
                "--data-dir",
                str(tiny_data),
                "--figures-dir",
                str(workdir / "figs"),
            ]
        )
        == 0
    )
    runs = children(run_id_from(capsys.readouterr().out))
    assert set(runs) == {"analysis-relu", "analysis-tanh"}
    relu, tanh = runs["analysis-relu"], runs["analysis-tanh"]
    assert [relu.data.tags["source_run_id"], tanh.data.tags["source_run_id"]] == trained
    assert relu.data.tags["stage"] == "analysis"
    assert 0 <= relu.data.metrics["dead_fraction.act2"] <= 1
    assert "saturated_fraction.act1" in tanh.data.metrics
    assert "dead_fraction.act1" not in tanh.data.metrics
    for layer in ("fc1", "act1", "fc2", "act2"):
        assert f"output_mean.{layer}" in relu.data.metrics
    assert artifact_paths(relu.info.run_id, "histograms") == {"histograms/outputs.npz"}
    assert (workdir / "figs/layer_outputs.png").exists()


def test_analyze_bad_input_is_one_clear_line(bare_workdir, tiny_data, capsys):
    assert main(["analyze", "--activations", "relu,nope", "--data-dir", str(tiny_data)]) == 2
    assert "unknown activation 'nope'" in capsys.readouterr().err
    # Analysis reads the store: where there is none, it says so and makes none.
    assert main(["analyze", "--activations", "elu", "--data-dir", str(tiny_data)]) == 1
    assert "there is no tracking store" in capsys.readouterr().err
    assert not (bare_workdir / "mlflow.db").exists() and not (bare_workdir / "mlruns").exists()
    tracking.Tracker("activation-study", DEFAULT_TRACKING_URI)  # an empty experiment
    assert main(["analyze", "--activations", "elu", "--data-dir", str(tiny_data)]) == 1
    assert "no finished training run with a checkpoint for elu" in capsys.readouterr().err
    assert (
        main(
            [
                "analyze",
                "--run-id",
                "0123456789abcdef0123456789abcdef",
                "--data-dir",
                str(tiny_data),
            ]
        )
        == 1
    )
    assert "run 0123456789abcdef0123456789abcdef not found" in capsys.readouterr().err
    assert main(["analyze", "--activations", "relu", "--best", "--data-dir", str(tiny_data)]) == 1
    assert "no registered model activations@relu" in capsys.readouterr().err

    # A checkpoint whose config says 64 units where its weights have 32.
    checkpoint = save_checkpoint(
        build_model("relu", hidden_sizes=(32, 16), seed=0), bare_workdir / "ckpt"
    )
    config = (checkpoint / "config.json").read_text()
    (checkpoint / "config.json").write_text(config.replace("32", "64"))
    assert main(["analyze", "--model-uri", str(checkpoint), "--data-dir", str(tiny_data)]) == 1
    err = capsys.readouterr().err
    assert "checkpoint weights do not match its config: fc1.weight has shape [32, 784]" in err
    assert err.count("\n") == 1


def test_a_run_without_a_checkpoint_is_named(workdir, tiny_data, capsys):
    tracker = tracking.Tracker("activation-study", DEFAULT_TRACKING_URI)
    run_id = tracker.start_run("train-relu-lr0.1", "train", {}, {}, "pruned: no checkpoint")
    tracker.end_run(run_id)
    assert main(["analyze", "--run-id", run_id, "--data-dir", str(tiny_data)]) == 1
    assert f"run {run_id} has no checkpoint" in capsys.readouterr().err


def test_analyze_takes_the_activations_that_have_a_run_and_names_the_rest(
    workdir, tiny_data, capsys
):
    """After `make train ACT=relu` and `make train ACT=sigmoid`, `make analyze` (all six by
    default) analyses those two and says once which ones it left out."""
    for activation in ("relu", "sigmoid"):
        assert (
            main(["train", "--activation", activation, "--data-dir", str(tiny_data), *TINY_TRAIN])
            == 0
        )
    capsys.readouterr()
    assert main(["analyze", "--data-dir", str(tiny_data)]) == 0
    captured = capsys.readouterr()
    runs = children(run_id_from(captured.out))
    assert set(runs) == {"analysis-relu", "analysis-sigmoid"}
    notes = [line for line in captured.err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, captured.err
    assert "tanh, leakyrelu, elu, swish" in notes[0] and "analysing sigmoid, relu" in notes[0]


def test_training_runs_log_unit_health_per_epoch_and_figures_draw_it(workdir, tiny_data, capsys):
    """Each epoch of a training run logs the probe batch's dead or saturated fraction per hidden
    layer beside grad_norm.fc1; `make figures` draws them against epoch from each activation's
    newest run, on a run of its own."""
    two_epochs = ["--hidden-sizes", "32,16", "--batch-size", "32", "--epochs", "2"]
    for activation, lr in (("relu", "0.05"), ("tanh", "0.3")):
        args = ["train", "--activation", activation, "--lr", lr, "--patience", "2", *two_epochs]
        assert main([*args, "--data-dir", str(tiny_data)]) == 0
    trained = re.findall(r"^run_id=(\w+)$", capsys.readouterr().out, re.M)
    histories = {}
    for activation, run_id in zip(("relu", "tanh"), trained, strict=True):
        kind, other = ("dead", "saturated") if activation == "relu" else ("saturated", "dead")
        keys = (f"{kind}_fraction.act1", f"{kind}_fraction.act2", "grad_norm.fc1")
        histories[activation] = {
            key: sorted((m.step, m.value) for m in client().get_metric_history(run_id, key))
            for key in keys
        }
        for key, points in histories[activation].items():
            assert [step for step, _ in points] == [1, 2], key
            assert all(0 <= value <= 1 for _, value in points) or key.startswith("grad")
        assert f"{other}_fraction.act1" not in client().get_run(run_id).data.metrics
    assert histories["tanh"]["saturated_fraction.act1"][-1][1] > 0.2  # tanh at lr 0.3

    figures = ["--activations", "relu,tanh", "--figures-dir", str(workdir / "figs")]
    assert main(["figures", *figures, "--data-dir", str(tiny_data)]) == 0
    out = capsys.readouterr().out
    run = client().get_run(run_id_from(out))
    assert (run.info.run_name, run.data.tags["stage"]) == ("dynamics", "dynamics")
    assert [run.data.tags["source_run_id.relu"], run.data.tags["source_run_id.tanh"]] == trained
    assert artifact_paths(run.info.run_id, "figures") == {"figures/training_dynamics.png"}
    assert (workdir / "figs/training_dynamics.png").stat().st_size > 20_000
    first, last = histories["tanh"]["saturated_fraction.act1"]
    assert f"saturated_fraction.act1 {first[1]:.3g} -> {last[1]:.3g}" in out


def test_the_dynamics_figure_has_a_panel_per_layer_and_kind_and_a_line_per_run():
    def run(kind: str) -> dict:
        epochs = [1, 2, 3]
        return {
            f"{kind}.act1": (epochs, [0.1, 0.5, 0.7]),
            f"{kind}.act2": (epochs, [0.0, 0.1, 0.2]),
            "grad_norm.fc1": (epochs, [1e-3, 1e-2, 1e-1]),
        }

    histories = {
        "sigmoid": run("saturated_fraction"),
        "relu": run("dead_fraction"),
        "tanh": run("saturated_fraction"),
    }
    fig = static.training_dynamics(histories)
    try:
        lines = {ax.get_title(): [line.get_label() for line in ax.lines] for ax in fig.axes}
        assert lines == {
            "saturated outputs, act1": ["sigmoid", "tanh"],
            "saturated outputs, act2": ["sigmoid", "tanh"],
            "dead units, act1": ["relu"],
            "dead units, act2": ["relu"],
            "grad_norm.fc1 (log)": ["sigmoid", "relu", "tanh"],
        }
        assert fig.axes[-1].get_yscale() == "log"
        assert list(fig.axes[0].lines[0].get_ydata()) == [0.1, 0.5, 0.7]
    finally:
        static.close(fig)
