"""The edges of what validation lets through run end to end: a value at a limit is a value that
works (tests/cli/test_generated_inputs.py checks that past it is one line and nothing written)."""

import pytest
from optuna.trial import TrialState

from pipeline.cli.main import main
from pipeline.core.schema import limits
from tests.conftest import client
from tests.sweeps import run_sweep, study_of

pytestmark = pytest.mark.slow  # a sweep and a training run, each logging models


def test_a_sweep_at_the_limits_runs(workdir, tiny_data):
    study, experiment = "s" * limits.MAX_NAME_LENGTH, "e" * limits.MAX_NAME_LENGTH
    config = workdir / "edges.yaml"
    config.write_text(
        f"study: {study}\nexperiment: {experiment}\n"
        "activations: [relu, tanh]\nlr: [1e-2, 3E-2]\n"  # YAML 1.2 numbers
        # The largest seed leaves none for replicates (they train at seed + 1, ...).
        f"seed: {limits.MAX_SEED}\nreplicate_seeds: 0\n"
        f"heartbeat_interval: {limits.MAX_HEARTBEAT_S}\n"
        f"workers: {limits.MAX_WORKERS}\nstack: {limits.MAX_WORKERS}\n"
        f"pruner: median\npruner_warmup_epochs: {limits.MAX_EPOCHS}\n"
        # One validation image of 600, and a batch of the whole training set.
        "val_fraction: 0.002\nbatch_size: 599\nhidden_sizes: [8]\nmax_epochs: 1\npatience: 1\n"
    )
    assert run_sweep(config, tiny_data) == 0
    trials = study_of(config).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    parent = client().get_run(study_of(config).user_attrs["mlflow_parent_run_id"])
    assert parent.info.run_name == f"sweep-{study}" and parent.info.status == "FINISHED"
    assert client().get_experiment_by_name(experiment) is not None


def test_a_training_run_at_the_limits_runs(workdir, tiny_data, capsys):
    # At lr 1e-300 nothing moves: no epoch beats the first, so patience 1 stops it at the second.
    args = ["train", "--data-dir", str(tiny_data), "--hidden-sizes", "8", "--lr", "1e-300"]
    args += ["--seed", str(limits.MAX_SEED), "--epochs", str(limits.MAX_EPOCHS)]
    args += ["--patience", "1", "--batch-size", "480"]  # the whole training set
    assert main(args) == 0
    run = client().get_run(capsys.readouterr().out.split("run_id=")[1].strip())
    assert run.info.status == "FINISHED"
    assert run.data.params["seed"] == str(limits.MAX_SEED)
    assert run.data.params["max_epochs"] == str(limits.MAX_EPOCHS)
    assert run.data.metrics["best_epoch"] == 1
    assert len(client().get_metric_history(run.info.run_id, "val_acc")) == 2
