"""Datasets other than Fashion-MNIST: how a config names one, where its folder is found, what its
classes are, and every way its files can be wrong (one line naming the file)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli.main import make_config
from pipeline.core.dataset import data
from pipeline.core.dataset.datasets import dataset_name
from pipeline.core.dataset.idx import MANIFEST
from pipeline.core.process.environment import Settings
from pipeline.core.process.errors import PipelineError, UsageError
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.sweep_config import SweepConfig
from tests.conftest import idx_images, idx_labels, write_dataset

SHAPES = ["circle", "square", "triangle"]


@pytest.fixture
def shapes(tmp_path) -> Path:
    return write_dataset(tmp_path / "shapes", 90, 30, classes=3, names=SHAPES)


def test_a_folder_is_a_dataset_named_after_it(shapes):
    splits = data.load_splits(dataset=str(shapes), val_fraction=0.2, seed=0)
    source = splits.source
    assert (source.name, source.classes, splits.num_classes) == ("shapes", tuple(SHAPES), 3)
    assert splits.sizes == {"train": 72, "val": 18, "test": 30}
    assert source.label == "explicit-custom" and len(source.digest) == 64
    assert set(splits.train_y.tolist()) | set(splits.val_y.tolist()) == {0, 1, 2}
    assert data.describe(splits).startswith("shapes (explicit-custom, sha256 ")
    assert "3 classes" in data.describe(splits)


def test_without_a_names_file_the_classes_are_the_label_numbers(shapes):
    (shapes / "classes.txt").unlink()
    assert data.locate(dataset=str(shapes)).classes == ("0", "1", "2")


def test_a_name_is_found_in_data_or_in_data_dir(shapes, tmp_path):
    cache_root = tmp_path / "cache"
    write_dataset(cache_root / "kmnist", 40, 20, classes=4)
    cached = data.locate(dataset="kmnist", cache_root=cache_root)
    assert (cached.name, cached.kind, cached.num_classes) == ("kmnist", "cache", 4)
    named = data.locate(shapes, dataset="kmnist", cache_root=cache_root)
    assert (named.name, named.raw_dir, named.classes) == ("kmnist", shapes, tuple(SHAPES))
    with pytest.raises(UsageError, match=r"dataset 'emnist' not found: no folder .*emnist"):
        data.locate(dataset="emnist", cache_root=cache_root)


def test_a_folder_and_a_data_dir_together_are_refused(shapes):
    with pytest.raises(UsageError, match=r"is a folder already; data_dir goes with a dataset name"):
        data.locate(shapes, dataset=str(shapes))


def test_the_dataset_key_reads_a_name_or_a_path_and_records_a_name(shapes):
    assert dataset_name(str(shapes)) == "shapes" and dataset_name("kmnist") == "kmnist"
    assert dataset_name("./shapes") == "shapes"
    config = TrainConfig(dataset=str(shapes))
    assert config.params()["dataset"] == "shapes", "a name in params, never a path"
    sweep = SweepConfig.from_mapping({"dataset": "kmnist", "data_dir": str(shapes)})
    assert (sweep.train.dataset, sweep.data_dir) == ("kmnist", str(shapes))
    for bad in ("my data", "", "/tmp/has space"):
        with pytest.raises(UsageError, match=r"dataset must be fashion-mnist, a folder"):
            TrainConfig(dataset=bad)


def test_fashion_mnist_dir_applies_to_fashion_mnist_alone(shapes, tiny_data, tmp_path):
    """The environment says where this machine keeps Fashion-MNIST; a sweep file's data_dir
    says where its named dataset is; a flag wins over both."""
    settings = Settings(data_dir=str(tiny_data))
    assert make_config("train", {}, settings).data_dir == str(tiny_data)
    assert make_config("train", {"dataset": str(shapes)}, settings).data_dir is None
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(f"dataset: kmnist\ndata_dir: {shapes}\n")
    job = make_config("sweep", {"config_path": str(sweep_file)}, settings)
    assert (job.sweep.train.dataset, job.data_dir) == ("kmnist", str(shapes))
    flagged = {"config_path": str(sweep_file), "dataset": str(shapes), "data_dir": None}
    job = make_config("sweep", flagged, settings)
    assert job.sweep.train.dataset == str(shapes)


def rewrite(path: Path, content: bytes) -> None:
    """Change a file and keep its SHA256SUMS line true, so the check under test is the one
    that speaks."""
    path.write_bytes(content)
    manifest = path.parent / MANIFEST
    lines = [line for line in manifest.read_text().splitlines() if not line.endswith(path.name)]
    lines.append(f"{hashlib.sha256(content).hexdigest()}  {path.name}")
    manifest.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("label count", "t10k-labels-idx1-ubyte holds 29 labels but t10k-images-idx3-ubyte holds"),
        (
            "label beyond the names",
            "train-labels-idx1-ubyte holds label 2, but classes.txt names 2",
        ),
        ("32x32 images", "train-images-idx3-ubyte holds 32x32 images; only 28x28 grey images"),
        ("blank name", "classes.txt line 2 is blank"),
        ("one class", "holds one class (label 0 only); a classifier needs at least two"),
        ("gzipped", "give the four IDX files decompressed"),
    ],
)
def test_a_folder_that_is_not_a_valid_dataset_is_one_line(shapes, case, message):
    labels = shapes / "t10k-labels-idx1-ubyte"
    if case == "label count":
        rewrite(labels, idx_labels(np.arange(29) % 3))
    elif case == "label beyond the names":
        (shapes / "classes.txt").write_text("circle\nsquare\n")
    elif case == "32x32 images":
        rewrite(shapes / "train-images-idx3-ubyte", idx_images(np.zeros((90, 32, 32))))
    elif case == "blank name":
        (shapes / "classes.txt").write_text("circle\n\ntriangle\n")
    elif case == "one class":
        (shapes / "classes.txt").unlink()
        for split, count in (("train", 90), ("t10k", 30)):
            rewrite(shapes / f"{split}-labels-idx1-ubyte", idx_labels(np.zeros(count)))
    else:
        (shapes / "t10k-labels-idx1-ubyte").rename(shapes / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(PipelineError) as error:
        data.locate(dataset=str(shapes))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_home_folder_the_system_does_not_have_is_one_line():
    with pytest.raises(UsageError) as error:
        TrainConfig(dataset="~no-such-user-here/kmnist")
    assert str(error.value) == (
        "dataset '~no-such-user-here/kmnist' starts with a home folder this system does not "
        "have; give the folder's path (./mine, /data/kmnist, ~/kmnist)"
    )
