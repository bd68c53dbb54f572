import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from pipeline.cli.commands import STAGES
from pipeline.cli.main import main
from tests.conftest import REPO, run_cli

TINY = ["--hidden-sizes", "32,16", "--batch-size", "32"]


def run_count(workdir) -> int:
    database = workdir / "mlflow.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as connection:
        return connection.execute("select count(*) from runs").fetchone()[0]


@dataclass
class Trained:
    directory: Path  # the working directory: mlflow.db, mlruns/
    data_dir: tuple[str, str]  # the flag
    run_id: str

    @property
    def client(self) -> mlflow.MlflowClient:
        # A client on the store, not MLflow's current URI: nothing leaks into later tests.
        return mlflow.MlflowClient(f"sqlite:///{self.directory}/mlflow.db")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data) -> Trained:
    """`train` in a fresh process, as a user runs it; one thread and seed 7, which a redo of the
    run must take from it."""
    directory = tmp_path_factory.mktemp("trained")
    data_dir = ("--data-dir", str(tiny_data))
    original = run_cli(
        *("train", "--activation", "tanh", "--lr", "0.1", "--epochs", "3", "--seed", "7"),
        *("--threads", "1", *TINY, *data_dir),
        cwd=directory,
        check=True,
    )
    return Trained(directory, data_dir, re.search(r"^run_id=(\w+)$", original.stdout, re.M)[1])


@pytest.mark.slow
def test_train_then_evaluate_in_fresh_processes(trained):
    logged = trained.client.get_run(trained.run_id).data.metrics["test_acc"]
    for uri in (f"runs:/{trained.run_id}/model", f"runs:/{trained.run_id}/checkpoint"):
        evaluated = run_cli(
            "evaluate", "--model-uri", uri, *trained.data_dir, cwd=trained.directory, check=True
        )
        lines = evaluated.stdout.splitlines()
        assert lines[0] == f"test_acc={logged:.4f}", uri
        assert "T-shirt/top" in evaluated.stdout and "Ankle boot" in evaluated.stdout


def test_errors_show_a_traceback_only_with_debug(workdir, tiny_data):
    plain = run_cli("train", "--lr", "-1", cwd=workdir)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    debug = run_cli("--debug", "train", "--lr", "-1", cwd=workdir)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_help_lists_every_stage(workdir):
    result = run_cli("--help", cwd=workdir)
    assert result.returncode == 0
    listed = result.stdout.partition("STAGE\n")[2].partition("\n\n")[0]
    # One entry per stage, in order, each with its help (a long name puts it on the next line).
    entries = re.findall(r"^    (\S+)\s+(.+)$", listed, re.M)
    assert entries == [(name, stage.help) for name, stage in STAGES.items()], listed


# In a fresh interpreter, as `python -m pipeline ...` runs: each command answers (exit 0 for
# help, 2 for a bad flag or config) and none of the heavy libraries has been imported.
LIGHT_ANSWERS = """
import runpy, sys
from pathlib import Path
Path("bad.yaml").write_text("max_epochs: 0\\n")
commands = [["--help"], *([stage, "--help"] for stage in sys.argv[1].split(",")),
            ["train", "--lr", "fast"], ["train", "--epochs", "0"], ["no-such-stage"],
            ["sweep", "--config", "bad.yaml"], ["report", "--config", "absent.yaml"]]
for command in commands:
    sys.argv = ["pipeline", *command]
    try:
        runpy.run_module("pipeline", run_name="__main__")
    except SystemExit as end:
        code = end.code
    expected = 0 if command[-1] == "--help" else 2
    assert code == expected, (command, code)
    heavy = sorted({"torch", "mlflow", "optuna"} & set(sys.modules))
    assert not heavy, (command, heavy)
"""


def test_help_and_errors_import_neither_torch_mlflow_nor_optuna(workdir):
    """`--help`, a stage's help, a bad flag and a bad config answer without loading torch,
    MLflow or Optuna (seconds each): they are imported only for a stage that runs."""
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_ANSWERS, ",".join(STAGES)],
        cwd=workdir,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_flags_become_a_typed_config_with_named_errors():
    from pipeline.cli.main import build_parser, make_config
    from pipeline.core.schema.job_config import TrainJobConfig

    args = vars(build_parser().parse_args(["train", "--hidden-sizes", "512, 256", "--lr", "0.1"]))
    config = make_config(args.pop("stage"), args)
    assert isinstance(config, TrainJobConfig)
    assert config.train.hidden_sizes == (512, 256) and config.train.lr == 0.1
    assert config.train.max_epochs == 13, "flags not given keep the config's default"
    for argv, message in (
        (["train", "--lr", "abc"], "lr must be a number, got 'abc'"),
        (["train", "--hidden-sizes", "64,x"], "hidden_sizes must be an integer, got 'x'"),
        (["ui", "--port", "http"], "port must be an integer, got 'http'"),
    ):
        try:
            build_parser().parse_args(argv)
        except Exception as error:  # the parser's UsageError
            assert message in str(error), argv
        else:
            raise AssertionError(f"{argv} was accepted")


def metric_values(client, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


@pytest.mark.slow
def test_a_run_redone_from_its_id_gives_its_numbers_to_the_last_digit(trained, monkeypatch, capsys):
    """`train --from-run ID` takes every training param of a logged run, threads and seed
    included (a sweep's workers train with one thread each, `make train` with all cores), so
    its val_acc equals the original's to the last digit; a flag given beside it wins."""
    first, data_dir, client = trained.run_id, trained.data_dir, trained.client
    redo = run_cli("train", "--from-run", first, *data_dir, cwd=trained.directory, check=True)
    second = re.search(r"^run_id=(\w+)$", redo.stdout, re.M).group(1)
    note = next(line for line in redo.stderr.splitlines() if line.startswith("note: as run"))
    assert note.startswith(f"note: as run {first} (train-tanh-lr0.1): activation tanh, ")
    assert all(part in note for part in ("lr 0.1,", "seed 7,", "threads 1"))

    params = client.get_run(first).data.params
    assert params["threads"] == "1" and params["seed"] == "7"
    assert client.get_run(second).data.params == params
    assert metric_values(client, second, "val_acc") == metric_values(client, first, "val_acc")
    assert len(metric_values(client, first, "val_acc")) == 3

    # Which flag wins is the command line's reading, the same in this process as in a fresh one.
    monkeypatch.chdir(trained.directory)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    capsys.readouterr()
    assert main(["train", "--from-run", first, "--lr", "0.05", *data_dir]) == 0
    out, err = capsys.readouterr()
    assert "given here: lr" in err
    third = re.search(r"^run_id=(\w+)$", out, re.M).group(1)
    changed = client.get_run(third).data.params
    assert {k for k in params if params[k] != changed[k]} == {"lr"} and changed["lr"] == "0.05"
