"""`make bench`: the training stage against a seed-style loop, a bare loop and the sgemm roofline.

Every figure is measured in this one run, on the same data and config (ReLU, batch 64, SGD with
momentum, 48k train + 12k validation images), repeated and reported as a median. Speed claims
live here as ratios, never in a timed test.
"""

import json
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import pairwise
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import transforms

from pipeline import data, train
from pipeline.activations import SEED_ACTIVATIONS
from pipeline.config import SweepConfig, TrainConfig
from pipeline.files import atomic_write_text
from pipeline.model import DEFAULT_HIDDEN_SIZES, build_model

CONFIG = TrainConfig(activation="relu", lr=0.01, batch_size=64)
COMPARED_ACTIVATIONS = ("sigmoid", "tanh", "elu", "swish")
TARGETS = {  # figure -> (comparison, bound), as the performance issue sets them
    "pipeline / seed-style": ("<=", 0.2),
    "pipeline / bare": ("<=", 1.1),
    "roofline / pipeline": (">=", 0.5),
    "slowest activation / relu": ("<=", 1.3),
    "per-trial overhead (s)": ("<=", 2.0),
}


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


def epoch_gflop(n_train: int, n_val: int, hidden_sizes=DEFAULT_HIDDEN_SIZES) -> float:
    """Matrix FLOPs of one epoch: forward 2 per multiply-add; backward 2 for the weight gradient
    and 2 for the input gradient (none for the first layer's input); validation forward only."""
    widths = [784, *hidden_sizes, 10]
    macs = [a * b for a, b in pairwise(widths)]
    train_flop = 6 * sum(macs) - 2 * macs[0]
    return (train_flop * n_train + 2 * sum(macs) * n_val) / 1e9


def matmul_floor_epoch_s(
    device: torch.device,
    n_train: int,
    n_val: int,
    batch_size: int = 64,
    hidden_sizes=DEFAULT_HIDDEN_SIZES,
) -> float:
    """The epoch's matrix products alone, at their real shapes: per step each layer's forward
    (batch x in @ in x out), weight gradient and input gradient (none for the first layer),
    then validation in batches of 4096. Nothing else of a training loop can be faster."""
    widths = [784, *hidden_sizes, 10]
    layers = list(pairwise(widths))
    x = {n: torch.randn(batch_size, n, device=device) for n in widths}
    w = {(a, b): torch.randn(a, b, device=device) for a, b in layers}
    val = {n: torch.randn(train.EVAL_BATCH_SIZE, n, device=device) for n in widths}
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
        for _ in range(math.ceil(n_val / train.EVAL_BATCH_SIZE)):
            for a, b in layers:
                val[a] @ w[a, b]
        synchronize(device)
        return time.perf_counter() - started

    return statistics.median([epoch() for _ in range(3)])


# --- (a) a seed-style loop ----------------------------------------------------------------


def seed_style_epoch(splits: data.Splits, train_idx, val_idx) -> float:
    """One epoch of the seed's loop: PIL images through ToTensor + Normalize in a DataLoader,
    batch 64, `.item()` per batch for the accuracy, a validation pass the same way."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dataset = data.torchvision_dataset(splits.source, train=True, transform=transform)
    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, train_idx.tolist()), batch_size=64, shuffle=True
    )
    val_loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, val_idx.tolist()), batch_size=64, shuffle=True
    )
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
    model.eval()
    with torch.no_grad():
        for images, labels in val_loader:
            images, labels = images.to(device), labels.to(device)
            correct += model(images).argmax(dim=1).eq(labels).sum().item()
    return time.perf_counter() - started


# --- (c) a bare loop ----------------------------------------------------------------------


def bare_epoch(splits: data.Splits) -> float:
    """The least a loop over resident tensors can do: no metrics, no tracking, no checks."""
    device, x, y = splits.device, splits.train_x, splits.train_y
    model = build_model("relu", seed=CONFIG.seed).to(device)
    optimizer = train.make_optimizer(model, CONFIG)
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
    train.evaluate(model, splits.val_x, splits.val_y)
    synchronize(device)
    return time.perf_counter() - started


# --- (b), (e) the training stage ----------------------------------------------------------


def pipeline_epoch(splits: data.Splits, config: TrainConfig, tracker=None) -> float:
    """One epoch of the training stage (gradient norms, validation, metrics included); with a
    tracker, in an MLflow run, with the epoch's logging counted."""
    config = replace(config, max_epochs=1, patience=1)
    times = []

    def timed(metrics: train.EpochMetrics, log=None) -> bool:
        started = time.perf_counter()
        if log is not None:
            log(metrics)
        times.append(metrics.epoch_time_s + time.perf_counter() - started)
        return False

    if tracker is None:
        train.train(config, splits, on_epoch=timed, progress=False)
        return times[0]
    from pipeline import tracking

    with tracking.training_run(tracker, config, splits, {"device": splits.device.type}) as run:
        train.train(config, splits, on_epoch=lambda m: timed(m, run.log_epoch), progress=False)
    return times[0]


def bench_tracker(store: Path):
    """A tracker on a throwaway store, or None where MLflow is not installed (a GPU image)."""
    try:
        from pipeline import tracking
    except ImportError:
        return None
    return tracking.Tracker("bench", uri=f"sqlite:///{store / 'mlflow.db'}")


def interleaved(
    measures: dict[str, Callable[[], float]], rounds: int, log: Callable[[str], None]
) -> dict[str, float]:
    """Median seconds of each measure over `rounds`, after one warm-up round. Rounds visit every
    measure in turn, so a slow spell of a shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in measures}
    for round_index in range(rounds + 1):
        log(f"round {round_index} of {rounds} (0 is the warm-up)")
        for name, measure in measures.items():
            times[name].append(measure())
    return {name: median_after_warmup(values) for name, values in times.items()}


def grad_norm_probe_s(splits: data.Splits, repeats: int = 5) -> float:
    """What the per-epoch gradient-norm probe (one batch of 256) costs."""
    model = build_model("relu", seed=0).to(splits.device)
    probe_x = splits.train_x[: train.PROBE_BATCH_SIZE]
    probe_y = splits.train_y[: train.PROBE_BATCH_SIZE]
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        train.layer_grad_norms(model, probe_x, probe_y)
        times.append(time.perf_counter() - started)
    return median_after_warmup(times)


# --- (f) what a sweep trial costs beyond training -----------------------------------------


def sweep_overhead(splits: data.Splits, store: Path, trials: int = 3) -> dict[str, float]:
    """Run `trials` one-epoch trials of a real sweep in a throwaway store; the overhead is each
    trial's wall time minus its training time. The MLflow model, logged only for each
    activation's best trial, is timed on its own."""
    from pipeline import sweep

    previous = Path.cwd()
    os.chdir(store)
    try:
        lrs = tuple(0.01 * (i + 1) for i in range(trials))
        config = SweepConfig(
            study="bench",
            experiment="bench",
            activations=("relu",),
            lrs=lrs,
            pruner="none",
            train=replace(CONFIG, max_epochs=1),
        )
        handle = sweep.open_sweep(config, create=True)
        settings = {"device": splits.device.type}
        overheads, run_ids = [], []
        while (trial := sweep.claim_next_trial(handle)) is not None:
            started = time.perf_counter()
            with sweep.heartbeat(handle.storage, trial._trial_id):
                outcome = sweep.run_trial(handle, trial, splits, settings, progress=False)
            overheads.append(time.perf_counter() - started - outcome.train_time_s)
            run_ids.append(trial.user_attrs["mlflow_run_id"])
        model_times = []
        for run_id in run_ids:
            model = handle.tracker.load_run_checkpoint(run_id)
            started = time.perf_counter()
            handle.tracker.log_model(run_id, model)
            model_times.append(time.perf_counter() - started)
        sweep.close_parent(handle)
    finally:
        os.chdir(previous)
    return {
        "per_trial_overhead_s": statistics.median(overheads),
        "model_log_s": statistics.median(model_times),
        "first_model_log_s": model_times[0],
    }


# --- the GPU's seed table -----------------------------------------------------------------


SEED_TABLE_CONFIGS = [
    TrainConfig(activation=a, lr=1e-3, max_epochs=13, patience=13) for a in SEED_ACTIVATIONS
]


def _train_row(config: TrainConfig, splits: data.Splits) -> dict:
    result = train.train(config, splits, progress=False)
    return {
        "test_acc": result.test_acc,
        "train_time_s": result.train_time_s,
        "best_epoch": result.best_epoch,
    }


def seed_table(splits: data.Splits) -> dict:
    """The seed's whole table: six activations, lr 1e-3, 13 epochs each, one after another."""
    started = time.perf_counter()
    rows = {config.activation: _train_row(config, splits) for config in SEED_TABLE_CONFIGS}
    synchronize(splits.device)
    return {"total_s": time.perf_counter() - started, "activations": rows}


def _train_row_in_a_fresh_process(config: TrainConfig, data_dir: str | None, device: str) -> dict:
    train.configure_torch(torch.device(device))
    return _train_row(config, data.load_splits(data_dir, device=device))


def seed_table_in_parallel(data_dir: str | None, device: str) -> dict:
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


# --- the report ---------------------------------------------------------------------------


@dataclass
class Bench:
    device: str
    threads: int
    rounds: int
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> dict[str, float]:
        f = self.figures
        ratios = {
            "pipeline / seed-style": f["pipeline_epoch_s"] / f["seed_style_epoch_s"],
            "pipeline / bare": f["pipeline_epoch_s"] / f["bare_epoch_s"],
            "roofline / pipeline": f["roofline_epoch_s"] / f["pipeline_epoch_s"],
            "slowest activation / relu": max(f["activation_epoch_ratio"].values()),
        }
        if "per_trial_overhead_s" in f:
            ratios["per-trial overhead (s)"] = f["per_trial_overhead_s"]
        return ratios

    def json(self) -> str:
        return json.dumps(
            {
                **self.figures,
                "device": self.device,
                "threads": self.threads,
                "rounds": self.rounds,
                "ratios": self.ratios(),
                "notes": self.notes,
            },
            indent=2,
        )

    def markdown(self) -> str:
        f = self.figures
        lines = [
            f"Device: {self.device}, {self.threads} threads, torch {torch.__version__}; medians "
            f"of {self.rounds} rounds after a warm-up round, every figure measured once a round "
            "(one epoch from a fresh model; ReLU, batch 64, 48k train + 12k validation).",
            "",
            "| figure | seconds per epoch | vs pipeline |",
            "|---|---|---|",
        ]
        rows = [
            ("(a) seed-style loop (PIL transforms, DataLoader)", "seed_style_epoch_s"),
            ("(b) pipeline training stage, MLflow + grad norms on", "pipeline_epoch_s"),
            ("(c) bare loop over resident tensors", "bare_epoch_s"),
            ("(d) sgemm roofline (epoch FLOPs / large-matmul rate)", "roofline_epoch_s"),
            ("the epoch's matmuls alone, at their real batch-64 shapes", "matmul_floor_epoch_s"),
        ]
        for label, key in rows:
            lines.append(f"| {label} | {f[key]:.3f} | {f[key] / f['pipeline_epoch_s']:.2f}× |")
        lines += ["", "| activation | epoch (s) | vs relu |", "|---|---|---|"]
        for name, ratio in f["activation_epoch_ratio"].items():
            lines.append(f"| {name} | {f['activation_epoch_s'][name]:.3f} | {ratio:.2f}× |")
        lines += ["", "| target | measured | bound | met |", "|---|---|---|---|"]
        for name, value in self.ratios().items():
            comparison, bound = TARGETS[name]
            met = value <= bound if comparison == "<=" else value >= bound
            lines.append(
                f"| {name} | {value:.3f} | {comparison} {bound} | {'yes' if met else 'no'} |"
            )
        lines += [
            "",
            f"sgemm {f['sgemm_gflops']:.0f} GFLOP/s; an epoch is "
            f"{f['epoch_gflop']:.1f} GFLOP, so the pipeline runs at "
            f"{f['epoch_gflop'] / f['pipeline_epoch_s']:.0f} GFLOP/s. The gradient-norm "
            f"probe costs {100 * f['grad_norm_probe_fraction']:.2f}% of an epoch.",
        ]
        if "model_log_s" in f:
            lines.append(
                f"Logging the MLflow model: {f['model_log_s']:.2f} s (the first in a "
                f"process {f['first_model_log_s']:.2f} s); done only for each "
                "activation's best trial."
            )
        if "seed_table" in f:
            table = f["seed_table"]
            lines.append(
                f"The seed's whole table (6 activations × 13 epochs, lr 1e-3): "
                f"{table['total_s']:.1f} s one after another; "
                f"{f['seed_table_in_parallel']['total_s']:.1f} s as 6 processes side by side "
                "(their start and data loading included)."
            )
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def run(
    data_dir: str | None = None,
    device_name: str = "auto",
    rounds: int = 4,
    with_seed_table: bool | None = None,
    log: Callable[[str], None] = print,
) -> Bench:
    device = train.resolve_device(device_name)
    settings = train.configure_torch(device)
    splits = data.load_splits(data_dir, device=device, seed=CONFIG.seed)
    count = len(splits.train_y) + len(splits.val_y)  # the same split as the pipeline's
    train_idx, val_idx = data.split_indices(count, CONFIG.val_fraction, CONFIG.seed)
    bench = Bench(
        device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        threads=int(settings.get("threads", torch.get_num_threads())),
        rounds=rounds,
    )
    f = bench.figures
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        tracker = bench_tracker(Path(scratch))
        if tracker is None:
            bench.notes.append("mlflow is not installed here: (b) ran without tracking")
        measures = {
            "seed_style": lambda: seed_style_epoch(splits, train_idx, val_idx),
            "bare": lambda: bare_epoch(splits),
            "pipeline": lambda: pipeline_epoch(splits, CONFIG, tracker),
            "relu": lambda: pipeline_epoch(splits, CONFIG),
        }
        for activation in COMPARED_ACTIVATIONS:
            measures[activation] = partial(
                pipeline_epoch, splits, replace(CONFIG, activation=activation)
            )
        medians = interleaved(measures, rounds, log)
        f["seed_style_epoch_s"] = medians["seed_style"]
        f["bare_epoch_s"] = medians["bare"]
        f["pipeline_epoch_s"] = medians["pipeline"]
        f["sgemm_gflops"] = sgemm_gflops(device)
        f["epoch_gflop"] = epoch_gflop(len(splits.train_y), len(splits.val_y))
        f["roofline_epoch_s"] = f["epoch_gflop"] / f["sgemm_gflops"]
        f["matmul_floor_epoch_s"] = matmul_floor_epoch_s(
            device, len(splits.train_y), len(splits.val_y)
        )
        f["grad_norm_probe_fraction"] = grad_norm_probe_s(splits) / f["pipeline_epoch_s"]
        names = ("relu", *COMPARED_ACTIVATIONS)
        f["activation_epoch_s"] = {name: medians[name] for name in names}
        f["activation_epoch_ratio"] = {
            a: medians[a] / medians["relu"] for a in COMPARED_ACTIVATIONS
        }
        log("(f) sweep overhead per trial ...")
        try:
            f.update(sweep_overhead(splits, Path(scratch)))
        except ImportError:
            bench.notes.append("mlflow/optuna are not installed here: (f) was not measured")
    if with_seed_table if with_seed_table is not None else device.type == "cuda":
        log("seed table ...")
        f["seed_table"] = seed_table(splits)
        f["seed_table_in_parallel"] = seed_table_in_parallel(data_dir, str(device))
    if not math.isfinite(f["pipeline_epoch_s"]):
        raise RuntimeError("the pipeline epoch was not measured")
    return bench


def write(bench: Bench, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "bench.md", bench.markdown())
    atomic_write_text(directory / "bench.json", bench.json())
