"""Two 1-thread processes against one 2-thread process on this machine's 2 cores: the same two
trials (ReLU, the bench's config, `--epochs` each), trained side by side as two 1-thread sweep
workers train them, or one after the other in one 2-thread process. Each round runs both ways
(interleaved), in fresh processes that load the data before a barrier, so only training is
timed; printed as the median with its min-max, and the ratio of medians.

    python -m benchmarks.worker_split --repeats 5 --epochs 1

Not a test: figures depend on the machine and its load.
"""

import argparse
import multiprocessing
import statistics
import time

import torch

from pipeline.core.dataset import data
from pipeline.stages import timings, training


def train(threads: int, trials: int, epochs: int, data_dir, barrier, results) -> None:
    """In a fresh process: `trials` trials one after the other, timed from the barrier."""
    torch.set_num_threads(threads)
    splits = data.load_splits(data_dir, seed=timings.CONFIG.seed)
    config = timings.CONFIG.replace(max_epochs=epochs, patience=epochs)
    barrier.wait()
    started = time.perf_counter()
    for _ in range(trials):
        training.train(config, splits, progress=False)
    results.put(time.perf_counter() - started)


def wall_time(context, processes: int, threads: int, trials: int, epochs: int, data_dir) -> float:
    """Seconds from the barrier until the last process has trained its trials."""
    barrier, results = context.Barrier(processes), context.Queue()
    args = (threads, trials, epochs, data_dir, barrier, results)
    workers = [context.Process(target=train, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    times = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"a training process exited with {worker.exitcode}")
    return max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds after the warm-up (>= 5)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each trial")
    parser.add_argument("--data", default=None, help="a dataset folder (default Fashion-MNIST)")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a worker is
    measures = {
        "one 2-thread process": lambda: wall_time(context, 1, 2, 2, args.epochs, args.data),
        "two 1-thread processes": lambda: wall_time(context, 2, 1, 1, args.epochs, args.data),
    }
    times = timings.interleaved(measures, args.repeats, log=lambda _: None)
    print(
        f"two trials of {args.epochs} epoch(s), {args.repeats} interleaved rounds after a warm-up,"
        " wall s"
    )
    for name, values in times.items():
        print(
            f"  {name:<24} {statistics.median(values):7.3f}  [{min(values):.3f}-{max(values):.3f}]"
        )
    one, two = (statistics.median(values) for values in times.values())
    print(f"  one 2-thread / two 1-thread: {one / two:.2f}x (ratio of medians)")


if __name__ == "__main__":
    main()
