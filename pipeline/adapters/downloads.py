"""The one download over the network: Fashion-MNIST's files, by torchvision, into the data
cache. The core finds and verifies datasets on disk; a job passes this where it may download."""

from pathlib import Path


def fashion_mnist(cache_root: Path) -> None:
    """Fetch the official train and test files into `cache_root`/FashionMNIST/raw; OSError or
    RuntimeError where there is no network."""
    from torchvision.datasets import FashionMNIST

    FashionMNIST(root=str(cache_root), train=True, download=True)
    FashionMNIST(root=str(cache_root), train=False, download=True)
