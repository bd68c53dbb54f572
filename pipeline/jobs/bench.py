"""`make bench`: the training stage against a seed-style loop, a bare loop and the sgemm roofline.

Every figure is measured in this one run, on the same data and config (ReLU, batch 64, SGD with
momentum, 48k train + 12k validation images), repeated and reported as a median. Speed claims
live here as ratios, never in a timed test.
"""

import json
import math
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from unittest import mock

import torch

from pipeline.core import data
from pipeline.core.config import BenchConfig
from pipeline.core.files import atomic_write_text
from pipeline.stages import training
from pipeline.stages.timings import (
    CONFIG,
    STACK_SIZES,
    bare_epoch,
    bench_tracker,
    epoch_gflop,
    grad_norm_probe_s,
    interleaved,
    matmul_floor_epoch_s,
    pipeline_epoch,
    seed_style_epoch,
    seed_table,
    seed_table_in_parallel,
    sgemm_gflops,
    single_trials_epoch_s,
    stacked_epoch_s,
    sweep_overhead,
)

COMPARED_ACTIVATIONS = ("sigmoid", "tanh", "elu", "swish")
TARGETS = {  # figure -> (comparison, bound): the performance targets (docs/performance.md)
    "pipeline / seed-style": ("<=", 0.2),
    "pipeline / bare": ("<=", 1.1),
    "roofline / pipeline": (">=", 0.5),
    "slowest activation / relu": ("<=", 1.3),
    "per-trial overhead (s)": ("<=", 2.0),
    "best stack / single trial": (">=", 1.15),
}


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
        if "stacked_trial_epochs_per_s" in f:
            best = max(f["stacked_trial_epochs_per_s"].values())
            ratios["best stack / single trial"] = best / f["single_trial_epochs_per_s"]
        return ratios

    def stacked_rows(self) -> list[str]:
        f = self.figures
        single, roofline = f["single_trial_epochs_per_s"], 1 / f["roofline_epoch_s"]
        lines = [
            "",
            "| trials trained at once (K) | trial-epochs / s | vs one at a time | vs roofline |",
            "|---|---|---|---|",
            f"| one at a time (training.train) | {single:.3f} | 1.00× | {single / roofline:.2f} |",
        ]
        for k, rate in f["stacked_trial_epochs_per_s"].items():
            lines.append(
                f"| stack of {k} | {rate:.3f} | {rate / single:.2f}× | {rate / roofline:.2f} |"
            )
        return lines

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
        if "stacked_trial_epochs_per_s" in f:
            lines += self.stacked_rows()
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


def measure(
    data_dir: str | None = None,
    device_name: str = "auto",
    rounds: int = 4,
    with_seed_table: bool | None = None,
    log: Callable[[str], None] = print,
) -> Bench:
    device = training.resolve_device(device_name)
    settings = training.configure_torch(device)
    splits = data.load_splits(data_dir, device=device, seed=CONFIG.seed)
    count = len(splits.train_y) + len(splits.val_y)  # the same split as the pipeline's
    train_idx, val_idx = data.split_indices(count, CONFIG.val_fraction, CONFIG.seed)
    bench = Bench(
        device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        threads=int(settings.get("threads", torch.get_num_threads())),
        rounds=rounds,
    )
    f = bench.figures
    # The throwaway tracker sets MLFLOW_TRACKING_URI for its process: put it back after.
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch, mock.patch.dict(os.environ):
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
                pipeline_epoch, splits, CONFIG.replace(activation=activation)
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
        log("stacked trials ...")
        f.update(stacked_figures(splits, log))
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


def stacked_figures(splits: data.Splits, log: Callable[[str], None]) -> dict:
    """Trial-epochs per second of stacks of K trials against one trial at a time (one round
    after a warm-up, interleaved: a 30-trial stack epoch is long)."""
    measures = {f"stack_{k}": partial(stacked_epoch_s, splits, k) for k in STACK_SIZES}
    medians = interleaved({"single": partial(single_trials_epoch_s, splits), **measures}, 1, log)
    rates = {k: k / medians[f"stack_{k}"] for k in STACK_SIZES}
    return {
        "stacked_trial_epochs_per_s": rates,
        "single_trial_epochs_per_s": 1 / medians["single"],
    }


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
