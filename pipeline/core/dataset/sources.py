"""Where a dataset's files are: found, verified (core/dataset/idx.py) and described as a DataSource.

Fashion-MNIST (`dataset: fashion-mnist`) is looked for, in order, in an explicit folder
(`--data-dir` / FASHION_MNIST_DIR), the cache `data/FashionMNIST/raw/`, Debian's package
`dataset-fashion-mnist` and the download its caller passes (torchvision's, from
adapters/downloads.py: this layer reaches no network), and checked against the official checksums
(or a SHA256SUMS of the folder's own). Any other dataset is one folder of four decompressed IDX
files (core/dataset/datasets.py says which), checked against its SHA256SUMS where it has one.
"""

import gzip
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.dataset.datasets import (
    CACHE_ROOT,
    DEFAULT_DATASET,
    FASHION_CLASSES,
    FASHION_MNIST,
    dataset_name,
    folder_of,
    is_fashion_mnist,
    is_path,
)
from pipeline.core.dataset.idx import FILE_NAMES, read_class_names, read_manifest, verify_raw_dir
from pipeline.core.process import environment
from pipeline.core.process.errors import PipelineError, UsageError
from pipeline.core.process.files import atomic_writer

# Fetches Fashion-MNIST's files into a cache root (as <root>/FashionMNIST/raw), over the network.
Download = Callable[[Path], None]

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
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
FASHION_NAMES = "fashion-mnist"  # what a label beyond its ten classes is checked against


@dataclass(frozen=True)
class DataSource:
    kind: str  # explicit | cache | debian | download
    raw_dir: Path  # holds the four decompressed IDX files
    digest: str  # SHA-256 over the four files' digests: one id for the whole dataset
    official: bool  # the files are the official Fashion-MNIST release
    name: str = FASHION_MNIST  # the dataset's name (runs, the MLflow dataset, the model)
    classes: tuple[str, ...] = FASHION_CLASSES  # label i is classes[i]

    @property
    def label(self) -> str:
        """What params and tags record: the kind of source, never a machine path."""
        return self.kind if self.official else f"{self.kind}-custom"

    @property
    def num_classes(self) -> int:
        return len(self.classes)


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


def _fashion(raw_dir: Path, checksums: dict[str, str] | None) -> tuple[str, tuple[str, ...]]:
    return verify_raw_dir(raw_dir, checksums, FASHION_CLASSES, FASHION_NAMES)


def _verified(
    kind: str, files: dict[str, Path], checksums: dict[str, str], official: bool, cache_dir: Path
) -> DataSource:
    """Verify the files; .gz ones are decompressed first and, being official, land in the cache."""
    if all(path.suffix != ".gz" for path in files.values()):
        raw_dir = next(iter(files.values())).parent
        return DataSource(kind, raw_dir, _fashion(raw_dir, checksums)[0], official)
    if not official:
        raise PipelineError(
            "a custom dataset must be given as decompressed IDX files (gunzip them)"
        )
    with tempfile.TemporaryDirectory(prefix="fashion-mnist-") as scratch:
        digest = _fashion(_decompress_into(files, Path(scratch)), checksums)[0]
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


def _files_in(directory: Path) -> dict[str, Path]:
    """A folder the user named: it must exist and hold the four files."""
    try:
        is_dir = directory.is_dir()
    except OSError as error:  # a name too long, say
        raise UsageError(
            f"data directory {directory} is not a usable path ({error.strerror})"
        ) from None
    if not is_dir:
        raise UsageError(f"data directory {directory} does not exist")
    files = _find_files(directory)
    if files is None:
        missing = [
            n
            for n in FILE_NAMES
            if not (directory / n).exists() and not (directory / f"{n}.gz").exists()
        ]
        raise PipelineError(f"data directory {directory} lacks {', '.join(missing)} (raw or .gz)")
    return files


def _explicit(directory: Path, cache_dir: Path) -> DataSource:
    """Fashion-MNIST in a folder the user named."""
    files = _files_in(directory)
    checksums, official = _checksums_for(directory)
    return _verified("explicit", files, checksums, official, cache_dir)


def _folder(dataset: str, data_dir: str | Path | None, cache_root: Path) -> tuple[str, Path]:
    """(kind, folder) of a dataset other than Fashion-MNIST."""
    if is_path(dataset):
        if data_dir is not None:
            raise UsageError(
                f"dataset {dataset} is a folder already; data_dir goes with a dataset name "
                "(dataset: kmnist, data_dir: /path/to/kmnist)"
            )
        return "explicit", folder_of(dataset)
    if data_dir is not None:
        return "explicit", Path(data_dir)
    folder = cache_root / dataset
    if not folder.is_dir():
        raise UsageError(
            f"dataset {dataset!r} not found: no folder {folder}; put its four IDX files there, "
            "or give its folder (--dataset /path/to/dir, or --data-dir DIR with the name)"
        )
    return "cache", folder


def _custom(dataset: str, data_dir: str | Path | None, cache_root: Path) -> DataSource:
    """A dataset of the user's own: one folder of four decompressed IDX files, its class names
    from its names file (else the label numbers), its checksums from its SHA256SUMS if any."""
    kind, folder = _folder(dataset, data_dir, cache_root)
    files = _files_in(folder)
    if any(path.suffix == ".gz" or path.parent != folder for path in files.values()):
        raise PipelineError(
            f"dataset {dataset_name(dataset)!r}: give the four IDX files decompressed, in "
            f"{folder} itself (gunzip them)"
        )
    digest, classes = verify_raw_dir(folder, read_manifest(folder), read_class_names(folder))
    return DataSource(kind, folder, digest, False, dataset_name(dataset), classes)


def locate(
    data_dir: str | Path | None = None,
    *,
    dataset: str = DEFAULT_DATASET,
    cache_root: Path = CACHE_ROOT,
    system_dir: Path = DEBIAN_DIR,
    download: Download | None = None,
) -> DataSource:
    """Find and verify the dataset; one PipelineError naming every way out if none works.
    `download` (the caller's: core reaches no network) fetches Fashion-MNIST into the cache
    when no folder holds it; OSError or RuntimeError from it means it could not."""
    if not is_fashion_mnist(dataset):
        return _custom(dataset, data_dir, cache_root)
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
    if download is not None:
        try:
            download(cache_root)
            return _verified(
                "download", _find_files(cache_dir) or {}, OFFICIAL_SHA256, True, cache_dir
            )
        except (OSError, RuntimeError, PipelineError):
            pass  # no internet: fall through to the one message below
    tried = "; torchvision's download failed too" if download is not None else ""
    raise PipelineError(
        f"Fashion-MNIST not found: pass --data-dir DIR or set {environment.DATA_DIR}; or install "
        f"Debian's package (apt-get install dataset-fashion-mnist, files in {system_dir}); or put "
        f"the four IDX files in {cache_dir}{tried}"
    )
