"""A sweep's dry run: the trials it would train in each phase, its space, and about how long it
would take from one epoch measured on this machine. Nothing is written: no study, no MLflow run,
no file."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

from pipeline.core.dataset import data
from pipeline.core.dataset.data import CACHE_ROOT, DataSource
from pipeline.core.dataset.datasets import is_fashion_mnist
from pipeline.core.process.device import resolve_device
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.stages import training
from pipeline.workflows.plan import phases, plan
from pipeline.workflows.sweep import space_text


def epoch_seconds(config: SweepConfig, source: DataSource, threads: int) -> tuple[float, str]:
    """One epoch of the first activation at the space's first lr, trained here with `threads`
    threads as a worker would train it, and what was trained."""
    lr = config.lrs[0] if config.lrs else config.dimensions[0].bounds[0]  # lr, a range
    train = config.train_config(config.activations[0], lr).replace(max_epochs=1, patience=1)
    device = resolve_device(train.device)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        splits = data.load_splits(
            source=source, device=device, seed=train.seed, val_fraction=train.val_fraction
        )
        seconds = training.train(train, splits, progress=False).history[0].epoch_time_s
    finally:
        torch.set_num_threads(previous)
    what = f"{train.activation} (lr {lr:g}, batch {train.batch_size}) on {device.type}"
    return seconds, what


@contextlib.contextmanager
def located(job: SweepJobConfig) -> Iterator[DataSource]:
    """The sweep's data, checked as the sweep checks it, read where it lies: Fashion-MNIST not
    yet in the cache is decompressed into a scratch folder, not into data/."""
    dataset = job.sweep.train.dataset
    cached = (CACHE_ROOT / "FashionMNIST" / "raw").is_dir() or not is_fashion_mnist(dataset)
    with tempfile.TemporaryDirectory(prefix="dry-run-") as scratch:
        root = CACHE_ROOT if cached else Path(scratch)
        source = data.locate(job.data_dir, dataset=dataset, cache_root=root)
        largest = job.sweep.largest_train
        data.check_fits(source, largest.batch_size, largest.val_fraction)
        yield source


def describe(job: SweepJobConfig, workers: int) -> str:
    """The dry run's lines: the plan, the trials per phase, the space and the estimate."""
    config = job.sweep
    seeds = max(config.replicate_seeds, job.seeds or 0)
    rows = phases(config, seeds)
    count = len(config.activations)
    per_activation = ", ".join(f"{phase} {trials}" for phase, trials, _ in rows)
    total = count * sum(trials for _, trials, _ in rows)
    epochs = count * sum(trials * most for _, trials, most in rows)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with located(job) as source:
        seconds, what = epoch_seconds(config, source, threads)
    minutes = epochs * seconds / workers / 60
    return "\n".join(
        [
            plan(config, seeds),
            f"dry run: nothing written. {total} trials: per activation {per_activation}",
            f"space: {space_text(config)}",
            f"at most {epochs} trial-epochs; one epoch of {what} took {seconds:.3g} s here "
            f"with {threads} thread(s): at most ~{minutes:.1f} min over {workers} worker(s) "
            "(pruning and early stopping end trials sooner)",
        ]
    )
