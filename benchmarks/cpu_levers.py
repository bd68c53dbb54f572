"""Two CPU levers docs/performance.md cites, each measured against its alternative in one run:
the fused SGD kernel against `foreach`, and denormals flushed against kept (sigmoid, whose
saturated units make them). A whole training step at learning rate 0, so every step does the
same arithmetic. Each pair is timed interleaved (A B A B ...), after a warm-up, over `--repeats`
rounds; printed as the median with its min-max, and the ratio of medians.

    python -m benchmarks.cpu_levers --repeats 7 --threads 1

The seed's network (784-512-256-256-128-10) on random batches of 64: the levers' cost is in the
arithmetic, not in the data. Not a test: figures depend on the machine and its load.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from pipeline.core.network.model import build_model
from pipeline.stages import timings

BATCH, STEPS = 64, 200
SATURATING = 150.0  # the inputs' scale that saturates the first sigmoid layer (see main)


def steps(activation: str, scale: float = 1.0, **sgd: bool) -> Callable[[], float]:
    """Seconds per training step of the seed's network under SGD with these options, on inputs
    of standard deviation `scale`."""
    model = build_model(activation, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, **sgd)
    x, y = scale * torch.randn(BATCH, 28 * 28), torch.randint(0, 10, (BATCH,))
    loss_fn = nn.CrossEntropyLoss()

    def measure() -> float:
        started = time.perf_counter()
        for _ in range(STEPS):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()
        return (time.perf_counter() - started) / STEPS

    return measure


def with_denormals(flush: bool, measure: Callable[[], float]) -> Callable[[], float]:
    def run() -> float:
        previous = torch.set_flush_denormal(flush)
        try:
            return measure()
        finally:
            torch.set_flush_denormal(previous)

    return run


def report(title: str, times: dict[str, list[float]]) -> None:
    (a, a_times), (b, b_times) = times.items()
    print(f"{title}: {len(a_times)} interleaved rounds after a warm-up, µs per step")
    for name, values in times.items():
        median = statistics.median(values)
        low, high = 1e6 * min(values), 1e6 * max(values)
        print(f"  {name:<26} {1e6 * median:8.1f}  [{low:.1f}-{high:.1f}]")
    ratio = statistics.median(b_times) / statistics.median(a_times)
    print(f"  {b} / {a}: {ratio:.2f}x (ratio of medians)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds after the warm-up (>= 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {BATCH}, {STEPS} steps")
    sgd = {
        "fused": with_denormals(True, steps("relu", fused=True)),
        "foreach": with_denormals(True, steps("relu", foreach=True)),
    }
    report(
        "SGD step (relu), fused kernel against foreach",
        timings.interleaved(sgd, args.repeats, log=lambda _: None),
    )
    # Saturated: first-layer pre-activations of std ~87, so many of sigmoid's derivatives
    # (about e^-|z|) fall below float32's smallest normal number, as in a saturated network.
    denormals = {
        "flushed": with_denormals(True, steps("sigmoid", SATURATING, fused=True)),
        "kept": with_denormals(False, steps("sigmoid", SATURATING, fused=True)),
    }
    title = "saturated sigmoid step, denormals flushed against kept"
    report(title, timings.interleaved(denormals, args.repeats, log=lambda _: None))


if __name__ == "__main__":
    main()
