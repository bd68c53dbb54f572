"""Time of one optimizer step: StackedOptimizer over K slices against K lone torch.optim steps.

The params have the MLP's shapes (784-512-256-256-128-10, 632k per model): a stack holds
weights `[K, in, out]` and biases `[K, 1, out]`, the lone models `[out, in]` and `[out]`, each
stepped by `lone_optimizer` (torch.optim's fused CPU kernel). Every slice has its own lr; the
gradients are random and fixed. Each side is timed by the process's CPU seconds over --steps
steps, after warm-up steps that create the state; the table shows the median of --rounds, per
step. With one thread (the default) CPU time is the figure to trust on a shared machine.

    python -m benchmarks.stacked_optimizers                     # K = 1, 5, 30; sgd and adam
    python -m benchmarks.stacked_optimizers --k 5 --kinds adamw --rounds 9
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from pipeline.core.network.model import build_model
from pipeline.stages.optimizers import OptimizerSettings, StackedOptimizer, lone_optimizer

WARMUP_STEPS = 3


def settings_for(kind: str, k: int) -> list[OptimizerSettings]:
    """K slices of `kind`, learning rates spread over a decade; SGD with momentum 0.9."""
    lrs = [0.01 * 10 ** (i / max(k - 1, 1)) for i in range(k)]
    if kind == "sgd":
        return [OptimizerSettings("sgd", lr, momentum=0.9) for lr in lrs]
    decay = 0.01 if kind == "adamw" else 0.0
    return [OptimizerSettings(kind, lr / 10, weight_decay=decay) for lr in lrs]


def shapes() -> list[tuple[int, ...]]:
    """Per model, in the stack's layout: `(in, out)` weights and `(1, out)` biases."""
    found = []
    for layer in build_model("relu", seed=0).linear_layers().values():
        found += [tuple(layer.weight.t().shape), (1, layer.bias.shape[0])]
    return found


def stacked_step(kind: str, k: int) -> Callable[[], None]:
    params = [torch.randn(k, *shape) for shape in shapes()]
    grads = [torch.randn_like(p) for p in params]
    optimizer = StackedOptimizer(settings_for(kind, k))
    return lambda: optimizer.step(params, grads)


def lone_steps(kind: str, k: int) -> Callable[[], None]:
    optimizers = []
    for settings in settings_for(kind, k):
        params = [nn.Parameter(torch.randn(shape[::-1]).squeeze(-1)) for shape in shapes()]
        for p in params:
            p.grad = torch.randn_like(p)
        optimizers.append(lone_optimizer(params, settings, "cpu"))

    def step() -> None:
        for optimizer in optimizers:
            optimizer.step()

    return step


def seconds_per_step(step: Callable[[], None], steps: int, rounds: int) -> float:
    for _ in range(WARMUP_STEPS):
        step()
    timings = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(steps):
            step()
        timings.append((time.process_time() - started) / steps)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="1,5,30", help="stack sizes, comma-separated")
    parser.add_argument("--kinds", default="sgd,adam", help="of sgd, adam, adamw")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU ms per step (median)\n")
    print("| optimizer | K | stacked ms | K lone ms | stacked / lone |")
    print("|---|---|---|---|---|")
    for kind in args.kinds.split(","):
        for k in (int(value) for value in args.k.split(",")):
            stacked = seconds_per_step(stacked_step(kind, k), args.steps, args.rounds)
            lone = seconds_per_step(lone_steps(kind, k), args.steps, args.rounds)
            print(
                f"| {kind} | {k} | {1e3 * stacked:.2f} | {1e3 * lone:.2f} | {stacked / lone:.2f} |"
            )


if __name__ == "__main__":
    main()
