"""Data stage: a dataset's files found and verified (core/dataset/sources.py,
core/dataset/idx.py), loaded as tensor-resident train / validation / test splits.

Fashion-MNIST is the default; any folder of four IDX files of 28x28 grey images works the same
(core/dataset/datasets.py says how a config names one).
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipeline.core.dataset.datasets import CACHE_ROOT, DEFAULT_DATASET, display_name
from pipeline.core.dataset.datasets import FASHION_CLASSES as CLASSES
from pipeline.core.dataset.idx import FILE_NAMES, IMAGE_SIDE, MANIFEST, check_idx_file
from pipeline.core.dataset.sources import (
    DEBIAN_DIR,
    OFFICIAL_SHA256,
    DataSource,
    Download,
    locate,
)
from pipeline.core.process.errors import UsageError

# Fashion-MNIST's names, where callers knew them here before datasets had their own.
__all__ = [
    "CACHE_ROOT",
    "CLASSES",
    "DEBIAN_DIR",
    "FILE_NAMES",
    "IMAGE_SIDE",
    "MANIFEST",
    "OFFICIAL_SHA256",
    "DataSource",
    "Download",
    "Splits",
    "locate",
]
EXAMPLE_COUNT = 4  # real test images logged with a model, to show its input


@dataclass
class Splits:
    """Normalised (mean 0.5, std 0.5) images flattened to 784 floats, labels as int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: DataSource

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_y), "val": len(self.val_y), "test": len(self.test_y)}

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    @property
    def num_classes(self) -> int:
        """The model's output size: the dataset's classes."""
        return self.source.num_classes


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 784) with mean 0.5 / std 0.5, as the seed's Normalize."""
    return images.flatten(1).float().div_(255).sub_(0.5).div_(0.5)


def validation_count(count: int, val_fraction: float) -> int:
    return round(count * val_fraction)


def split_indices(count: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded permutation cut into (train, val) index sets."""
    generator = torch.Generator().manual_seed(seed)
    permutation = torch.randperm(count, generator=generator)
    val_count = validation_count(count, val_fraction)
    return permutation[val_count:], permutation[:val_count]


def check_fits(source: DataSource, batch_size: int, val_fraction: float) -> None:
    """The split leaves images on both sides, and a batch is no larger than the training set:
    checked from the file's header before a run or a study is made (an empty split fails in
    the first epoch; a larger batch would quietly train on one batch an epoch)."""
    count = check_idx_file(source.raw_dir / "train-labels-idx1-ubyte")
    val = validation_count(count, val_fraction)
    if val == 0 or val == count:
        side = "validation" if val == 0 else "training"
        raise UsageError(
            f"val_fraction {val_fraction:g} leaves no {side} images of the {count} in the "
            f"training file; use one between {1 / count:.2g} and {1 - 1 / count:.6g}"
        )
    if batch_size > count - val:
        raise UsageError(
            f"batch_size {batch_size} is larger than the training set ({count - val} images: "
            f"{count} minus val_fraction {val_fraction:g}); use at most {count - val}"
        )


def torchvision_dataset(
    source: DataSource, train: bool, transform: Callable[[Any], Any] | None = None
) -> Any:
    """The verified files as torchvision's FashionMNIST (PIL images through `transform`), as
    the seed's loop reads them: `make bench` times that loop."""
    from torchvision.datasets import FashionMNIST

    class FolderFashionMNIST(FashionMNIST):  # type: ignore[misc]  # torchvision ships no types
        @property
        def raw_folder(self) -> str:
            return str(source.raw_dir)

    return FolderFashionMNIST(str(source.raw_dir), train=train, transform=transform)


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file's uint8 array in its shape ((N, 28, 28) or (N,)); verify_raw_dir checked
    its header and size."""
    content = bytearray(path.read_bytes())
    dims = content[3]  # magic 0x0000 08 DD: uint8 data, DD dimensions
    shape = struct.unpack(f">{dims}I", content[4 : 4 + 4 * dims])
    return torch.frombuffer(content, dtype=torch.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(source: DataSource, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, 28, 28), int64 labels) of the train or the test file pair."""
    prefix = "train" if train else "t10k"
    images = read_idx(source.raw_dir / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(source.raw_dir / f"{prefix}-labels-idx1-ubyte").long()
    return images, labels


def load_raw(source: DataSource) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return *load_split(source, train=True), *load_split(source, train=False)


def load_test_images(source: DataSource) -> tuple[torch.Tensor, torch.Tensor]:
    """The test set as the files hold it: uint8 pixels 0-255 (N, 28, 28) and int64 labels, the
    input a logged model takes."""
    return load_split(source, train=False)


def example_images(source: DataSource, count: int = EXAMPLE_COUNT) -> torch.Tensor:
    """The first `count` test images, raw: a logged model's input example."""
    return load_test_images(source)[0][:count]


def load_splits(
    data_dir: str | Path | None = None,
    *,
    dataset: str = DEFAULT_DATASET,
    val_fraction: float = 0.2,
    seed: int = 42,
    device: str | torch.device = "cpu",
    source: DataSource | None = None,
    download: Download | None = None,
) -> Splits:
    """Train / validation / test tensors on `device`; validation is a seeded `val_fraction`.
    Without a `source`, the dataset is located (`download` as `locate` takes it)."""
    source = source or locate(data_dir, dataset=dataset, download=download)
    train_images, train_labels, test_images, test_labels = load_raw(source)
    train_idx, val_idx = split_indices(len(train_labels), val_fraction, seed)
    train_x = normalise(train_images)
    on = torch.device(device)
    return Splits(
        train_x=train_x[train_idx].to(on),
        train_y=train_labels[train_idx].to(on),
        val_x=train_x[val_idx].to(on),
        val_y=train_labels[val_idx].to(on),
        test_x=normalise(test_images).to(on),
        test_y=test_labels.to(on),
        source=source,
    )


def describe_source(source: DataSource) -> str:
    """`fashion-mnist (debian, sha256 …, 10 classes)`: what runs say they trained on."""
    return (
        f"{display_name(source.name)} ({source.label}, sha256 {source.digest[:12]}, "
        f"{source.num_classes} classes)"
    )


def describe(splits: Splits) -> str:
    sizes = splits.sizes
    return (
        f"{describe_source(splits.source)}: {sizes['train']} train / {sizes['val']} val / "
        f"{sizes['test']} test on {splits.device}"
    )
