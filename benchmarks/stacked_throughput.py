"""Trial-epochs per second of stacked trials against one trial at a time, on the CPU.

A stack of K trials (the six seed activations in turn, learning rates spread from 1e-3 to 0.05)
trains one epoch of the real Fashion-MNIST split with `training.train_stacked`; the single-trial
loop trains each of those activations for one epoch with `training.train`. Both sides are timed by
the epochs' own `epoch_time_s` (training, gradient probe, validation; wall time) and by the
process's CPU seconds up to the end of the epoch; model building (ms) is in the latter, the test
set in neither. With --threads 1 the CPU figure is the one to trust on a machine other processes
share: wall time then also counts their turns. Rounds time the single trials before and after
the stacks; the table shows medians.

    python -m benchmarks.stacked_throughput                  # K = 1, 5, 15, 30, one round
    python -m benchmarks.stacked_throughput --k 1,5 --rounds 3 --threads 1

K = 15 is there for the compaction figure: a stack whose 30 trials have lost 15 runs at the
15-trial cost once compacted, and at the 30-trial cost if the stopped slices were masked.
Not a test: numbers depend on the machine and on what else runs on it.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from pipeline.core.dataset import data
from pipeline.core.network.activations import SEED_ACTIVATIONS
from pipeline.core.process.device import configure_torch
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.search_space import lr_grid
from pipeline.stages import stacked, training

BASE = TrainConfig(max_epochs=1, patience=100, device="cpu")


def stack_configs(k: int) -> list[TrainConfig]:
    """K trials: activations in turn, learning rates spread (none diverges in one epoch)."""
    lrs = lr_grid(1e-3, 0.05, k)
    return [
        BASE.replace(activation=SEED_ACTIVATIONS[i % len(SEED_ACTIVATIONS)], lr=lrs[i])
        for i in range(k)
    ]


@dataclass
class EpochTiming:
    wall_s: float  # the epoch's own epoch_time_s
    # Process CPU seconds from the call to the end of epoch 1 (building the models, a few ms,
    # included). With one thread it is the epoch's cost even when other processes share the
    # cores, where wall time also counts the time they took.
    cpu_s: float


class EpochEnd(training.Observer):
    """Notes the process CPU time when the first trial reports its epoch."""

    def __init__(self):
        self.ended: list[float] = []

    def report(self, trial: int, metrics: training.EpochMetrics) -> None:
        self.ended.append(time.process_time())


def timed(train_call: Callable[[training.Observer], list[training.TrainResult]]) -> EpochTiming:
    """Run `train_call(observer)` for one epoch and time it both ways."""
    hook = EpochEnd()
    ended = hook.ended
    started = time.process_time()
    results = train_call(hook)
    diverged = [r.model.config.activation for r in results if r.stop_reason == "diverged"]
    if diverged:  # a smaller stack would look faster than it is
        raise RuntimeError(f"trials diverged in the benchmark: {diverged}")
    return EpochTiming(results[0].history[0].epoch_time_s, ended[0] - started)


def stacked_epoch(splits: data.Splits, k: int) -> EpochTiming:
    """One epoch of a K-trial stack."""
    return timed(
        lambda hook: training.train_stacked(stack_configs(k), splits, hook, progress=False)
    )


def single_epoch(splits: data.Splits, activation: str) -> EpochTiming:
    """One epoch of one trial, the way a sweep worker trains it today."""
    config = BASE.replace(activation=activation, lr=0.01)
    return timed(lambda hook: [training.train(config, splits, hook, progress=False)])


def compaction_s(splits: data.Splits, k: int = 30) -> float:
    """Seconds to drop half the slices of a K-trial stack (the state's copy, once)."""
    engine = stacked.StackedEngine(stack_configs(k), splits)
    started = time.perf_counter()
    engine.stack.compact(list(range(0, k, 2)))
    return time.perf_counter() - started


def median_timing(timings: list[EpochTiming]) -> EpochTiming:
    return EpochTiming(
        statistics.median(t.wall_s for t in timings), statistics.median(t.cpu_s for t in timings)
    )


def warm_up(splits: data.Splits) -> None:
    """First calls in a process pay one-time setup (BLAS, kernels): pay it on a small cut."""
    cut = 2048
    small = replace(
        splits,
        train_x=splits.train_x[:cut],
        train_y=splits.train_y[:cut],
        val_x=splits.val_x[:cut],
        val_y=splits.val_y[:cut],
    )
    single_epoch(small, "relu")
    stacked_epoch(small, 2)


def measure(splits: data.Splits, ks: list[int], rounds: int) -> dict:
    """Median timings per stack size and per activation. Each round times the single trials
    before and after its stacks, so a change in the machine's load shows as drift."""
    stacks: dict[int, list[EpochTiming]] = {k: [] for k in ks}
    singles: dict[str, list[EpochTiming]] = {name: [] for name in SEED_ACTIVATIONS}
    drift = []
    warm_up(splits)
    for round_number in range(1, rounds + 1):
        before = {name: single_epoch(splits, name) for name in SEED_ACTIVATIONS}
        for k in ks:
            stacks[k].append(stacked_epoch(splits, k))
            wall, cpu = stacks[k][-1].wall_s, stacks[k][-1].cpu_s
            print(f"round {round_number}: K={k} {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        after = {name: single_epoch(splits, name) for name in SEED_ACTIVATIONS}
        for name in SEED_ACTIVATIONS:
            singles[name] += [before[name], after[name]]
        drift.append(
            tuple(
                sum(getattr(after[n], clock) for n in after)
                / sum(getattr(before[n], clock) for n in before)
                for clock in ("wall_s", "cpu_s")
            )
        )
    return {
        "stack": {k: median_timing(v) for k, v in stacks.items()},
        "single": {n: median_timing(v) for n, v in singles.items()},
        "single_drift": drift,  # single-trial (wall, CPU) time after the stacks / before
    }


def table(figures: dict) -> str:
    single = figures["single"]
    lines = [
        "| trials K | stack epoch wall (s) | stack epoch CPU (s) | trial-epochs per CPU-s, "
        "stacked | same, single trials | stacked / single (CPU) | stacked / single (wall) |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, timing in figures["stack"].items():
        # The single loop trains the same activations one after another.
        activations = [c.activation for c in stack_configs(k)]
        loop_wall = sum(single[a].wall_s for a in activations)
        loop_cpu = sum(single[a].cpu_s for a in activations)
        lines.append(
            f"| {k} | {timing.wall_s:.2f} | {timing.cpu_s:.2f} | {k / timing.cpu_s:.3f} "
            f"| {k / loop_cpu:.3f} | {loop_cpu / timing.cpu_s:.2f}x "
            f"| {loop_wall / timing.wall_s:.2f}x |"
        )
    return "\n".join(lines)


def details(figures: dict, splits: data.Splits) -> str:
    """Per-activation single-trial times, the load drift, and the compaction figure."""
    single, stack = figures["single"], figures["stack"]
    drift = ", ".join(f"{wall:.2f} / {cpu:.2f}" for wall, cpu in figures["single_drift"])
    lines = [
        "single-trial epoch, wall / CPU (s): "
        + ", ".join(f"{n} {t.wall_s:.2f} / {t.cpu_s:.2f}" for n, t in single.items()),
        f"single-trial time after the stacks / before, wall / CPU: {drift}",
    ]
    if 15 in stack and 30 in stack:
        lines.append(
            f"compaction 30 -> 15 slices: {compaction_s(splits) * 1e3:.1f} ms once; then an epoch "
            f"costs {stack[15].cpu_s:.2f} CPU-s compacted against {stack[30].cpu_s:.2f} masked"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="1,5,15,30", help="comma-separated stack sizes")
    parser.add_argument("--rounds", type=int, default=1, help="measurements per figure")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    args = parser.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    settings = configure_torch(torch.device("cpu"), args.threads)
    splits = data.load_splits()
    print(f"{data.describe(splits)}; torch {torch.__version__}, {settings}")
    figures = measure(splits, ks, args.rounds)
    print(table(figures))
    print(details(figures, splits))


if __name__ == "__main__":
    main()
