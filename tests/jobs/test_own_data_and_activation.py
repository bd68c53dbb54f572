"""A dataset and an activation of one's own, end to end: a tiny IDX folder with three named
classes and a `snake` activation in a module of a temporary folder, swept in a stack with
built-in activations, reported, registered, served over HTTP, trained and evaluated from the
command line, and the logged model loaded where the activation's module cannot be imported."""

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from pipeline.adapters import tracking
from pipeline.cli.main import main
from pipeline.core.dataset import data
from pipeline.core.network import predictor
from pipeline.core.schema.config import DEFAULT_TRACKING_URI
from tests.conftest import REPO, isolate, run_cli, run_elsewhere, write_dataset
from tests.services import invoke, serving
from tests.sweeps import TINY

CLASSES = ["circle", "square", "triangle"]
ACTIVATION = "own_snake:snake"
ALIAS = "own_snake-snake"  # MLflow aliases take no ':'
MODULE = textwrap.dedent(
    """
    import torch


    def snake(x):
        return x + torch.sin(x) ** 2
    """
)


@dataclass
class Study:
    directory: Path  # the working directory: mlflow.db, mlruns/, sweeps/, reports/
    dataset: Path  # the IDX folder
    code: Path  # the folder that holds own_snake.py
    config: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.directory}/mlflow.db"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Study:
    """A finished sweep: relu, own_snake:snake and tanh in one stack of three, on `shapes`."""
    root = tmp_path_factory.mktemp("own")
    dataset = write_dataset(root / "shapes", 300, 90, classes=3, names=CLASSES)
    code = root / "code"
    code.mkdir()
    (code / "own_snake.py").write_text(MODULE)
    directory = root / "work"
    directory.mkdir()
    config = directory / "own.yaml"
    values = {**TINY, "study": "own", "dataset": str(dataset), "lr": [0.05], "stack": 3}
    values["activations"] = ["relu", ACTIVATION, "tanh"]
    config.write_text(yaml.safe_dump(values))
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, directory)
        patch.syspath_prepend(str(code))
        assert main(["sweep", "--config", str(config), "--no-progress"]) == 0
    return Study(directory, dataset, code, config)


@pytest.fixture
def in_study(study, monkeypatch) -> Study:
    isolate(monkeypatch, study.directory)
    monkeypatch.syspath_prepend(str(study.code))
    with tracking.using_store(study.uri):
        yield study


def test_the_stack_trained_on_the_dataset_and_its_models_are_registered(in_study):
    client = mlflow.MlflowClient(in_study.uri)
    experiment = client.get_experiment_by_name("activation-study").experiment_id
    runs = client.search_runs([experiment], "tags.stage = 'train'")
    assert sorted(r.data.params["activation"] for r in runs) == sorted(["relu", ACTIVATION, "tanh"])
    for run in runs:
        assert run.data.tags["stack_size"] == "3" and run.data.tags["trial_state"] == "COMPLETE"
        assert run.data.params["dataset"] == "shapes" and run.data.params["num_classes"] == "3"
        assert json.loads(run.data.tags["classes"]) == CLASSES
        [dataset] = run.inputs.dataset_inputs
        assert dataset.dataset.name == "shapes"
        assert dataset.dataset.digest == data.locate(dataset=str(in_study.dataset)).digest[:16]
    aliases = client.get_registered_model("own").aliases
    assert {"relu", ALIAS, "tanh", "champion"} <= set(aliases)
    assert [m.name for m in client.search_registered_models()] == ["own"], "the study's own"
    text = client.get_model_version_by_alias("own", ALIAS).description
    for part in (f"{ACTIVATION} MLP 784-32-16-3 on shapes", "(N, 3)", ", ".join(CLASSES)):
        assert part in text, (part, text)


def test_the_report_names_the_dataset_and_its_classes(in_study, capsys):
    assert main(["report", "--config", str(in_study.config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["# Sweep own", "", f"Dataset: shapes, 3 classes: {', '.join(CLASSES)}."]
    table = (in_study.directory / "reports/own/results.md").read_text()
    assert f"| {ACTIVATION} | 0.05 |" in table and "| relu | 0.05 |" in table


# A fresh interpreter in an empty folder: neither the activation's module nor this project.
LOADER = textwrap.dedent(
    """
    import json, sys
    sys.modules["own_snake"] = None
    sys.modules["pipeline"] = None
    import mlflow, numpy as np

    model = mlflow.pyfunc.load_model(sys.argv[1])
    probabilities = model.predict(np.load(sys.argv[2]))
    try:
        import own_snake
        importable = True
    except ImportError:
        importable = False
    with open(sys.argv[3], "w") as handle:
        json.dump({
            "probabilities": probabilities.tolist(),
            "classes": model.metadata.metadata["classes"],
            "module_importable": importable,
        }, handle)
    """
)


def test_the_logged_model_runs_where_its_activation_cannot_be_imported(in_study, tmp_path):
    uri = f"models:/own@{ALIAS}"
    images, labels = data.load_test_images(data.locate(dataset=str(in_study.dataset)))
    model_dir = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model"))
    pixels = images.numpy().astype(np.float32)  # the model contract
    found = run_elsewhere(LOADER, model_dir, pixels, tmp_path / "elsewhere")
    assert found["module_importable"] is False and found["classes"] == CLASSES
    probabilities = np.array(found["probabilities"])
    assert probabilities.shape == (90, 3) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    # The same classes as the trained network itself, rebuilt from its checkpoint with the module.
    mlp = tracking.load_model(uri, DEFAULT_TRACKING_URI)
    assert mlp.config.activation == ACTIVATION and mlp.config.num_classes == 3
    expected = predictor.predict_proba(predictor.Predictor(mlp).eval(), images).argmax(1)
    assert (probabilities.argmax(1) == expected.numpy()).all()
    assert (expected == labels).float().mean() > 0.9, "the three bands are learnable"


@pytest.mark.slow
def test_make_serve_answers_three_named_probabilities(in_study, tmp_path):
    """The snake model behind MLflow's scoring server, started by `make serve` from a shell
    whose Python path lacks the activation's module."""
    images, _ = data.load_test_images(data.locate(dataset=str(in_study.dataset)))
    uri = f"models:/own@{ALIAS}"
    assert mlflow.models.get_model_info(uri).metadata["classes"] == CLASSES
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    env.update(PATH="/usr/bin:/bin", PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "pipeline", "serve", "--model-uri", uri, "--port"]
    log = tmp_path / "serve.log"
    with serving(command, in_study.directory, env, log) as (port, _):
        status, answer = invoke(port, {"inputs": images[:5].tolist()})
    assert status == 200, answer
    probabilities = np.array(answer["predictions"])
    assert probabilities.shape == (5, 3) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert f"(N, 3) for: {', '.join(CLASSES)}" in log.read_text()


@pytest.mark.slow
def test_train_and_evaluate_with_the_activation_from_the_working_directory(study, tmp_path):
    """`make train ACT=own_snake:snake DATA=<folder>` in a folder holding own_snake.py (Python
    finds it there), then `make evaluate` of the model it logged, each a fresh process."""
    work = tmp_path / "mine"
    work.mkdir()
    (work / "own_snake.py").write_text(MODULE)
    dry = subprocess.run(
        ["make", "-n", "train", f"ACT={ACTIVATION}", f"DATA={study.dataset}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert f"--activation '{ACTIVATION}'" in dry.stdout
    assert f"--dataset '{study.dataset}'" in dry.stdout
    flags = ["--hidden-sizes", "32,16", "--batch-size", "32", "--lr", "0.05", "--epochs", "2"]
    trained = run_cli(
        "train", "--activation", ACTIVATION, "--dataset", str(study.dataset), *flags, cwd=work
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    run_id = re.search(r"^run_id=(\w+)$", trained.stdout, re.M).group(1)
    logged = mlflow.MlflowClient(f"sqlite:///{work}/mlflow.db").get_run(run_id)
    evaluated = run_cli(
        "evaluate", "--model-uri", f"runs:/{run_id}/model", "--dataset", str(study.dataset),
        cwd=work, check=True,
    )  # fmt: skip
    lines = evaluated.stdout.splitlines()
    assert lines[0] == f"test_acc={logged.data.metrics['test_acc']:.4f}"
    assert "MLP 784-32-16-3 with own_snake:snake" in evaluated.stdout
    assert [line.split()[0] for line in lines[-3:]] == CLASSES
    assert logged.data.metrics["test_acc"] > 0.9
