"""A dataset folder's four IDX files, checked before anything reads them: headers against sizes,
28x28 images, as many labels as images, checksums, and labels against the class names. Each
problem is one PipelineError naming the file and what is wrong."""

import hashlib
import struct
from pathlib import Path

from pipeline.core.dataset.datasets import NAMES_FILE
from pipeline.core.process.errors import PipelineError

IMAGE_SIDE = 28
FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
LABEL_FILES = ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte")
MANIFEST = "SHA256SUMS"  # a dataset folder may pin its own checksums here
_IDX_MAGIC = {"images": 2051, "labels": 2049}  # uint8 data, 3 or 1 dimensions
_HEADER_SIZE = {"images": 16, "labels": 8}


def _kind(name: str) -> str:
    return "images" if "images" in name else "labels"


def check_idx_file(path: Path) -> int:
    """Check the IDX header against the file's size; return the number of items it holds."""
    name, kind = path.name, _kind(path.name)
    size = path.stat().st_size
    header_size = _HEADER_SIZE[kind]
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
            raise PipelineError(
                f"{name} holds {rows}x{cols} images; only 28x28 grey images are supported"
            )
        item_size = rows * cols
    expected = header_size + count * item_size
    if size != expected:
        state = "truncated" if size < expected else "too long"
        raise PipelineError(
            f"{name} is {state}: {size} bytes, its header promises {count} items ({expected} bytes)"
        )
    return int(count)


def check_counts(raw_dir: Path) -> None:
    """Every file's structure, then as many labels as images in each split."""
    counts = {}
    for name in FILE_NAMES:
        path = raw_dir / name
        if not path.is_file():
            raise PipelineError(f"{name} is missing in {raw_dir}")
        counts[name] = check_idx_file(path)
    for split in ("train", "t10k"):
        images, labels = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
        if counts[images] == 0:
            raise PipelineError(f"{images} holds no images; each split needs at least one")
        if counts[labels] != counts[images]:
            raise PipelineError(
                f"{labels} holds {counts[labels]} labels but {images} holds {counts[images]} "
                "images; each image needs one label"
            )


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


def read_class_names(directory: Path) -> tuple[str, ...] | None:
    """The class names of a folder's names file (one per line, label 0 first), if it has one."""
    path = directory / NAMES_FILE
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    names = tuple(line.strip() for line in lines)
    blank = [number for number, name in enumerate(names, start=1) if not name]
    if blank:
        raise PipelineError(
            f"{NAMES_FILE} line {blank[0]} is blank; write one class name per line, label 0 first"
        )
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise PipelineError(f"{NAMES_FILE} names {twice[0]!r} twice; each class needs its own name")
    return names


def dataset_digest(raw_dir: Path, checksums: dict[str, str] | None) -> str:
    """SHA-256 over the four files' digests, each checked against `checksums` where given."""
    digests = {}
    for name in FILE_NAMES:
        digests[name] = sha256_of(raw_dir / name)
        if checksums is None:
            continue
        if name not in checksums:
            raise PipelineError(f"no checksum for {name} in {raw_dir / MANIFEST}")
        if digests[name] != checksums[name]:
            raise PipelineError(
                f"{name} fails its checksum (altered or corrupt): sha256 {digests[name][:16]}…, "
                f"expected {checksums[name][:16]}…"
            )
    return hashlib.sha256("".join(digests[n] for n in FILE_NAMES).encode()).hexdigest()


def labels_of(path: Path) -> set[int]:
    """The labels an IDX labels file that check_idx_file accepted holds."""
    return set(path.read_bytes()[_HEADER_SIZE["labels"] :])


def _shown(labels: list[int], classes: tuple[str, ...]) -> str:
    named = [str(n) if classes[n] == str(n) else f"{n} ({classes[n]})" for n in labels]
    return ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")


def check_classes(raw_dir: Path, classes: tuple[str, ...] | None, named_by: str) -> tuple[str, ...]:
    """The dataset's class names: `classes` (named by `named_by`), each label naming one of them;
    without names, the label numbers 0 to the largest label. Every class needs training images:
    a class the training split never shows could only be guessed at."""
    held = {name: labels_of(raw_dir / name) for name in LABEL_FILES}
    if classes is not None:
        for name, labels in held.items():
            if max(labels) >= len(classes):
                raise PipelineError(
                    f"{name} holds label {max(labels)}, but {named_by} names {len(classes)} "
                    f"classes (labels 0-{len(classes) - 1})"
                )
    else:
        count = max(max(labels) for labels in held.values()) + 1
        if count < 2:
            raise PipelineError(
                f"{LABEL_FILES[0]} holds one class (label 0 only); a classifier needs at least two"
            )
        classes = tuple(str(label) for label in range(count))
    unseen = sorted(set(range(len(classes))) - held[LABEL_FILES[0]])
    if unseen:
        raise PipelineError(
            f"{LABEL_FILES[0]} never holds label {_shown(unseen, classes)} of the "
            f"{len(classes)} classes (labels 0-{len(classes) - 1}); every class needs training "
            f"images: number the labels 0..N-1 without gaps (and {NAMES_FILE} with them), or "
            "add images of those classes"
        )
    return classes


def verify_raw_dir(
    raw_dir: Path,
    checksums: dict[str, str] | None,
    classes: tuple[str, ...] | None = None,
    named_by: str = NAMES_FILE,
) -> tuple[str, tuple[str, ...]]:
    """Check the four IDX files in `raw_dir`; return the dataset digest and its class names."""
    check_counts(raw_dir)
    digest = dataset_digest(raw_dir, checksums)
    return digest, check_classes(raw_dir, classes, named_by)
