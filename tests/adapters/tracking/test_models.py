"""Logged models anyone can use: raw pixels in, class probabilities out, loaded without pickle
and without this package, served by MLflow's scoring server, and describing themselves."""

import json
import os
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from pipeline.adapters import servers, tracking
from pipeline.adapters.tracking import registry
from pipeline.cli.main import main
from pipeline.core.dataset import data
from pipeline.core.network import predictor
from pipeline.core.schema.config import DEFAULT_TRACKING_URI, TrainConfig
from tests.conftest import isolate, needs_real_data, one_line, run_elsewhere
from tests.services import free_port, invoke, serving, taken_port
from tests.sweeps import sweep_config

# What the logged model says to pixels that are not raw (scaled, normalised, out of range).
PIXELS_REFUSED = (
    "pixels must be raw integers 0-255 (as the dataset's files hold them), not scaled to [0, 1] "
    "or normalised"
)


@dataclass
class Store:
    directory: Path
    run_id: str  # the champion's run
    test_acc: float  # as the run logged it

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.directory}/mlflow.db"


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_data) -> Store:
    """A finished 1 x 1 sweep: its trial logged as a model and registered as relu and champion."""
    directory = tmp_path_factory.mktemp("models-store")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, directory)
        config = sweep_config(directory, "good.yaml", {})
        assert (
            main(["sweep", "--config", config, "--data-dir", str(tiny_data), "--no-progress"]) == 0
        )
    client = mlflow.MlflowClient(f"sqlite:///{directory}/mlflow.db")
    run_id = client.get_model_version_by_alias("tiny", "champion").run_id
    return Store(directory, run_id, client.get_run(run_id).data.metrics["test_acc"])


@pytest.fixture
def in_store(store, monkeypatch) -> Iterator[Store]:
    """In the store's directory, as a user there; the test's own MLflow calls read that store."""
    monkeypatch.chdir(store.directory)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with tracking.using_store(store.uri):
        yield store


def evaluate_classes(model_uri: str, images: torch.Tensor) -> np.ndarray:
    """The classes `make evaluate` predicts: the same loader and batches it uses."""
    model, _ = tracking.load_predictor(model_uri, DEFAULT_TRACKING_URI)
    return predictor.predict_proba(model, images).argmax(1).numpy()


# --- loading anywhere: no pickle, no pipeline, no checkout -------------------------------

# Run as a fresh interpreter in an empty directory: `import pipeline` fails, pickles are refused.
FOREIGN_LOADER = textwrap.dedent(
    """
    import json, sys
    sys.modules["pipeline"] = None  # whatever this model needs, it is not this project's code
    import mlflow, numpy as np

    model_dir, images_file, out_file = sys.argv[1:]
    model = mlflow.pyfunc.load_model(model_dir)
    raw = np.load(images_file)  # uint8, as the dataset's files hold them
    images = raw.astype(np.float32)
    result = {"probabilities": model.predict(images).tolist(), "errors": {}}
    meta = model.metadata
    result["classes"] = meta.metadata["classes"]
    result["inputs"] = meta.get_input_schema().to_dict()
    bad = {
        "scaled to [0, 1]": images / 255,
        "normalised": (images / 255 - 0.5) / 0.5,
        "above 255": images + 300,
        "uint8": raw,
        "float64": raw / 255,
        "int64": raw.astype(np.int64),
        "flattened (N, 784)": images.reshape(len(images), -1),
        "one image without batch": images[0],
        "channel axis (N, 1, 28, 28)": images[:, None],
    }
    for case, values in bad.items():
        try:
            model.predict(values)
            result["errors"][case] = None
        except Exception as error:  # what a user reads first, and where MLflow puts the reason
            lines = str(error).splitlines()
            result["errors"][case] = {"first": lines[0], "last": lines[-1]}
    try:
        import pipeline
        result["pipeline_importable"] = True
    except ImportError:
        result["pipeline_importable"] = False
    with open(out_file, "w") as handle:
        json.dump(result, handle)
    """
)


def load_elsewhere(model_uri: str, store_uri: str, images: np.ndarray, tmp_path: Path) -> dict:
    """Download the model out of the store, then load and call it from a process that has no
    store, no checkout, no `pipeline` and pickle deserialisation disabled."""
    # Not tracking_uri=: MLflow 3.17 looks a run's logged model up in the current store.
    with tracking.using_store(store_uri):
        model_dir = mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path / "model"))
    return run_elsewhere(FOREIGN_LOADER, model_dir, images, tmp_path / "elsewhere")


def test_the_champion_loads_anywhere_and_agrees_with_evaluate(in_store, tiny_data, tmp_path):
    images, labels = data.load_test_images(data.locate(tiny_data))
    assert images.dtype == torch.uint8 and images.shape == (200, 28, 28)
    uri = "models:/tiny@champion"
    found = load_elsewhere(uri, in_store.uri, images.numpy(), tmp_path)

    assert found["pipeline_importable"] is False
    probabilities = np.array(found["probabilities"])
    assert probabilities.shape == (200, 10)
    assert np.allclose(probabilities.sum(1), 1, atol=1e-5) and (probabilities >= 0).all()
    assert (probabilities.argmax(1) == evaluate_classes(uri, images)).all()
    accuracy = (probabilities.argmax(1) == labels.numpy()).sum() / len(labels)
    assert accuracy == in_store.test_acc, "the logged test_acc, from raw pixels"
    assert found["classes"] == list(data.CLASSES)
    [spec] = found["inputs"]
    assert spec["tensor-spec"] == {"dtype": "float32", "shape": [-1, 28, 28]}

    # Bad input is refused, never answered. Pixels that are not raw reach the model, whose
    # refusal is the first line a user reads; MLflow's own checks of dtype and shape come first
    # and put their reason last, after the data.
    errors = found["errors"]
    for case in ("scaled to [0, 1]", "normalised", "above 255"):
        assert errors[case]["first"] == PIXELS_REFUSED, case
    for case in ("uint8", "float64", "int64"):
        assert (
            f"dtype of input {case} does not match expected dtype float32" in (errors[case]["last"])
        )
    shape = "does not match expected shape (-1, 28, 28)"
    for case in ("flattened (N, 784)", "one image without batch", "channel axis (N, 1, 28, 28)"):
        assert shape in errors[case]["last"], case


def test_the_logged_model_shows_its_contract(in_store, tiny_data):
    info = mlflow.models.get_model_info("models:/tiny@champion")
    assert "pytorch" in info.flavors and "python_function" in info.flavors
    assert info.metadata["classes"] == list(data.CLASSES)
    assert "pixels 0-255 as float32 integers" in info.metadata["input_contract"]
    [output] = info.signature.outputs.to_dict()
    assert output["tensor-spec"] == {"dtype": "float32", "shape": (-1, 10)}
    local = Path(mlflow.artifacts.download_artifacts("models:/tiny@champion"))
    example = json.loads((local / "serving_input_example.json").read_text())
    images, _ = data.load_test_images(data.locate(tiny_data))
    assert np.array_equal(np.array(example["inputs"]), images[: data.EXAMPLE_COUNT].numpy())
    requirements = (local / "requirements.txt").read_text().split()
    assert [r.split("==")[0] for r in requirements] == ["torch", "mlflow"]
    assert list(local.rglob("*.pt2")) and not list(local.rglob("*.pth"))


def test_a_registered_version_describes_itself(in_store):
    client = mlflow.MlflowClient(in_store.uri)
    version = client.get_model_version_by_alias("tiny", "champion")
    run = client.get_run(version.run_id)
    text = version.description
    for part in (
        "relu MLP 784-32-16-10",
        "SGD lr 0.05",
        "cross-entropy,",  # no label smoothing
        "2 epochs",
        f"best val_acc {run.data.metrics['best_val_acc']:.4f}",
        f"test_acc {in_store.test_acc:.4f}",
        version.run_id,
        "pixels 0-255 as float32 integers",
        "T-shirt/top, Trouser",
        "without pickle",
    ):
        assert part in text, (part, text)


def test_evaluate_prints_the_logged_test_acc_from_raw_pixels(in_store, tiny_data, capsys):
    # In this process: tests/jobs/test_ui.py reloads a champion in a fresh one.
    uri = "models:/tiny@champion"
    assert main(["evaluate", "--model-uri", uri, "--data-dir", str(tiny_data)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"test_acc={in_store.test_acc:.4f}"
    assert "torch.export program of MLP 784-32-16-10 with relu" in out


def test_the_project_tools_get_the_mlp_from_the_checkpoint(in_store):
    mlp = tracking.load_model("models:/tiny@relu", DEFAULT_TRACKING_URI)
    assert mlp.config.hidden_sizes == (32, 16) and mlp.config.activation == "relu"


def test_a_pickled_model_of_an_older_version_is_never_unpickled(in_store, tiny_data, capsys):
    """Models logged before this format were pickles of the MLP: evaluate uses their run's
    checkpoint instead, and says so."""
    mlp = tracking.load_model(f"runs:/{in_store.run_id}/checkpoint", DEFAULT_TRACKING_URI)
    info = mlflow.pytorch.log_model(
        mlp,
        name="pickled",
        run_id=in_store.run_id,
        serialization_format="pickle",
        pip_requirements=["torch"],
    )
    assert main(["evaluate", "--model-uri", info.model_uri, "--data-dir", str(tiny_data)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"test_acc={in_store.test_acc:.4f}"
    assert (
        f"from the checkpoint of run {in_store.run_id}; the logged model was not opened: "
        "Deserializing model using pickle is disallowed"
    ) in out


def test_an_empty_batch_gives_an_empty_answer(in_store):
    """torch.export keeps no check on the batch size (it drops `assert len(x) > 0`), so in
    Python an empty batch gets an empty answer; the scoring server refuses it (below)."""
    model = mlflow.pyfunc.load_model("models:/tiny@champion")
    assert model.predict(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)


# --- `make serve` -------------------------------------------------------------------------


def test_serve_execs_mlflow_models_serve_with_what_it_needs(in_store, monkeypatch, capsys):
    started = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append((path, argv, env)))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a plain shell: the venv not activated
    port = free_port()
    assert main(["serve", "--port", str(port), "--model-uri", "models:/tiny@champion"]) == 0
    [(path, argv, env)] = started
    assert path == argv[0] == servers.venv_tool("mlflow")
    assert argv[1:] == [
        *("models", "serve", "-m", "models:/tiny@champion"),
        *("-h", "127.0.0.1", "-p", str(port), "--env-manager", "local"),
    ]
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["MLFLOW_TRACKING_URI"] == in_store.uri
    assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    out = capsys.readouterr().out
    assert f"url=http://127.0.0.1:{port}/invocations" in out
    assert "Tensor('float32', (-1, 28, 28))" in out


@pytest.mark.parametrize(
    ("uri", "code", "message"),
    [
        ("models:/fashion-mlp@nobody", 1, "model models:/fashion-mlp@nobody not found"),
        ("models:/no-such-model/1", 1, "model models:/no-such-model/1 not found"),
        ("runs:/0123456789abcdef/model", 1, "model runs:/0123456789abcdef/model not found"),
        ("RUN/checkpoint", 2, "is a checkpoint, not an MLflow model"),
        ("s3://bucket/model", 2, "unsupported model URI 's3://bucket/model'"),
    ],
)
def test_serve_a_model_that_is_not_there_is_one_line(
    in_store, monkeypatch, capsys, uri, code, message
):
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("started a server"))
    uri = uri.replace("RUN", f"runs:/{in_store.run_id}")
    assert main(["serve", "--port", str(free_port()), "--model-uri", uri]) == code
    assert message in one_line(capsys.readouterr().err)


def test_serve_without_a_store_creates_none(bare_workdir, monkeypatch, capsys):
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("started a server"))
    assert main(["serve", "--port", str(free_port())]) == 1
    assert "there is no tracking store" in one_line(capsys.readouterr().err)
    assert not (bare_workdir / "mlflow.db").exists() and not (bare_workdir / "mlruns").exists()


def test_serve_on_a_taken_port_names_a_free_one(in_store, monkeypatch, capsys):
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("started a server"))
    with taken_port() as port:
        assert main(["serve", "--port", str(port)]) == 1
    err = one_line(capsys.readouterr().err)
    assert f"port {port} on 127.0.0.1 is already in use" in err and "make serve PORT=" in err


@pytest.mark.slow
def test_serve_answers_raw_pixels_and_refuses_scaled_ones(in_store, tiny_data, tmp_path):
    """`make serve` from a plain shell: the raw test images, as JSON integers, get the classes
    `make evaluate` gives and the logged test_acc; pixels scaled to [0, 1] (which a uint8 input
    would have cast to zeros and answered) get a 400 whose stack_trace ends with what to send."""
    images, labels = data.load_test_images(data.locate(tiny_data))
    expected = evaluate_classes("models:/tiny@champion", images)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = "/usr/bin:/bin"  # not the venv's: serve finds uvicorn itself
    command = [sys.executable, "-m", "pipeline", "serve", "--model-uri", "models:/tiny@champion"]
    command.append("--port")
    log = tmp_path / "serve.log"
    with serving(command, in_store.directory, env, log) as (port, _):
        for key in ("inputs", "instances"):
            status, answer = invoke(port, {key: images.tolist()})
            assert status == 200, answer
            probabilities = np.array(answer["predictions"])
            assert probabilities.shape == (200, 10)
            assert (probabilities.argmax(1) == expected).all(), key
            accuracy = (probabilities.argmax(1) == labels.numpy()).sum() / len(labels)
            assert accuracy == in_store.test_acc, "the logged test_acc, from raw pixels"
        scaled = (images[:2].float() / 255).tolist()
        for body in (
            {"inputs": scaled},
            {"inputs": [[[300] * 28] * 28]},
            {"inputs": [[[-1] * 28] * 28]},
        ):
            status, answer = invoke(port, body)
            assert status == 400 and "predictions" not in answer, answer
            assert answer["stack_trace"].splitlines()[-1] == f"RuntimeError: {PIXELS_REFUSED}"
        flat = images[:2].reshape(2, -1).tolist()
        for body, message in (
            ({"inputs": flat}, "does not match expected shape (-1, 28, 28)"),
            ({"inputs": []}, "Failed to enforce schema"),
            ({"columns": [1]}, "exactly one of the input fields"),
        ):
            status, answer = invoke(port, body)
            assert status == 400 and message in answer["message"], (body, answer)
    assert f"url=http://127.0.0.1:{port}/invocations" in log.read_text()
    assert f"tracking_uri={in_store.uri}" in log.read_text()


@pytest.mark.slow
def test_mlflow_models_serve_finds_the_model_with_nothing_set(in_store, tiny_data, tmp_path):
    """MLflow's own command, run in the store's folder with no MLFLOW_* variable: the store is
    where MLflow looks by default, and creates no stray one."""
    images, _ = data.load_test_images(data.locate(tiny_data))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [servers.venv_tool("mlflow"), "models", "serve", "-m", "models:/tiny@champion"]
    command += ["--env-manager", "local", "-p"]
    before = sorted(path.name for path in in_store.directory.iterdir())
    with serving(command, in_store.directory, env, tmp_path / "serve.log") as (port, _):
        status, answer = invoke(port, {"inputs": images[:20].tolist()})
    assert status == 200 and np.array(answer["predictions"]).shape == (20, 10), answer
    assert sorted(path.name for path in in_store.directory.iterdir()) == before


# --- the real test set --------------------------------------------------------------------


@needs_real_data
def test_a_model_of_the_real_data_answers_raw_test_images(workdir, tmp_path, capsys):
    """1000 real test images, given as the files hold them, through a model trained for one
    epoch on the real training set and loaded where this package is not."""
    arguments = ["--epochs", "1", "--hidden-sizes", "32,16", "--lr", "0.05"]
    assert main(["train", *arguments]) == 0
    run_id = re.search(r"^run_id=(\w+)$", capsys.readouterr().out, re.M).group(1)
    uri = f"runs:/{run_id}/model"
    client = mlflow.MlflowClient(tracking.resolve_uri(DEFAULT_TRACKING_URI))
    logged = client.get_run(run_id).data.metrics["test_acc"]
    assert main(["evaluate", "--model-uri", uri]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"test_acc={logged:.4f}"

    images, labels = data.load_test_images(data.locate())
    assert len(labels) == 10_000 and labels[:3].tolist() == [9, 2, 1]
    images = images[:1000]
    store_uri = tracking.resolve_uri(DEFAULT_TRACKING_URI)
    found = load_elsewhere(uri, store_uri, images.numpy(), tmp_path)
    classes = np.array(found["probabilities"]).argmax(1)
    assert (classes == evaluate_classes(uri, images)).all()
    assert (classes == labels[:1000].numpy()).mean() > 0.6, "one epoch learns most classes"


def test_a_versions_description_names_its_optimizer_and_its_loss():
    params = TrainConfig(optimizer="adam", lr=0.001, label_smoothing=0.1).params()
    assert registry.training_text(params) == "Adam lr 0.001, cross-entropy with label smoothing 0.1"
    gone = {**params, "activation": "nowhere_module:snake"}  # a run whose activation is gone
    assert registry.training_text(gone) == "adam lr 0.001"
