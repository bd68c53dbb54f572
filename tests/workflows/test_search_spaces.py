"""Sweeps of more than the learning rate, end to end on tiny data: a grid of several settings,
a sampler's trials per activation, and the replicates of each activation's best
configuration with every swept setting."""

import csv

import pytest
from optuna.trial import TrialState

from pipeline.core.schema.sweep_config import SweepConfig
from tests.conftest import client, runs_of
from tests.sweeps import SCRATCH, run_sweep, study_of, write_config


def grid_trials(study) -> list:
    return [t for t in study.get_trials() if t.user_attrs.get("phase", "grid") == "grid"]


@pytest.mark.slow
def test_a_grid_of_settings_reports_each_activations_best_configuration(workdir, tiny_data):
    config = write_config(
        workdir,
        **SCRATCH,
        lr=[0.05],
        batch_size=[32, 64],
        optimizer=["sgd", "adam"],
        init="kaiming",
        momentum=0.5,
    )
    assert run_sweep(config, tiny_data) == 0
    study = study_of(config)
    trials = grid_trials(study)
    assert len(trials) == 8 and {t.state for t in trials} == {TrialState.COMPLETE}
    points = {
        (t.params["activation"], t.params["batch_size"], t.params["optimizer"]) for t in trials
    }
    assert len(points) == 8, "the product of the lists, each point once"
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    runs = runs_of(parent_id)
    assert {r.data.params["init"] for r in runs} == {"kaiming"}, "a scalar is a fixed value"
    assert {r.data.params.get("momentum") for r in runs if r.data.params["optimizer"] == "sgd"} == {
        "0.5"
    }
    names = {r.info.run_name for r in runs}
    assert "train-relu-lr0.05-optimizeradam-batch_size32" in names
    parent = client().get_run(parent_id)
    assert parent.data.tags["space"].startswith("sampler grid: lr [0.05], optimizer")
    assert "best_batch_size.relu" in parent.data.tags
    with open(workdir / "reports/tiny/results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["activation"] for r in rows] == ["relu", "tanh"]
    assert {"best_lr", "best_optimizer", "best_batch_size"} <= set(rows[0])
    for name in ("lr", "optimizer", "batch_size"):
        assert (workdir / f"reports/tiny/{name}_response.png").stat().st_size > 10_000
        assert (workdir / f"reports/tiny/{name}_response.html").exists()
    markdown = (workdir / "reports/tiny/results.md").read_text()
    assert "| activation | best lr | best optimizer | best batch size |" in markdown


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "tpe", "gp"])
def test_a_sampler_sweep_gives_each_activation_its_trials_then_replicates_the_best(
    workdir, tiny_data, sampler
):
    # TPE's constant liar is what two workers test; the other samplers draw the same way in one.
    workers = 2 if sampler == "tpe" else 1
    config = write_config(
        workdir,
        **SCRATCH,
        sampler=sampler,
        trials_per_activation=3,
        lr={"low": 0.01, "high": 0.2},
        weight_decay={"low": 1e-5, "high": 1e-2, "log": True},
        batch_size=[32, 64],
        replicate_seeds=1,
        replicate_max_epochs=2,
        replicate_patience=2,
        workers=workers,
    )
    assert run_sweep(config, tiny_data) == 0
    study = study_of(config)
    trials = grid_trials(study)
    assert sorted(t.params["activation"] for t in trials) == ["relu"] * 3 + ["tanh"] * 3
    for t in trials:
        assert 0.01 <= t.params["lr"] <= 0.2 and 1e-5 <= t.params["weight_decay"] <= 1e-2
    keys = {tuple(sorted(t.params.items())) for t in trials}
    assert len(keys) == 6, "no point ran twice, by one worker or two"
    replicates = [t for t in study.get_trials() if t.user_attrs.get("phase") == "replicate"]
    assert len(replicates) == 2 and {t.state for t in replicates} == {TrialState.COMPLETE}
    for replicate in replicates:
        activation = replicate.params["activation"]
        best = max(
            (t for t in trials if t.params["activation"] == activation and t.value is not None),
            key=lambda t: t.value,
        )
        expected = {k: v for k, v in best.params.items()}
        assert replicate.params == expected, "the best configuration, every swept setting"
        assert replicate.user_attrs["seed"] == 43
    loaded = SweepConfig.load(config)
    assert loaded.trial_count == 6
    with open(workdir / "reports/tiny/replicates.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 2


@pytest.mark.slow
def test_a_conditional_grid_trains_adam_once_without_sgds_momentum(workdir, tiny_data):
    config = write_config(
        workdir,
        **SCRATCH,
        activations=["relu"],
        lr=[0.05],
        optimizer=["sgd", "adam"],
        momentum=[0.5, 0.9],
    )
    assert run_sweep(config, tiny_data) == 0
    assert run_sweep(config, tiny_data) == 0, "a rerun finds the Adam point done"
    trials = grid_trials(study_of(config))
    assert len(trials) == 3 and {t.state for t in trials} == {TrialState.COMPLETE}
    runs = {client().get_run(t.user_attrs["mlflow_run_id"]).info.run_name: t for t in trials}
    assert sorted(runs) == [
        "train-relu-lr0.05-optimizeradam",
        "train-relu-lr0.05-optimizersgd-momentum0.5",
        "train-relu-lr0.05-optimizersgd-momentum0.9",
    ]
    adam = runs["train-relu-lr0.05-optimizeradam"]
    assert "momentum" not in adam.params, "not drawn, not a param of the Optuna trial"
    logged = client().get_run(adam.user_attrs["mlflow_run_id"]).data.params
    assert logged["optimizer"] == "adam" and "momentum" not in logged and "nesterov" not in logged
