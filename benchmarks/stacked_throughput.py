"""Trial-epochs per second of stacked trials against one trial at a time, on the CPU.

A stack of K trials (the six seed activations in turn, learning rates spread from 1e-3 to 0.05)
trains one epoch of the real Fashion-MNIST split with `stacked.train_stacked`; the single-trial
loop trains each of those activations for one epoch with `train.train`. Both sides are timed by
the epochs' own `epoch_time_s` (training, gradient probe, validation), so model building and the
test set stay out of it. Rounds interleave every figure; the table shows medians.

    python -m benchmarks.stacked_throughput                  # K = 1, 5, 15, 30, one round
    python -m benchmarks.stacked_throughput --k 1,5 --rounds 3 --threads 1

K = 15 is there for the compaction figure: a stack whose 30 trials have lost 15 runs at the
15-trial cost once compacted, and at the 30-trial cost if the stopped slices were masked.
Not a test: numbers depend on the machine and on what else runs on it.
"""

import argparse
import statistics
import time

import torch

from pipeline import data, stacked, train
from pipeline.activations import SEED_ACTIVATIONS
from pipeline.config import TrainConfig, lr_grid

BASE = TrainConfig(max_epochs=1, patience=100, device="cpu")


def stack_configs(k: int) -> list[TrainConfig]:
    """K trials: activations in turn, learning rates spread (none diverges in one epoch)."""
    lrs = lr_grid(1e-3, 0.05, k)
    return [
        BASE.replace(activation=SEED_ACTIVATIONS[i % len(SEED_ACTIVATIONS)], lr=lrs[i])
        for i in range(k)
    ]


def stacked_epoch_s(splits: data.Splits, k: int) -> float:
    """Seconds of one epoch of a K-trial stack."""
    results = stacked.train_stacked(stack_configs(k), splits, progress=False)
    diverged = [r.model.config.activation for r in results if r.stop_reason == "diverged"]
    if diverged:  # a smaller stack would look faster than it is
        raise RuntimeError(f"trials diverged in the benchmark stack: {diverged}")
    return results[0].history[0].epoch_time_s


def single_epoch_s(splits: data.Splits, activation: str) -> float:
    """Seconds of one epoch of one trial, the way a sweep worker trains it today."""
    config = BASE.replace(activation=activation, lr=0.01)
    return train.train(config, splits, progress=False).history[0].epoch_time_s


def compaction_s(splits: data.Splits, k: int = 30) -> float:
    """Seconds to drop half the slices of a K-trial stack (the state's copy, once)."""
    run = stacked.StackedRun(stack_configs(k), splits)
    started = time.perf_counter()
    run.stack.compact(list(range(0, k, 2)))
    return time.perf_counter() - started


def measure(splits: data.Splits, ks: list[int], rounds: int) -> dict:
    """Median epoch seconds per stack size and per activation. Each round times the single
    trials before and after its stacks, so a change in the machine's load shows as drift."""
    stack_times: dict[int, list[float]] = {k: [] for k in ks}
    single_times: dict[str, list[float]] = {name: [] for name in SEED_ACTIVATIONS}
    drift = []
    for round_number in range(1, rounds + 1):
        before = {name: single_epoch_s(splits, name) for name in SEED_ACTIVATIONS}
        for k in ks:
            stack_times[k].append(stacked_epoch_s(splits, k))
            print(f"round {round_number}: K={k} {stack_times[k][-1]:.2f} s", flush=True)
        after = {name: single_epoch_s(splits, name) for name in SEED_ACTIVATIONS}
        for name in SEED_ACTIVATIONS:
            single_times[name] += [before[name], after[name]]
        drift.append(sum(after.values()) / sum(before.values()))
    return {
        "stack_epoch_s": {k: statistics.median(v) for k, v in stack_times.items()},
        "single_epoch_s": {n: statistics.median(v) for n, v in single_times.items()},
        "single_drift": drift,  # single-trial time after the stacks / before, per round
    }


def table(figures: dict) -> str:
    single = figures["single_epoch_s"]
    lines = [
        "| trials K | stack epoch (s) | stacked trial-epochs/s | single-trial trial-epochs/s "
        "| stacked / single |",
        "|---|---|---|---|---|",
    ]
    for k, seconds in figures["stack_epoch_s"].items():
        # The single loop trains the same activations one after another.
        loop_s = sum(single[c.activation] for c in stack_configs(k))
        stacked_rate, single_rate = k / seconds, k / loop_s
        lines.append(
            f"| {k} | {seconds:.2f} | {stacked_rate:.3f} | {single_rate:.3f} "
            f"| {stacked_rate / single_rate:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="1,5,15,30", help="comma-separated stack sizes")
    parser.add_argument("--rounds", type=int, default=1, help="measurements per figure")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    args = parser.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    settings = train.configure_torch(torch.device("cpu"), args.threads)
    splits = data.load_splits()
    print(f"{data.describe(splits)}; torch {torch.__version__}, {settings}")
    figures = measure(splits, ks, args.rounds)
    print(table(figures))
    single = figures["single_epoch_s"]
    print("single-trial epoch (s): " + ", ".join(f"{n} {s:.2f}" for n, s in single.items()))
    print(
        "single-trial time after the stacks / before: "
        + ", ".join(f"{d:.2f}" for d in figures["single_drift"])
    )
    stack = figures["stack_epoch_s"]
    if 15 in stack and 30 in stack:
        print(
            f"compaction 30 -> 15 slices: {compaction_s(splits) * 1e3:.1f} ms once; then an epoch "
            f"costs {stack[15]:.2f} s compacted against {stack[30]:.2f} s masked"
        )


if __name__ == "__main__":
    main()
