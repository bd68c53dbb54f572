import shutil
import struct

import pytest
import torch

from pipeline.cli.main import make_config
from pipeline.core.dataset import data
from pipeline.core.process.environment import read_settings
from pipeline.core.process.errors import PipelineError, UsageError
from tests.conftest import needs_real_data, write_dataset


def test_loads_synthetic_idx_files_into_seeded_splits(tiny_data):
    splits = data.load_splits(tiny_data, val_fraction=0.2, seed=3)
    assert splits.sizes == {"train": 480, "val": 120, "test": 200}
    assert splits.train_x.shape == (480, 784) and splits.train_x.dtype == torch.float32
    assert splits.train_x.min() >= -1 and splits.train_x.max() <= 1
    assert splits.source.kind == "explicit" and not splits.source.official
    assert splits.source.label == "explicit-custom" and len(splits.source.digest) == 64
    # Train and validation partition the 600 training images: every label count adds up.
    counts = torch.bincount(torch.cat([splits.train_y, splits.val_y]), minlength=10)
    assert counts.tolist() == [60] * 10


def test_the_files_read_as_torchvision_reads_them(tiny_data):
    """Our IDX reader (no torchvision import at start-up) against torchvision's FashionMNIST:
    the same pixels, labels, dtypes and class names."""
    source = data.locate(tiny_data)
    for train in (True, False):
        images, labels = data.load_split(source, train)
        theirs = data.torchvision_dataset(source, train)
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        assert torch.equal(images, theirs.data) and torch.equal(labels, theirs.targets)
    assert tuple(theirs.classes) == data.CLASSES


def test_split_is_deterministic_per_seed(tiny_data):
    first = data.load_splits(tiny_data, seed=1)
    again = data.load_splits(tiny_data, seed=1)
    other = data.load_splits(tiny_data, seed=2)
    assert torch.equal(first.val_x, again.val_x)
    assert not torch.equal(first.val_x, other.val_x)


def test_normalise_maps_pixels_to_mean_half_std_half():
    pixels = torch.tensor([[[0, 255]]], dtype=torch.uint8)
    assert data.normalise(pixels).tolist() == [[-1.0, 1.0]]


def test_truncated_file_is_a_clear_error(tmp_path):
    directory = write_dataset(tmp_path / "d")
    path = directory / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(PipelineError, match=r"train-images-idx3-ubyte is truncated: 5000 bytes"):
        data.locate(directory)


def test_altered_file_fails_its_checksum(tmp_path):
    directory = write_dataset(tmp_path / "d")
    path = directory / "t10k-labels-idx1-ubyte"
    content = bytearray(path.read_bytes())
    content[-1] = (content[-1] + 1) % 10
    path.write_bytes(bytes(content))
    with pytest.raises(PipelineError, match=r"t10k-labels-idx1-ubyte fails its checksum"):
        data.locate(directory)


def test_wrong_magic_number_is_rejected(tmp_path):
    directory = write_dataset(tmp_path / "d")
    path = directory / "train-labels-idx1-ubyte"
    path.write_bytes(struct.pack(">I", 2051) + path.read_bytes()[4:])
    with pytest.raises(PipelineError, match=r"not an IDX labels file \(magic number 2051"):
        data.locate(directory)


def test_missing_file_is_named(tmp_path):
    directory = write_dataset(tmp_path / "d")
    (directory / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(PipelineError, match=r"lacks t10k-images-idx3-ubyte"):
        data.locate(directory)


def test_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"data directory .*nope does not exist"):
        data.locate(tmp_path / "nope")


def test_files_without_manifest_are_checked_against_the_official_checksums(tmp_path):
    directory = write_dataset(tmp_path / "d")
    (directory / data.MANIFEST).unlink()
    with pytest.raises(PipelineError, match=r"train-images-idx3-ubyte fails its checksum"):
        data.locate(directory)


def test_no_source_names_every_way_out(tmp_path, monkeypatch):
    with pytest.raises(PipelineError) as error:
        data.locate(cache_root=tmp_path / "cache", system_dir=tmp_path / "none")
    message = str(error.value)
    assert "--data-dir" in message and "FASHION_MNIST_DIR" in message
    assert "apt-get install dataset-fashion-mnist" in message and "FashionMNIST/raw" in message
    assert "\n" not in message and "download" not in message  # none was passed, none tried


def test_a_download_that_fails_is_named_among_the_ways_out(tmp_path):
    asked = []

    def offline(cache_root):
        asked.append(cache_root)
        raise OSError("no network")

    with pytest.raises(PipelineError, match=r"torchvision's download failed too$"):
        data.locate(cache_root=tmp_path / "cache", system_dir=tmp_path / "none", download=offline)
    assert asked == [tmp_path / "cache"]


@needs_real_data
def test_the_callers_download_fills_the_cache_and_is_verified(tmp_path):
    """The core reaches no network: the download it is given (here, a copy of Debian's files
    where torchvision's would fetch them) fills the cache, whose files it then verifies."""

    def download(cache_root):
        raw = cache_root / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for path in data.DEBIAN_DIR.glob("*-ubyte.gz"):
            shutil.copy(path, raw / path.name)

    source = data.locate(cache_root=tmp_path, system_dir=tmp_path / "none", download=download)
    assert source.kind == "download" and source.official
    assert (tmp_path / "FashionMNIST/raw/train-images-idx3-ubyte").stat().st_size == 47040016


def test_environment_variable_selects_the_directory(tiny_data, monkeypatch):
    """FASHION_MNIST_DIR is read at the command line's edge and becomes the config's data_dir;
    --data-dir wins over it."""
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tiny_data))
    config = make_config("data", {}, read_settings())
    assert config.data_dir == str(tiny_data)
    assert data.locate(config.data_dir).raw_dir == tiny_data
    flagged = make_config("data", {"data_dir": "elsewhere"}, read_settings())
    assert flagged.data_dir == "elsewhere"


@needs_real_data
def test_debian_files_are_verified_and_cached(tmp_path):
    if not data.DEBIAN_DIR.exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    first = data.locate(cache_root=tmp_path)
    assert first.kind == "debian" and first.official
    assert (tmp_path / "FashionMNIST/raw/train-images-idx3-ubyte").stat().st_size == 47040016
    second = data.locate(cache_root=tmp_path)
    assert second.kind == "cache" and second.digest == first.digest


@needs_real_data
def test_real_dataset_matches_the_official_release():
    source = data.locate()
    train_images, train_labels, test_images, test_labels = data.load_raw(source)
    assert train_labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    pixels = train_images.float() / 255
    assert pixels.mean().item() == pytest.approx(0.2860, abs=1e-4)
    assert pixels.std().item() == pytest.approx(0.3530, abs=1e-4)
    assert len(test_labels) == 10000 and test_images.shape == (10000, 28, 28)
    splits = data.load_splits(source=source)
    assert splits.sizes == {"train": 48000, "val": 12000, "test": 10000}
