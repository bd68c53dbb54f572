import re
import sqlite3

import mlflow
import pytest

from pipeline.cli import main
from tests.conftest import run_cli, write_dataset

TINY = ["--hidden-sizes", "32,16", "--batch-size", "32"]


def run_count(workdir) -> int:
    database = workdir / "mlruns/mlflow.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as connection:
        return connection.execute("select count(*) from runs").fetchone()[0]


def test_train_then_evaluate_in_fresh_processes(workdir, tiny_data):
    trained = run_cli(
        "train",
        "--activation",
        "tanh",
        "--lr",
        "0.05",
        "--epochs",
        "2",
        "--data-dir",
        str(tiny_data),
        *TINY,
        cwd=workdir,
        check=True,
    )
    run_id = re.search(r"^run_id=(\w+)$", trained.stdout, re.M).group(1)
    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlruns/mlflow.db")
    logged = mlflow.MlflowClient().get_run(run_id).data.metrics["test_acc"]

    for uri in (f"runs:/{run_id}/model", f"runs:/{run_id}/checkpoint"):
        evaluated = run_cli(
            "evaluate", "--model-uri", uri, "--data-dir", str(tiny_data), cwd=workdir, check=True
        )
        lines = evaluated.stdout.splitlines()
        assert lines[0] == f"test_acc={logged:.4f}", uri
        assert "T-shirt/top" in evaluated.stdout and "Ankle boot" in evaluated.stdout


BAD_TRAIN_INPUTS = [
    (["--activation", "nope"], 2, "unknown activation 'nope'; choose one of: sigmoid"),
    (["--lr", "0"], 2, "lr must be a positive finite number, got 0.0"),
    (["--lr", "-0.1"], 2, "lr must be a positive finite number"),
    (["--lr", "nan"], 2, "lr must be a positive finite number, got nan"),
    (["--lr", "fast"], 2, "lr must be a number, got 'fast'"),
    (["--epochs", "0"], 2, "max_epochs must be an integer >= 1, got 0"),
    (["--batch-size", "0"], 2, "batch_size must be an integer >= 1, got 0"),
    (["--patience", "0"], 2, "patience must be an integer >= 1, got 0"),
    (["--hidden-sizes", ""], 2, "hidden_sizes must be a comma-separated list"),
    (["--hidden-sizes", "64,0"], 2, "hidden_sizes must all be positive integers, got [64, 0]"),
    (["--hidden-sizes", "64,-8"], 2, "hidden_sizes must all be positive integers"),
    (["--bogus"], 2, "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_TRAIN_INPUTS)
def test_bad_train_input_is_one_line_and_writes_nothing(
    workdir, tiny_data, capsys, args, code, message
):
    assert main(["train", "--data-dir", str(tiny_data), *args]) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1, err
    assert run_count(workdir) == 0


def broken_dataset(tmp_path, how: str):
    directory = write_dataset(tmp_path / how)
    path = directory / "train-images-idx3-ubyte"
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif how == "altered":
        content = bytearray(path.read_bytes())
        content[1000] ^= 0xFF
        path.write_bytes(bytes(content))
    elif how == "missing":
        path.unlink()
    return directory


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "train-images-idx3-ubyte is truncated"),
        ("altered", "train-images-idx3-ubyte fails its checksum"),
        ("missing", "lacks train-images-idx3-ubyte"),
    ],
)
def test_broken_data_is_a_runtime_error_before_any_run(workdir, tmp_path, capsys, how, message):
    assert main(["train", "--data-dir", str(broken_dataset(tmp_path, how))]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert run_count(workdir) == 0


def test_missing_data_dir_and_unreachable_store(workdir, tiny_data, capsys, monkeypatch):
    assert main(["train", "--data-dir", str(workdir / "nowhere")]) == 2
    assert "data directory" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert main(["train", "--data-dir", str(tiny_data)]) == 1
    err = capsys.readouterr().err
    assert "is unreachable" in err and "MLFLOW_TRACKING_URI" in err and err.count("\n") == 1
    assert run_count(workdir) == 0


def test_missing_model_uri(workdir, tiny_data, capsys):
    assert (
        main(
            [
                "evaluate",
                "--model-uri",
                "runs:/0123456789abcdef/model",
                "--data-dir",
                str(tiny_data),
            ]
        )
        == 1
    )
    assert "not found" in capsys.readouterr().err


def test_errors_show_a_traceback_only_with_debug(workdir, tiny_data):
    plain = run_cli("train", "--lr", "-1", cwd=workdir)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    debug = run_cli("--debug", "train", "--lr", "-1", cwd=workdir)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_help_lists_every_stage(workdir):
    result = run_cli("--help", cwd=workdir)
    assert result.returncode == 0
    for stage in ("data", "train", "evaluate"):
        assert stage in result.stdout
