"""`make bench`: the training stage against a seed-style loop, a bare loop and the sgemm roofline.

Every figure is measured in this one run, on the same data and config (ReLU, batch 64, SGD with
momentum, 48k train + 12k validation images), repeated and reported as a median. Speed claims
live here as ratios, never in a timed test.
"""

import math
import statistics
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from pipeline.adapters import downloads
from pipeline.core.dataset import data
from pipeline.core.process.device import configure_torch, resolve_device
from pipeline.core.process.files import atomic_write_text
from pipeline.core.schema.config import PRECISIONS
from pipeline.core.schema.job_config import BenchConfig
from pipeline.stages import timings
from pipeline.stages.bench_report import UNTRACKED, Bench

COMPARED_ACTIVATIONS = ("sigmoid", "tanh", "elu", "swish")
COMPARED_OPTIMIZERS = ("adam", "adamw")  # against the seed's SGD, on ReLU


def measure(
    data_dir: str | None = None,
    device_name: str = "auto",
    rounds: int = 4,
    with_seed_table: bool | None = None,
    log: Callable[[str], None] = print,
) -> Bench:
    device = resolve_device(device_name)
    settings = configure_torch(device)
    splits = data.load_splits(
        data_dir, device=device, seed=timings.CONFIG.seed, download=downloads.fashion_mnist
    )
    bench = Bench(
        device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        threads=int(settings.get("threads", torch.get_num_threads())),
        rounds=rounds,
    )
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        bench.figures.update(epoch_figures(splits, Path(scratch), rounds, bench.notes, log))
        log("training step, bf16-mixed against fp32 ...")
        bench.figures.update(precision_figures(splits, rounds, log))
        log("stacked trials ...")
        bench.figures.update(stacked_figures(splits, log))
        log("(f) sweep overhead per trial ...")
        bench.figures.update(overhead_figures(splits, Path(scratch), bench.notes))
    if with_seed_table if with_seed_table is not None else device.type == "cuda":
        log("seed table ...")
        bench.figures["seed_table"] = timings.seed_table(splits)
        bench.figures["seed_table_in_parallel"] = timings.seed_table_in_parallel(
            data_dir, str(device)
        )
    if not math.isfinite(bench.figures["pipeline_epoch_s"]):
        raise RuntimeError("the pipeline epoch was not measured")
    return bench


def epoch_measures(
    splits: data.Splits, store: Path, notes: list[str]
) -> dict[str, Callable[[], float]]:
    """(a)-(c), the other activations' epochs and the per-epoch probe, each a function of no
    argument."""
    count = len(splits.train_y) + len(splits.val_y)  # the same split as the pipeline's
    train_idx, val_idx = data.split_indices(count, timings.CONFIG.val_fraction, timings.CONFIG.seed)
    config = timings.CONFIG
    measures: dict[str, Callable[[], float]] = {
        "seed_style": lambda: timings.seed_style_epoch(splits, train_idx, val_idx),
        "bare": lambda: timings.bare_epoch(splits),
        "pipeline": tracked_epoch_measure(splits, store, notes),
        "relu": lambda: timings.pipeline_epoch(splits, config),
        "probe": lambda: timings.epoch_probe_s(splits),
    }
    for activation in COMPARED_ACTIVATIONS:
        measures[activation] = partial(
            timings.pipeline_epoch, splits, config.replace(activation=activation)
        )
    for optimizer in COMPARED_OPTIMIZERS:
        measures[optimizer] = partial(
            timings.pipeline_epoch, splits, config.replace(optimizer=optimizer, lr=0.001)
        )
    return measures


def tracked_epoch_measure(
    splits: data.Splits, store: Path, notes: list[str]
) -> Callable[[], float]:
    """(b): an epoch in an MLflow run on a throwaway store; untracked where MLflow is missing
    (a GPU image without it)."""
    try:
        from pipeline.adapters import tracking
        from pipeline.workflows import tracked_timings
    except ImportError:
        notes.append(f"{UNTRACKED}: (b) ran without tracking")
        return lambda: timings.pipeline_epoch(splits, timings.CONFIG)
    tracker = tracking.Tracker("bench", tracked_timings.store_uri(store))
    return lambda: tracked_timings.tracked_epoch(splits, timings.CONFIG, tracker)


def epoch_figures(
    splits: data.Splits, store: Path, rounds: int, notes: list[str], log: Callable[[str], None]
) -> dict[str, Any]:
    samples = timings.interleaved(epoch_measures(splits, store, notes), rounds, log)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    device = splits.device
    f: dict[str, Any] = {
        "seed_style_epoch_s": medians["seed_style"],
        "bare_epoch_s": medians["bare"],
        "pipeline_epoch_s": medians["pipeline"],
        "sgemm_gflops": timings.sgemm_gflops(device),
        "epoch_gflop": timings.epoch_gflop(len(splits.train_y), len(splits.val_y)),
        "matmul_floor_epoch_s": timings.matmul_floor_epoch_s(
            device, len(splits.train_y), len(splits.val_y)
        ),
    }
    f["roofline_epoch_s"] = f["epoch_gflop"] / f["sgemm_gflops"]
    # Measured in the same rounds as the epoch, so a slow spell weighs on both alike.
    f["epoch_probe_s"] = medians["probe"]
    f["epoch_probe_fraction"] = medians["probe"] / f["pipeline_epoch_s"]
    names = ("relu", *COMPARED_ACTIVATIONS)
    f["activation_epoch_s"] = {name: medians[name] for name in names}
    f["activation_epoch_ratio"] = {a: medians[a] / medians["relu"] for a in COMPARED_ACTIVATIONS}
    f["optimizer_epoch_s"] = {"sgd": medians["relu"]} | {o: medians[o] for o in COMPARED_OPTIMIZERS}
    f["epoch_samples_s"] = samples  # each round's figure: the spreads and paired ratios
    return f


def precision_figures(
    splits: data.Splits, rounds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Seconds per training step in each precision at batch 64 (the seed's) and 256, the four
    measures taking turns each round; the ratio bf16-mixed / fp32 of each round (its two steps
    timed side by side) and their median."""
    batches = timings.PRECISION_BATCHES
    measures = {
        f"{precision} {batch}": timings.training_step_s(splits, precision, batch)
        for batch in batches
        for precision in PRECISIONS
    }
    samples = timings.interleaved(measures, rounds, log)
    ratios = {}
    for batch in batches:
        pairs = zip(samples[f"fp32 {batch}"], samples[f"bf16-mixed {batch}"], strict=True)
        ratios[batch] = [bf16 / fp32 for fp32, bf16 in pairs]
    return {
        "precision_step_s": {
            batch: {p: statistics.median(samples[f"{p} {batch}"]) for p in PRECISIONS}
            for batch in batches
        },
        "precision_step_ratio": {batch: statistics.median(r) for batch, r in ratios.items()},
        "precision_step_ratio_rounds": ratios,
    }


def stacked_figures(splits: data.Splits, log: Callable[[str], None]) -> dict[str, Any]:
    """Trial-epochs per second of stacks of K trials against one trial at a time (one round
    after a warm-up, interleaved: a 30-trial stack epoch is long)."""
    measures = {
        f"stack_{k}": partial(timings.stacked_epoch_s, splits, k) for k in timings.STACK_SIZES
    }
    single = partial(timings.single_trials_epoch_s, splits)
    samples = timings.interleaved({"single": single, **measures}, 1, log)
    medians = {name: values[0] for name, values in samples.items()}  # one round: its figure
    rates = {k: k / medians[f"stack_{k}"] for k in timings.STACK_SIZES}
    return {
        "stacked_trial_epochs_per_s": rates,
        "single_trial_epochs_per_s": 1 / medians["single"],
    }


def overhead_figures(splits: data.Splits, store: Path, notes: list[str]) -> dict[str, Any]:
    try:
        from pipeline.workflows import tracked_timings
    except ImportError:
        notes.append("mlflow/optuna are not installed here: (f) was not measured")
        return {}
    return tracked_timings.sweep_overhead(splits, store)


def write(bench: Bench, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "bench.md", bench.markdown())
    atomic_write_text(directory / "bench.json", bench.json())


def run(config: BenchConfig) -> int:
    result = measure(
        config.data_dir,
        config.device,
        config.rounds,
        with_seed_table=config.seed_table,
        log=lambda line: print(line, file=sys.stderr),
    )
    write(result, config.out)
    print(result.markdown(), end="")
    print(f"written: {config.out}/bench.md, {config.out}/bench.json")
    return 0
