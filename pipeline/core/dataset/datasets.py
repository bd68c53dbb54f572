"""Which dataset a config names, read without torch or the disk.

A `dataset` value is one of:

- `fashion-mnist` (the default): the official release, found as `sources.locate` says (a
  `--data-dir` / FASHION_MNIST_DIR folder, the data/ cache, Debian's package, a download);
- a folder, written as a path (it holds a `/`, or starts with `~`): four IDX files of 28x28 grey
  images, the dataset named after the folder (`dataset: ~/data/kmnist` is `kmnist`);
- any other name: the folder given as `data_dir` (`--data-dir`), else `data/<name>/`.

Runs, the MLflow dataset and the registered model carry the dataset's name, never a path.
"""

from pathlib import Path

FASHION_MNIST = "fashion-mnist"
DEFAULT_DATASET = FASHION_MNIST
CACHE_ROOT = Path("data")  # `data/<name>/` for a named dataset; Fashion-MNIST's cache below it
NAMES_FILE = "classes.txt"  # optional, in a dataset's folder: one class name per line
# Fashion-MNIST's label order (torchvision's FashionMNIST.classes; a test keeps them equal).
# Written out: importing torchvision costs every process ~3 s, and only the bench needs it.
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def is_path(value: str) -> bool:
    """A folder written as a path: `./mine`, `/srv/kmnist`, `~/kmnist`. A bare word is a name."""
    return "/" in value or value.startswith("~")


def folder_of(value: str) -> Path:
    return Path(value).expanduser()


def dataset_name(value: str) -> str:
    """The name runs record: the value itself, or a path's folder name."""
    return folder_of(value).resolve().name if is_path(value) else value


def is_fashion_mnist(value: str) -> bool:
    """The official dataset: its pinned checksums, class names and lookup order apply."""
    return value == FASHION_MNIST


def display_name(name: str) -> str:
    """How text names a dataset: Fashion-MNIST as it is written, others by their name."""
    return "Fashion-MNIST" if is_fashion_mnist(name) else name
