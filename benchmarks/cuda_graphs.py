"""CUDA graphs against eager steps on a GPU: an epoch of the training stage (the seed's ReLU
network, batch 64, Fashion-MNIST resident on the device) with each step replayed as one CUDA
graph, and with the same steps launched one kernel at a time; interleaved (graph, eager, ...)
over `--repeats` rounds after a warm-up, each an epoch; printed as the median with its min-max
and the ratio of medians. On a machine without CUDA it says so in one line and measures nothing.

    python -m benchmarks.cuda_graphs --repeats 5

Not a test: figures depend on the GPU and its load.
"""

import argparse
import statistics
import sys
from functools import partial

import torch

from pipeline.core.dataset import data
from pipeline.stages import timings, training


def epoch_s(splits: data.Splits, cuda_graphs: bool) -> float:
    """Seconds of one epoch of the training stage, as the bench times it."""
    timer = timings.EpochTimer()
    config = timings.CONFIG.replace(max_epochs=1, patience=1)
    training.train(config, splits, timer, progress=False, cuda_graphs=cuda_graphs)
    return timer.times[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds after the warm-up (>= 5)")
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST's folder (default: found)")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    if not torch.cuda.is_available():
        print("no CUDA device here: CUDA graphs run only on a GPU; nothing measured")
        return 0
    splits = data.load_splits(args.data_dir, device="cuda")
    measures = {name: partial(epoch_s, splits, name == "graph") for name in ("graph", "eager")}
    times = timings.interleaved(measures, args.repeats, log=lambda _: None)
    print(f"{torch.cuda.get_device_name()}: an epoch of the training stage, s")
    for name, values in times.items():
        print(f"  {name:<6} {statistics.median(values):.3f}  [{min(values):.3f}-{max(values):.3f}]")
    ratio = statistics.median(times["eager"]) / statistics.median(times["graph"])
    print(f"  eager / graph: {ratio:.2f}x (ratio of medians, {args.repeats} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
