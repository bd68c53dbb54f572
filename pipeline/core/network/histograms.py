"""Histograms as plain arrays: bin edges and counts per layer, saved as one .npz file."""

from pathlib import Path

import numpy as np
import torch

from pipeline.core.process.files import atomic_writer


def histogram(values: torch.Tensor, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of all values; the counts sum to values.numel()."""
    flat = values.detach().float().flatten().cpu()
    low, high = flat.min().item(), flat.max().item()
    if low == high:  # a constant tensor still needs a non-empty range
        low, high = low - 0.5, high + 0.5
    counts = torch.histc(flat, bins=bins, min=low, max=high)
    edges = torch.linspace(low, high, bins + 1)
    return edges.numpy(), counts.to(torch.int64).numpy()


def layer_histograms(tensors: dict[str, torch.Tensor], bins: int = 50) -> dict[str, np.ndarray]:
    """{"<layer>.edges": ..., "<layer>.counts": ...} for every tensor, as np.savez wants it."""
    arrays = {}
    for layer, values in tensors.items():
        arrays[f"{layer}.edges"], arrays[f"{layer}.counts"] = histogram(values, bins)
    return arrays


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with atomic_writer(path) as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # mypy matches **arrays to allow_pickle
    return path
