"""States a user makes with MLflow's own commands: a deleted experiment is one line naming the
restore command, from `train` and from `sweep`, and the sweep writes no study first; restored,
both work again."""

import pytest

from pipeline.cli.main import main
from tests.conftest import client, one_line
from tests.sweeps import run_sweep, study_of, write_config

pytestmark = pytest.mark.slow  # two trainings and a sweep of one trial

TRAIN = ["train", "--epochs", "1", "--hidden-sizes", "16", "--experiment", "gone"]


def test_a_deleted_experiment_is_one_line_with_its_restore_command(workdir, tiny_data, capsys):
    train = [*TRAIN, "--data-dir", str(tiny_data)]
    assert main(train) == 0
    experiment = client().get_experiment_by_name("gone").experiment_id
    client().delete_experiment(experiment)
    capsys.readouterr()
    assert main(train) == 1
    err = one_line(capsys.readouterr().err)
    assert f"experiment 'gone' (id {experiment})" in err
    assert f"is deleted; restore it (`mlflow experiments restore -x {experiment}`" in err

    config = write_config(workdir, experiment="gone", lr=[0.05], activations=["relu"])
    assert run_sweep(config, tiny_data) == 1
    assert "is deleted; restore it" in one_line(capsys.readouterr().err)
    assert not (workdir / "sweeps").exists(), "no study made before the store was checked"

    client().restore_experiment(experiment)
    assert main(train) == 0 and run_sweep(config, tiny_data) == 0


def test_a_studys_parent_run_deleted_or_its_experiment_renamed_is_one_line(
    workdir, tiny_data, capsys
):
    config = write_config(workdir, lr=[0.05], activations=["relu"])
    assert run_sweep(config, tiny_data) == 0
    parent = study_of(config).user_attrs["mlflow_parent_run_id"]
    experiment = client().get_experiment_by_name("activation-study").experiment_id
    client().rename_experiment(experiment, "renamed")
    capsys.readouterr()
    assert run_sweep(config, tiny_data) == 1
    err = one_line(capsys.readouterr().err)
    assert f"parent run {parent} in experiment 'renamed', not 'activation-study'" in err
    assert "give `experiment: renamed` in" in err
    assert client().get_experiment_by_name("activation-study") is None, "nothing made"

    client().rename_experiment(experiment, "activation-study")
    client().delete_run(parent)
    assert run_sweep(config, tiny_data) == 1
    err = one_line(capsys.readouterr().err)
    assert f"parent run {parent}, which is deleted; restore it (`mlflow runs restore" in err
    client().restore_run(parent)
    assert run_sweep(config, tiny_data) == 0
