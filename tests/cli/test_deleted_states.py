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


def test_a_deleted_trial_run_stops_the_sweep_and_the_report_in_one_line(workdir, tiny_data, capsys):
    config = write_config(workdir, lr=[0.05], activations=["relu"])
    assert run_sweep(config, tiny_data) == 0
    [trial] = study_of(config).trials
    run_id = trial.user_attrs["mlflow_run_id"]
    report = workdir / "reports" / "tiny" / "results.md"
    written = report.read_text()
    client().delete_run(run_id)
    capsys.readouterr()
    for command in (
        lambda: run_sweep(config, tiny_data),
        lambda: main(["report", "--config", str(config)]),
    ):
        assert command() == 1
        err = one_line(capsys.readouterr().err)
        assert (
            f"study 'tiny': 1 of its finished trials' MLflow run is deleted (first {run_id})" in err
        )
        assert f"restore them (`mlflow runs restore --run-id {run_id}`" in err
    assert report.read_text() == written, "the report is not rebuilt without the run"
    client().restore_run(run_id)
    assert main(["report", "--config", str(config)]) == 0


def test_a_deleted_model_version_or_model_is_named_with_what_the_registry_holds(
    workdir, tiny_data, capsys
):
    config = write_config(workdir, lr=[0.05], activations=["relu"])
    assert run_sweep(config, tiny_data) == 0
    evaluate = ["evaluate", "--model-uri", "models:/tiny@champion", "--data-dir", str(tiny_data)]
    champion = client().get_model_version_by_alias("tiny", "champion")
    client().delete_run(champion.run_id)  # the registry keeps the version: it still loads
    capsys.readouterr()
    assert main(evaluate) == 0
    assert f"run {champion.run_id} (deleted in MLflow" in capsys.readouterr().out
    client().restore_run(champion.run_id)

    client().delete_model_version("tiny", champion.version)
    assert main(evaluate) == 1
    err = one_line(capsys.readouterr().err)
    assert "model models:/tiny@champion not found: registered model 'tiny' has no alias" in err
    assert "(aliases: none; versions: none)" in err and "next `make sweep` sets them" in err
    assert run_sweep(config, tiny_data) == 0, "the study's sweep registers it again"
    assert main(evaluate) == 0

    client().delete_registered_model("tiny")
    capsys.readouterr()
    assert main(evaluate) == 1
    err = one_line(capsys.readouterr().err)
    assert "not found: no registered model 'tiny' (registered models: none)" in err
