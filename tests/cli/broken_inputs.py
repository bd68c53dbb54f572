"""What the bad-input catalogue (test_bad_input.py) hands the command line, and how it sees that
nothing was written: damaged data folders, broken custom activations, a mismatched checkpoint,
broken sweep files, and a snapshot of both databases and the files on disk."""

import sqlite3
from pathlib import Path

import numpy as np
import yaml

from pipeline.core.network.model import build_model, save_checkpoint
from tests.conftest import idx_images, idx_labels, write_dataset
from tests.sweeps import sweep_config


def snapshot(directory: Path) -> tuple:
    """Everything a run or a trial would add: rows in both databases (experiments and studies
    too) and files on disk."""

    def count(database: str, table: str) -> int:
        with sqlite3.connect(directory / database) as connection:
            return connection.execute(f"select count(*) from {table}").fetchone()[0]

    files = sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and p.suffix != ".yaml" and "bad-data" not in p.parts
    )
    return (
        count("mlflow.db", "experiments"),
        count("mlflow.db", "runs"),
        count("mlflow.db", "model_versions"),
        count("sweeps/tiny.db", "studies"),
        count("sweeps/tiny.db", "trials"),
        files,
    )


def broken_data(directory: Path, how: str) -> str:
    target = write_dataset(directory / "bad-data" / how)
    path = target / "train-images-idx3-ubyte"
    content = path.read_bytes()
    path.write_bytes(
        content[:-100]
        if how == "truncated"
        else content[:1000] + bytes([content[1000] ^ 0xFF]) + content[1001:]
    )
    return str(target)


def own_broken(directory: Path, how: str) -> str:
    """A 3-class dataset folder of one's own, broken one way."""
    target = write_dataset(
        directory / "bad-data" / f"own-{how}", 60, 30, classes=3, names=list("abc")
    )
    images = target / "train-images-idx3-ubyte"
    if how == "truncated":
        images.write_bytes(images.read_bytes()[:-100])
    elif how == "labels":
        (target / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(np.arange(29) % 3))
    elif how == "names":
        (target / "classes.txt").write_text("a\nb\n")
    elif how == "empty":  # a test split of zero images: valid IDX, nothing in it
        (target / "t10k-images-idx3-ubyte").write_bytes(idx_images(np.zeros((0, 28, 28))))
        (target / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(np.zeros(0, int)))
    elif how == "gap":  # one train label 255 and no names: 253 classes never seen
        (target / "classes.txt").unlink()
        (target / "SHA256SUMS").unlink()
        (target / "train-labels-idx1-ubyte").write_bytes(
            idx_labels(np.array([*np.arange(59) % 3, 255]))
        )
    elif how == "unseen":  # training never shows class c; the test split does
        (target / "SHA256SUMS").unlink()
        (target / "train-labels-idx1-ubyte").write_bytes(idx_labels(np.arange(60) % 2))
    else:
        images.write_bytes(idx_images(np.zeros((60, 32, 32))))
    return str(target)


# Custom activations the catalogue names; the test puts their folder on the Python path.
BAD_ACTIVATIONS = """
def row_sums(x):
    return x.sum(-1)
"""


def activation_module(directory: Path, name: str) -> str:
    code = directory / "bad-data" / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "bad_activations.py").write_text(BAD_ACTIVATIONS)
    return f"bad_activations:{name}"


def mismatched_checkpoint(directory: Path) -> str:
    checkpoint = save_checkpoint(
        build_model("relu", hidden_sizes=(32, 16), seed=0), directory / "bad-data" / "ckpt"
    )
    config = (checkpoint / "config.json").read_text()
    (checkpoint / "config.json").write_text(config.replace("32", "64"))
    return str(checkpoint)


def yaml_file(directory: Path, text: str) -> str:
    (directory / "broken.yaml").write_text(text)
    return "broken.yaml"


def resolve(argument: str, directory: Path, data_dir: Path) -> str:
    if argument == "{data}":
        return str(data_dir)
    if argument in ("{truncated}", "{altered}"):
        return broken_data(directory, argument[1:-1])
    if argument.startswith("{own:"):
        return own_broken(directory, argument[5:-1])
    if argument.startswith("{activation:"):
        return activation_module(directory, argument[12:-1])
    if argument == "{checkpoint}":
        return mismatched_checkpoint(directory)
    if argument.startswith("{yaml:"):
        return yaml_file(directory, argument[6:-1])
    if argument.startswith("{latin1:"):
        (directory / "broken.yaml").write_bytes(argument[8:-1].encode("latin-1"))
        return "broken.yaml"
    if argument.startswith("{sweep:"):
        values = {}
        for item in argument[7:-1].split("|"):
            key, value = item.split("=", 1)
            values[key] = yaml.safe_load(value)
        return sweep_config(directory, "bad.yaml", values)
    return argument
