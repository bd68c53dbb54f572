"""The project's MLflow store is the one MLflow itself uses with nothing set: `mlflow.db` in the
working directory, artifacts under `./mlruns`, experiments in the UI's model-training layout. A
store left in mlruns/ by an earlier version is named, with the command that moves it."""

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap

import mlflow
import pytest

from pipeline.adapters import tracking
from pipeline.cli.main import main
from pipeline.core.schema.config import DEFAULT_TRACKING_URI
from tests.conftest import one_line, run_cli

TINY = ["--hidden-sizes", "32,16", "--epochs", "1", "--lr", "0.05"]
KIND = "mlflow.experimentKind"

# What a notebook opened in the store's folder finds, with no MLFLOW_* variable set.
NOTEBOOK = textwrap.dedent(
    """
    import json, sys
    import mlflow, numpy as np

    run_id = sys.argv[1]
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("activation-study")
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    found = {
        "tracking_uri": mlflow.get_tracking_uri(),
        "runs": [r.info.run_id for r in client.search_runs([experiment.experiment_id])],
        "artifact_uri": client.get_run(run_id).info.artifact_uri,
        "kind": experiment.tags.get("mlflow.experimentKind"),
        "shape": list(model.predict(np.zeros((2, 28, 28), np.float32)).shape),
    }
    print(json.dumps(found))
    """
)


def nothing_set() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}


def trained_run(stdout: str) -> str:
    return re.search(r"^run_id=(\w+)$", stdout, re.M).group(1)


def run_count(database) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("select count(*) from runs").fetchone()[0]


@pytest.mark.slow
def test_mlflow_finds_the_runs_and_models_with_nothing_set(workdir, tiny_data):
    trained = run_cli("train", *TINY, "--data-dir", str(tiny_data), cwd=workdir, check=True)
    run_id = trained_run(trained.stdout)
    assert f"tracking_uri=sqlite:///{workdir}/mlflow.db\n" in trained.stdout
    assert sorted(p.name for p in workdir.iterdir()) == ["mlflow.db", "mlruns"]

    (workdir / "notebook.py").write_text(NOTEBOOK)
    result = subprocess.run(
        [sys.executable, "notebook.py", run_id],
        cwd=workdir,
        env=nothing_set(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["tracking_uri"] == f"sqlite:///{workdir}/mlflow.db"
    assert found["runs"] == [run_id] and found["shape"] == [2, 10]
    experiment_id = tracking.Tracker("activation-study", DEFAULT_TRACKING_URI).experiment_id
    assert found["artifact_uri"] == f"{workdir}/mlruns/{experiment_id}/{run_id}/artifacts"
    assert found["kind"] == "custom_model_development", "the UI's Model training layout"


@pytest.mark.slow
def test_a_store_left_in_mlruns_is_named_with_the_command_that_moves_it(
    bare_workdir, tiny_data, capsys
):
    """Earlier versions kept the database at mlruns/mlflow.db. Every command says where it is
    and how to move it, and creates no empty store beside it; after `mv` all is found, since the
    store records its artifacts' paths in full."""
    earlier = {"MLFLOW_TRACKING_URI": "sqlite:///mlruns/mlflow.db"}
    data = ("--data-dir", str(tiny_data))
    trained = run_cli("train", *TINY, *data, cwd=bare_workdir, env=earlier, check=True)
    run_id, old = trained_run(trained.stdout), bare_workdir / "mlruns/mlflow.db"
    model = f"runs:/{run_id}/model"

    for args in (("train", *TINY, *data), ("evaluate", "--model-uri", model, *data)):
        assert main(list(args)) == 1  # in this process: the check comes before any import
        assert one_line(capsys.readouterr().err) == (
            "error: the MLflow store is at mlruns/mlflow.db, where earlier versions kept it; "
            "move it to mlflow.db, where MLflow looks by default: mv mlruns/mlflow.db mlflow.db\n"
        )
        assert not (bare_workdir / "mlflow.db").exists() and run_count(old) == 1

    # No store this process holds open points at the old path (the refusals come before any is
    # opened), so evaluating here finds the moved store as a fresh process would.
    old.rename(bare_workdir / "mlflow.db")
    logged = mlflow.MlflowClient(f"sqlite:///{bare_workdir}/mlflow.db").get_run(run_id)
    assert main(["evaluate", "--model-uri", model, *data]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"test_acc={logged.data.metrics['test_acc']:.4f}"
    )
    assert main(["evaluate", "--model-uri", f"runs:/{run_id}/checkpoint", *data]) == 0


def test_experiments_open_in_the_ui_s_model_training_layout(workdir):
    """A new experiment gets the kind the UI's selector stores for "Model training"; one made
    without it (by MLflow itself, or an earlier version) gets it too; a user's choice is kept."""
    made = tracking.Tracker("made-here", DEFAULT_TRACKING_URI)
    client = made.client
    assert client.get_experiment(made.experiment_id).tags[KIND] == "custom_model_development"

    bare = client.create_experiment("made-by-mlflow")
    chosen = client.create_experiment("chosen", tags={KIND: "genai_development"})
    assert KIND not in client.get_experiment(bare).tags
    tracking.Tracker("made-by-mlflow", DEFAULT_TRACKING_URI)
    tracking.Tracker("chosen", DEFAULT_TRACKING_URI)
    assert client.get_experiment(bare).tags[KIND] == "custom_model_development"
    assert client.get_experiment(chosen).tags[KIND] == "genai_development"
