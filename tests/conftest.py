"""Shared fixtures: tiny synthetic Fashion-MNIST files, an isolated working directory and store."""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.core.dataset import data
from pipeline.core.dataset.datasets import NAMES_FILE
from pipeline.core.process import environment
from pipeline.core.schema.config import DEFAULT_TRACKING_URI

REPO = Path(__file__).resolve().parents[1]
# The browser tests' `page` fixture, for every test module that drives Chromium.
pytest_plugins = ("tests.browser",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests first (their order kept): test processes take whole files in
    this order, so the long ones start early and the short ones fill in at the end, rather
    than one process finishing a long file while the other waits."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


REAL_DATA = data.DEBIAN_DIR / "train-images-idx3-ubyte.gz"
_no_real_data = pytest.mark.skipif(
    not REAL_DATA.exists()
    and not (REPO / "data/FashionMNIST/raw/train-images-idx3-ubyte").exists(),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)


# The CUDA-graph training steps (lone and stacked) run only on a GPU.
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device (the CUDA-graph steps run only there)"
)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread_per_process():
    """One intra-op thread in this process and in the processes the tests start (unless
    OMP_NUM_THREADS says otherwise). The suite runs a test process per core, and torch's default
    of a thread per core in each oversubscribes them: its threads spin-wait, costing the tiny
    models here several times their CPU time. No test's numbers depend on the count: a run
    records it, and a test that compares runs gives `--threads` itself."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        yield


@pytest.fixture(autouse=True, scope="session")
def optuna_logs_as_the_program_sets_them():
    """Tests that call workflows without the CLI's entry point get Optuna's log level as the
    program sets it there."""
    from pipeline.adapters import studies

    studies.configure_logging()


def needs_real_data(test):
    """On the real Fashion-MNIST: slow, and skipped (saying why) where it is not installed."""
    return pytest.mark.slow(_no_real_data(test))


def idx_images(images: np.ndarray) -> bytes:
    count, rows, cols = images.shape
    return struct.pack(">IIII", 2051, count, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def synthetic_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Learnable images: class k lights up row band k, over noise."""
    images = rng.integers(0, 60, size=(len(labels), 28, 28))
    for index, label in enumerate(labels):
        images[index, 2 + 2 * label : 4 + 2 * label, 4:24] = 200 + rng.integers(0, 55)
    return images


def write_dataset(
    directory: Path,
    train_count: int = 600,
    test_count: int = 200,
    seed: int = 0,
    classes: int = 10,
    names: list[str] | None = None,
) -> Path:
    """Four IDX files plus a SHA256SUMS manifest, like a real (custom) dataset directory; with
    `names`, a classes.txt naming the classes too."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    train_labels = np.arange(train_count) % classes
    test_labels = rng.permutation(np.arange(test_count) % classes)
    files = {
        "train-images-idx3-ubyte": idx_images(synthetic_images(train_labels, rng)),
        "train-labels-idx1-ubyte": idx_labels(train_labels),
        "t10k-images-idx3-ubyte": idx_images(synthetic_images(test_labels, rng)),
        "t10k-labels-idx1-ubyte": idx_labels(test_labels),
    }
    lines = []
    for name, content in files.items():
        (directory / name).write_bytes(content)
        lines.append(f"{hashlib.sha256(content).hexdigest()}  {name}")
    (directory / data.MANIFEST).write_text("\n".join(lines) + "\n")
    if names is not None:
        (directory / NAMES_FILE).write_text("\n".join(names) + "\n")
    return directory


@pytest.fixture(scope="session", autouse=True)
def mlflow_process_settings() -> None:
    """MLflow's settings as the command line makes them for its process, for in-process tests."""
    from pipeline.adapters import tracking

    tracking.configure_process()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A read-only-by-convention synthetic dataset shared by the whole session."""
    return write_dataset(tmp_path_factory.mktemp("tiny-fashion-mnist"))


def isolate(patch: pytest.MonkeyPatch, directory: Path) -> Path:
    """Run in `directory`, with no store, study storage or data folder taken from the
    environment: mlflow.db, mlruns/, data/ and sweeps/ land there, never in the repo."""
    patch.chdir(directory)
    for name in (environment.TRACKING_URI, environment.STUDY_STORAGE, environment.DATA_DIR):
        patch.delenv(name, raising=False)
    return directory


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An empty MLflow store (SQLite), its schema made once a session: a fresh store's schema
    migrations take about 2 s of CPU, which every test that runs something would pay."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def workdir(tmp_path, monkeypatch, empty_store) -> Path:
    """A fresh, isolated working directory for one test, holding MLflow's default store
    (`mlflow.db`) as its first run would make it: empty, its schema made."""
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    return isolate(monkeypatch, tmp_path)


@pytest.fixture
def bare_workdir(tmp_path, monkeypatch) -> Path:
    """A fresh, isolated working directory with no store: for what must create one, or not."""
    return isolate(monkeypatch, tmp_path)


def one_line(err: str) -> str:
    """A user's error: one line, starting with `error: `, and no traceback."""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def run_cli(
    *args: str, cwd: Path, env: dict | None = None, timeout: float = 300, check: bool = False
) -> subprocess.CompletedProcess:
    """`python -m pipeline ARGS` in a fresh process, as a user would run it."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update(PYTHONUNBUFFERED="1", **(env or {}))
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"pipeline {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


# --- shared helpers for tests that read MLflow or a study --------------------------------


def client():
    """An MLflow client on the store the pipeline uses in this test's working directory."""
    import mlflow

    from pipeline.adapters import tracking

    return mlflow.MlflowClient(tracking.resolve_uri(DEFAULT_TRACKING_URI))


def runs_of(parent_id: str, experiment: str = "activation-study"):
    experiment_id = client().get_experiment_by_name(experiment).experiment_id
    return client().search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")


def open_sweep(config_path: Path, create: bool):
    """The sweep job's handle on a study, as `make sweep` (create) or `make worker` open it:
    its config made from the file and this process's environment, as the command line makes it."""
    from pipeline.cli.main import make_config
    from pipeline.core.process.environment import read_settings
    from pipeline.workflows import sweep

    job = make_config("sweep", {"config_path": Path(config_path)}, read_settings())
    return sweep.open_sweep(job, create=create)


def run_elsewhere(loader: str, model_dir: str, images: np.ndarray, directory: Path) -> dict:
    """Run the script `loader` on a downloaded model and `images` in a fresh interpreter in
    `directory`: no store, no checkout, no `pipeline`, pickle deserialisation off; what the
    script wrote to out.json."""
    directory.mkdir()
    np.save(directory / "images.npy", images)
    (directory / "load.py").write_text(loader)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON", "FASHION"))
    }
    env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
    result = subprocess.run(
        [sys.executable, "load.py", model_dir, "images.npy", "out.json"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((directory / "out.json").read_text())


def plotly_data(html: str) -> tuple[list, dict]:
    """The data and layout of the plotly figure a page draws (`Plotly.newPlot(id, data,
    layout, ...)`)."""
    decoder = json.JSONDecoder()
    rest = html[html.index("Plotly.newPlot(") + len("Plotly.newPlot(") :]
    values = []
    for _ in range(3):  # the element id, the data, the layout
        value, end = decoder.raw_decode(rest.lstrip())
        values.append(value)
        rest = rest.lstrip()[end:].lstrip().removeprefix(",")
    return values[1], values[2]
