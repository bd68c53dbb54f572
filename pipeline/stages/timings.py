"""Timings of the training stage and of its references, each one function: an epoch of a
seed-style loop, a bare loop, the pipeline's own stage, the sgemm roofline and the epoch's
matmuls at their real shapes, the per-epoch probe, stacks, the seed's table. (What needs the
stores, a tracked epoch and a sweep trial's overhead, is in workflows/tracked_timings.py.)
"""

import math
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torchvision import transforms

from pipeline.core.dataset import data
from pipeline.core.network.activations import SEED_ACTIVATIONS
from pipeline.core.network.model import build_model
from pipeline.core.process.device import configure_torch
from pipeline.core.schema.config import (
    DEFAULT_HIDDEN_SIZES,
    IN_FEATURES,
    NUM_CLASSES,
    SEED_LR,
    TrainConfig,
)
from pipeline.core.schema.limits import EVAL_BATCH_SIZE
from pipeline.core.schema.search_space import lr_grid
from pipeline.core.schema.vocabulary import StopReason
from pipeline.stages import lone, training
from pipeline.stages.optimizers import lone_optimizer, settings_of
from pipeline.stages.probe import PROBE_BATCH_SIZE

CONFIG = TrainConfig(activation="relu", lr=0.01, batch_size=64)


def median_after_warmup(times: list[float], warmup: int = 1) -> float:
    return statistics.median(times[warmup:])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# --- (d) the roofline ---------------------------------------------------------------------


def sgemm_gflops(device: torch.device, size: int = 2048, repeats: int = 3) -> float:
    """Large float32 matrix products per second: the most this machine's matmuls can give."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b  # warm-up
    rates = []
    for _ in range(repeats):
        count = 20 if device.type == "cuda" else 4
        synchronize(device)
        started = time.perf_counter()
        for _ in range(count):
            a @ b
        synchronize(device)
        rates.append(2 * size**3 * count / (time.perf_counter() - started) / 1e9)
    return statistics.median(rates)


def epoch_gflop(
    n_train: int, n_val: int, hidden_sizes: Sequence[int] = DEFAULT_HIDDEN_SIZES
) -> float:
    """Matrix FLOPs of one epoch: forward 2 per multiply-add; backward 2 for the weight gradient
    and 2 for the input gradient (none for the first layer's input); validation forward only."""
    widths = [IN_FEATURES, *hidden_sizes, NUM_CLASSES]
    macs = [a * b for a, b in pairwise(widths)]
    train_flop = 6 * sum(macs) - 2 * macs[0]
    return (train_flop * n_train + 2 * sum(macs) * n_val) / 1e9


def matmul_floor_epoch_s(
    device: torch.device,
    n_train: int,
    n_val: int,
    batch_size: int = 64,
    hidden_sizes: Sequence[int] = DEFAULT_HIDDEN_SIZES,
) -> float:
    """The epoch's matrix products alone, at their real shapes: per step each layer's forward
    (batch x in @ in x out), weight gradient and input gradient (none for the first layer),
    then validation in batches of 4096. Nothing else of a training loop can be faster."""
    widths = [IN_FEATURES, *hidden_sizes, NUM_CLASSES]
    layers = list(pairwise(widths))
    x = {n: torch.randn(batch_size, n, device=device) for n in widths}
    w = {(a, b): torch.randn(a, b, device=device) for a, b in layers}
    val = {n: torch.randn(EVAL_BATCH_SIZE, n, device=device) for n in widths}
    steps = math.ceil(n_train / batch_size)

    def epoch() -> float:
        synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            for index, (a, b) in enumerate(layers):
                x[a] @ w[a, b]  # forward
                x[a].T @ x[b]  # weight gradient: in x batch @ batch x out
                if index:
                    x[b] @ w[a, b].T  # input gradient
        for _ in range(math.ceil(n_val / EVAL_BATCH_SIZE)):
            for a, b in layers:
                val[a] @ w[a, b]
        synchronize(device)
        return time.perf_counter() - started

    return statistics.median([epoch() for _ in range(3)])


# --- (a) a seed-style loop ----------------------------------------------------------------


def seed_style_loaders(
    splits: data.Splits, train_idx: torch.Tensor, val_idx: torch.Tensor
) -> tuple[torch.utils.data.DataLoader[Any], ...]:
    """The seed's DataLoaders: PIL images through ToTensor + Normalize, batch 64, shuffled."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dataset = data.torchvision_dataset(splits.source, train=True, transform=transform)
    return tuple(
        torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, idx.tolist()), batch_size=64, shuffle=True
        )
        for idx in (train_idx, val_idx)
    )


def seed_style_parts(
    splits: data.Splits, train_idx: torch.Tensor, val_idx: torch.Tensor
) -> tuple[float, float]:
    """Seconds of one epoch of the seed's loop, as (training pass, validation pass): `.item()`
    per batch for the accuracy, the validation pass through its own DataLoader."""
    train_loader, val_loader = seed_style_loaders(splits, train_idx, val_idx)
    device = splits.device
    model = build_model("relu", seed=CONFIG.seed).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=CONFIG.lr, momentum=CONFIG.momentum)
    started = time.perf_counter()
    model.train()
    correct = 0
    for images, labels in train_loader:
        images, labels = images.to(device), labels.to(device)
        predictions = model(images)
        loss = F.cross_entropy(predictions, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        correct += predictions.argmax(dim=1).eq(labels).sum().item()
    trained = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for images, labels in val_loader:
            images, labels = images.to(device), labels.to(device)
            correct += model(images).argmax(dim=1).eq(labels).sum().item()
    return trained - started, time.perf_counter() - trained


def seed_style_epoch(splits: data.Splits, train_idx: torch.Tensor, val_idx: torch.Tensor) -> float:
    """One epoch of the seed's loop, training and validation."""
    return sum(seed_style_parts(splits, train_idx, val_idx))


def seed_style_loading(
    splits: data.Splits, train_idx: torch.Tensor, val_idx: torch.Tensor
) -> float:
    """Seconds the seed's training DataLoader alone takes to yield an epoch's batches."""
    train_loader, _ = seed_style_loaders(splits, train_idx, val_idx)
    started = time.perf_counter()
    for _ in train_loader:
        pass
    return time.perf_counter() - started


# --- (c) a bare loop ----------------------------------------------------------------------


def bare_epoch(splits: data.Splits) -> float:
    """The least a loop over resident tensors can do: no metrics, no tracking, no checks."""
    device, x, y = splits.device, splits.train_x, splits.train_y
    model = build_model("relu", seed=CONFIG.seed).to(device)
    optimizer = lone_optimizer(model.parameters(), settings_of(CONFIG), device.type)
    shuffle = torch.Generator(device=device).manual_seed(CONFIG.seed)
    synchronize(device)
    started = time.perf_counter()
    model.train()
    order = torch.randperm(len(y), device=device, generator=shuffle)
    for start in range(0, len(y), CONFIG.batch_size):
        batch = order[start : start + CONFIG.batch_size]
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    lone.evaluate(model, splits.val_x, splits.val_y)
    synchronize(device)
    return time.perf_counter() - started


# --- (b), (e) the training stage ----------------------------------------------------------


class EpochTimer(training.Observer):
    """Each epoch's time, with what `log` does with the epoch's metrics (MLflow) counted."""

    def __init__(self, log: Callable[[int, training.EpochMetrics], None] | None = None):
        self.log = log
        self.times: list[float] = []

    def report(self, trial: int, metrics: training.EpochMetrics) -> None:
        started = time.perf_counter()
        if self.log is not None:
            self.log(trial, metrics)
        self.times.append(metrics.epoch_time_s + time.perf_counter() - started)


def pipeline_epoch(splits: data.Splits, config: TrainConfig) -> float:
    """One epoch of the training stage (gradient norms, validation, metrics included)."""
    timer = EpochTimer()
    training.train(config.replace(max_epochs=1, patience=1), splits, timer, progress=False)
    return timer.times[0]


def interleaved(
    measures: dict[str, Callable[[], float]], rounds: int, log: Callable[[str], None]
) -> dict[str, list[float]]:
    """Seconds of each measure in each of `rounds` rounds, after one warm-up round (dropped).
    Rounds visit every measure in turn, so a slow spell of a shared machine falls on all of
    them alike, and the same round's figures make a paired ratio."""
    times: dict[str, list[float]] = {name: [] for name in measures}
    for round_index in range(rounds + 1):
        log(f"round {round_index} of {rounds} (0 is the warm-up)")
        for name, measure in measures.items():
            times[name].append(measure())
    return {name: values[1:] for name, values in times.items()}


def epoch_probe_s(splits: data.Splits, repeats: int = 5) -> float:
    """What the per-epoch probe costs: gradient norms and unit health on the fixed batch of
    PROBE_BATCH_SIZE training images, one forward and backward pass (lone.layer_probe)."""
    model = build_model("relu", seed=0).to(splits.device)
    probe_x = splits.train_x[:PROBE_BATCH_SIZE]
    probe_y = splits.train_y[:PROBE_BATCH_SIZE]
    times = []
    for _ in range(repeats + 1):
        synchronize(splits.device)
        started = time.perf_counter()
        lone.layer_probe(model, probe_x, probe_y)  # ends with a host sync
        times.append(time.perf_counter() - started)
    return median_after_warmup(times)


# --- the GPU's seed table -----------------------------------------------------------------


SEED_TABLE_CONFIGS = [
    TrainConfig(activation=a, lr=SEED_LR, max_epochs=13, patience=13) for a in SEED_ACTIVATIONS
]


def _train_row(config: TrainConfig, splits: data.Splits) -> dict[str, Any]:
    result = training.train(config, splits, progress=False)
    return {
        "test_acc": result.test_acc,
        "train_time_s": result.train_time_s,
        "best_epoch": result.best_epoch,
    }


def seed_table(splits: data.Splits) -> dict[str, Any]:
    """The seed's whole table: six activations, lr 1e-3, 13 epochs each, one after another."""
    started = time.perf_counter()
    rows = {config.activation: _train_row(config, splits) for config in SEED_TABLE_CONFIGS}
    synchronize(splits.device)
    return {"total_s": time.perf_counter() - started, "activations": rows}


def _train_row_in_a_fresh_process(
    config: TrainConfig, data_dir: str | None, device: str
) -> dict[str, Any]:
    configure_torch(torch.device(device))
    return _train_row(config, data.load_splits(data_dir, device=device))


def seed_table_in_parallel(data_dir: str | None, device: str) -> dict[str, Any]:
    """The same table with one process per activation, side by side on one device, as sweep
    workers would run: the wall time includes each process's start and data loading."""
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with ProcessPoolExecutor(len(SEED_TABLE_CONFIGS), mp_context=context) as pool:
        futures = {
            c.activation: pool.submit(_train_row_in_a_fresh_process, c, data_dir, device)
            for c in SEED_TABLE_CONFIGS
        }
        rows = {activation: future.result() for activation, future in futures.items()}
    return {"total_s": time.perf_counter() - started, "activations": rows}


# --- stacked trials -----------------------------------------------------------------------

STACK_SIZES = (1, 5, 30)


def stack_configs(k: int) -> list[TrainConfig]:
    """K one-epoch trials: the seed's activations in turn, learning rates spread over 1e-3 to
    0.05 (none diverges in an epoch), the rest the bench's config."""
    lrs = lr_grid(1e-3, 0.05, k)
    return [
        CONFIG.replace(activation=SEED_ACTIVATIONS[i % 6], lr=lrs[i], max_epochs=1, patience=1)
        for i in range(k)
    ]


def stacked_epoch_s(splits: data.Splits, k: int) -> float:
    """Seconds of one epoch of a K-trial stack (training, gradient probe, validation)."""
    results = training.train_stacked(stack_configs(k), splits, progress=False)
    if any(r.stop_reason == StopReason.DIVERGED for r in results):  # a smaller stack looks faster
        raise RuntimeError("a trial of the benchmark stack diverged")
    return results[0].history[0].epoch_time_s


def single_trials_epoch_s(splits: data.Splits) -> float:
    """Seconds of one epoch of one trial, averaged over the seed's activations trained one by
    one as a sweep worker trains them."""
    times = [
        training.train(c, splits, progress=False).history[0].epoch_time_s for c in stack_configs(6)
    ]
    return statistics.mean(times)


# --- precision ----------------------------------------------------------------------------

PRECISION_BATCHES = (64, 256)
PRECISION_STEPS = 50


def training_step_s(
    splits: data.Splits, precision: str, batch_size: int, steps: int = PRECISION_STEPS
) -> Callable[[], float]:
    """A measure of seconds per training step of the lone engine (the step `make train` runs:
    the forward pass and loss under the precision's autocast, backward, the fused SGD update)
    at this precision and batch size; each call times `steps` more steps of one model. Batches
    are drawn with replacement, so any training set fills any batch size."""
    engine = lone.LoneEngine(CONFIG.replace(precision=precision, batch_size=batch_size), splits)
    engine.reset_totals()
    draw = torch.Generator(device=splits.device).manual_seed(CONFIG.seed)
    n, device = len(splits.train_y), splits.device

    def measure() -> float:
        batches = [
            torch.randint(n, (batch_size,), device=device, generator=draw) for _ in range(steps)
        ]
        synchronize(device)
        started = time.perf_counter()
        for batch in batches:
            engine.step(batch)
        synchronize(device)
        return (time.perf_counter() - started) / steps

    return measure
