"""Where an epoch of the seed's own loop goes: its training pass, its validation pass, and the
training DataLoader alone (PIL images through ToTensor + Normalize, no model), each timed in
every round, rounds after a warm-up; printed as the median with its min-max.

    python -m benchmarks.seed_loop_split --repeats 5 --threads 2

The loop is `make bench`'s figure (a), on the same data and split (Fashion-MNIST, 48k train +
12k validation images). Not a test: figures depend on the machine and its load.
"""

import argparse
import statistics

import torch

from pipeline.core.dataset import data
from pipeline.stages import timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds after the warm-up (>= 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--data", default=None, help="a dataset folder (default Fashion-MNIST)")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    torch.set_num_threads(args.threads)
    splits = data.load_splits(args.data, seed=timings.CONFIG.seed)
    count = len(splits.train_y) + len(splits.val_y)
    train_idx, val_idx = data.split_indices(count, timings.CONFIG.val_fraction, timings.CONFIG.seed)
    parts: dict[str, list[float]] = {"training pass": [], "validation pass": [], "epoch": []}
    loading = []
    for _ in range(args.repeats + 1):  # the first round warms up and is dropped
        train_s, val_s = timings.seed_style_parts(splits, train_idx, val_idx)
        for name, value in zip(parts, (train_s, val_s, train_s + val_s), strict=True):
            parts[name].append(value)
        loading.append(timings.seed_style_loading(splits, train_idx, val_idx))
    parts["training DataLoader alone"] = loading
    print(f"the seed's loop, {args.threads} thread(s), {args.repeats} rounds after a warm-up, s")
    for name, values in parts.items():
        values = values[1:]
        print(
            f"  {name:<26} {statistics.median(values):7.3f}  [{min(values):.3f}-{max(values):.3f}]"
        )
    share = statistics.median(loading[1:]) / statistics.median(parts["training pass"][1:])
    print(f"  DataLoader / training pass: {share:.2f} (ratio of medians)")


if __name__ == "__main__":
    main()
