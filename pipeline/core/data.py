"""Data stage: find the official Fashion-MNIST files offline, verify them, load the splits.

Sources, in order: an explicit directory (`--data-dir` / FASHION_MNIST_DIR); the cache
`data/FashionMNIST/raw/`; Debian's package `dataset-fashion-mnist`; torchvision's download.
Every file's IDX header, size and SHA-256 are checked before it is read.
"""

import gzip
import hashlib
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.core import environment
from pipeline.core.errors import PipelineError, UsageError
from pipeline.core.files import atomic_writer

CACHE_ROOT = Path("data")  # torchvision's layout below it: FashionMNIST/raw/
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MANIFEST = "SHA256SUMS"  # a custom dataset directory may pin its own checksums here
# The label order of the files (torchvision's FashionMNIST.classes; a test keeps them equal).
# Written out: importing torchvision costs every process ~3 s, and only the bench needs it.
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IMAGE_SIDE = 28
EXAMPLE_COUNT = 4  # real test images logged with a model, to show its input

# SHA-256 of the decompressed official files (Debian's .gz are recompressed, so the .gz
# checksums differ from torchvision's md5s; the contents are the same). Computed from the files
# and checked against the official label order 9 0 0 3 0 2 7 2 5 5 and the train pixel mean
# 0.2860 / std 0.3530.
OFFICIAL_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FILE_NAMES = tuple(OFFICIAL_SHA256)
_IDX_MAGIC = {"images": 2051, "labels": 2049}  # uint8 data, 3 or 1 dimensions


@dataclass(frozen=True)
class DataSource:
    kind: str  # explicit | cache | debian | download
    raw_dir: Path  # holds the four decompressed IDX files
    digest: str  # SHA-256 over the four files' digests: one id for the whole dataset
    official: bool  # the files are the official Fashion-MNIST release

    @property
    def label(self) -> str:
        """What params and tags record: the kind of source, never a machine path."""
        return self.kind if self.official else f"{self.kind}-custom"


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


# --- verification -------------------------------------------------------------------------


def _kind(name: str) -> str:
    return "images" if "images" in name else "labels"


def check_idx_file(path: Path) -> int:
    """Check the IDX header against the file's size; return the number of items it holds."""
    name, kind = path.name, _kind(path.name)
    size = path.stat().st_size
    header_size = 16 if kind == "images" else 8
    with path.open("rb") as handle:
        header = handle.read(header_size)
    if len(header) < header_size:
        raise PipelineError(f"{name} is truncated: {size} bytes, shorter than its IDX header")
    magic, count = struct.unpack(">II", header[:8])
    if magic != _IDX_MAGIC[kind]:
        raise PipelineError(
            f"{name} is not an IDX {kind} file (magic number {magic}, expected {_IDX_MAGIC[kind]})"
        )
    item_size = 1
    if kind == "images":
        rows, cols = struct.unpack(">II", header[8:16])
        if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
            raise PipelineError(f"{name} holds {rows}x{cols} images, expected 28x28")
        item_size = rows * cols
    expected = header_size + count * item_size
    if size != expected:
        state = "truncated" if size < expected else "too long"
        raise PipelineError(
            f"{name} is {state}: {size} bytes, its header promises {count} items ({expected} bytes)"
        )
    return count


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, str] | None:
    """Checksums from a SHA256SUMS file (`<hex>  <name>` lines), if the directory has one."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*").removesuffix(".gz")] = digest.lower()
    return sums


def verify_raw_dir(raw_dir: Path, checksums: dict[str, str]) -> str:
    """Check the four IDX files in `raw_dir`; return the dataset digest."""
    counts = {}
    for name in FILE_NAMES:
        path = raw_dir / name
        if not path.is_file():
            raise PipelineError(f"{name} is missing in {raw_dir}")
        counts[name] = check_idx_file(path)
    for split in ("train", "t10k"):
        images, labels = counts[f"{split}-images-idx3-ubyte"], counts[f"{split}-labels-idx1-ubyte"]
        if images != labels:
            raise PipelineError(f"{split} set has {images} images but {labels} labels")
    digests = {}
    for name in FILE_NAMES:
        digests[name] = sha256_of(raw_dir / name)
        if name not in checksums:
            raise PipelineError(f"no checksum for {name} in {raw_dir / MANIFEST}")
        if digests[name] != checksums[name]:
            raise PipelineError(
                f"{name} fails its checksum (altered or corrupt): sha256 {digests[name][:16]}…, "
                f"expected {checksums[name][:16]}…"
            )
    return hashlib.sha256("".join(digests[n] for n in FILE_NAMES).encode()).hexdigest()


# --- locating the files -------------------------------------------------------------------


def _find_files(directory: Path) -> dict[str, Path] | None:
    """The four files in `directory` (or its FashionMNIST/raw/), decompressed or .gz."""
    for folder in (directory, directory / "FashionMNIST" / "raw"):
        found = {}
        for name in FILE_NAMES:
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
        if len(found) == len(FILE_NAMES):
            return found
    return None


def _decompress_into(files: dict[str, Path], target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        if path.suffix == ".gz":
            try:
                with gzip.open(path, "rb") as source, atomic_writer(target / name) as out:
                    shutil.copyfileobj(source, out)
            except (OSError, EOFError) as error:
                raise PipelineError(f"{path.name} is not a readable gzip file: {error}") from None
        else:
            shutil.copyfile(path, target / name)
    return target


def _verified(
    kind: str, files: dict[str, Path], checksums: dict[str, str], official: bool, cache_dir: Path
) -> DataSource:
    """Verify the files; .gz ones are decompressed first and, being official, land in the cache."""
    if all(path.suffix != ".gz" for path in files.values()):
        raw_dir = next(iter(files.values())).parent
        return DataSource(kind, raw_dir, verify_raw_dir(raw_dir, checksums), official)
    if not official:
        raise PipelineError(
            "a custom dataset must be given as decompressed IDX files (gunzip them)"
        )
    with tempfile.TemporaryDirectory(prefix="fashion-mnist-") as scratch:
        digest = verify_raw_dir(_decompress_into(files, Path(scratch)), checksums)
        cache_dir.mkdir(parents=True, exist_ok=True)
        for name in FILE_NAMES:
            with (
                (Path(scratch) / name).open("rb") as source,
                atomic_writer(cache_dir / name) as out,
            ):
                shutil.copyfileobj(source, out)
    return DataSource(kind, cache_dir, digest, official)


def _checksums_for(directory: Path) -> tuple[dict[str, str], bool]:
    manifest = read_manifest(directory) or read_manifest(directory / "FashionMNIST" / "raw")
    return (manifest, manifest == OFFICIAL_SHA256) if manifest else (OFFICIAL_SHA256, True)


def _explicit(directory: Path, cache_dir: Path) -> DataSource:
    """A directory the user named: it must hold the four files."""
    if not directory.is_dir():
        raise UsageError(f"data directory {directory} does not exist")
    files = _find_files(directory)
    if files is None:
        missing = [
            n
            for n in FILE_NAMES
            if not (directory / n).exists() and not (directory / f"{n}.gz").exists()
        ]
        raise PipelineError(f"data directory {directory} lacks {', '.join(missing)} (raw or .gz)")
    checksums, official = _checksums_for(directory)
    return _verified("explicit", files, checksums, official, cache_dir)


def locate(
    data_dir: str | Path | None = None,
    *,
    cache_root: Path = CACHE_ROOT,
    system_dir: Path = DEBIAN_DIR,
    allow_download: bool = True,
) -> DataSource:
    """Find and verify the dataset; one PipelineError naming every way out if none works."""
    cache_dir = cache_root / "FashionMNIST" / "raw"
    if data_dir is not None:
        return _explicit(Path(data_dir), cache_dir)
    cached = _find_files(cache_dir)
    if cached is not None:
        try:
            return _verified("cache", cached, OFFICIAL_SHA256, True, cache_dir)
        except PipelineError as error:  # a damaged cache is rebuilt from the next source
            print(f"warning: ignoring the cache {cache_dir}: {error}")
    system = _find_files(system_dir)
    if system is not None:
        return _verified("debian", system, OFFICIAL_SHA256, True, cache_dir)
    if allow_download:
        from torchvision.datasets import FashionMNIST

        try:
            FashionMNIST(root=str(cache_root), train=True, download=True)
            FashionMNIST(root=str(cache_root), train=False, download=True)
            return _verified(
                "download", _find_files(cache_dir) or {}, OFFICIAL_SHA256, True, cache_dir
            )
        except (OSError, RuntimeError, PipelineError):
            pass  # no internet: fall through to the one message below
    raise PipelineError(
        f"Fashion-MNIST not found: pass --data-dir DIR or set {environment.DATA_DIR}; or install "
        f"Debian's package (apt-get install dataset-fashion-mnist, files in {system_dir}); or put "
        f"the four IDX files in {cache_dir}; torchvision's download failed too"
    )


# --- loading ------------------------------------------------------------------------------


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 784) with mean 0.5 / std 0.5, as the seed's Normalize."""
    return images.flatten(1).float().div_(255).sub_(0.5).div_(0.5)


def split_indices(count: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded permutation cut into (train, val) index sets."""
    generator = torch.Generator().manual_seed(seed)
    permutation = torch.randperm(count, generator=generator)
    val_count = round(count * val_fraction)
    return permutation[val_count:], permutation[:val_count]


def torchvision_dataset(source: DataSource, train: bool, transform=None):
    """The verified files as torchvision's FashionMNIST (PIL images through `transform`), as
    the seed's loop reads them: `make bench` times that loop."""
    from torchvision.datasets import FashionMNIST

    class FolderFashionMNIST(FashionMNIST):
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
    val_fraction: float = 0.2,
    seed: int = 42,
    device: str | torch.device = "cpu",
    source: DataSource | None = None,
) -> Splits:
    """Train / validation / test tensors on `device`; validation is a seeded `val_fraction`."""
    source = source or locate(data_dir)
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


def describe(splits: Splits) -> str:
    sizes = splits.sizes
    return (
        f"Fashion-MNIST ({splits.source.label}, sha256 {splits.source.digest[:12]}): "
        f"{sizes['train']} train / {sizes['val']} val / {sizes['test']} test on {splits.device}"
    )
