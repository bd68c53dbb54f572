"""How long the replicate phase must train: accuracy against epoch on the real Fashion-MNIST.

Each seed trains the six seed activations, each at the learning rate the default grid picks for
it, as one stack (`training.train_stacked`) for `--epochs` epochs without early stopping, and
records every epoch's validation and test accuracy (the test pass is this script's, once an
epoch; the pipeline tests only the best epoch). From the curves, `--analyse` replays the
pipeline's early stopping for each (max_epochs, patience) and prints the test accuracy of the
epoch it would keep, the epochs it would train, and where validation accuracy stops rising.

    python -m benchmarks.replicate_budget --seeds 43,44,45 --epochs 30 --out budget.json
    python -m benchmarks.replicate_budget --analyse budget.json

The accuracies do not depend on the machine's load; the epoch times do. Not a test.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from pipeline.core import data
from pipeline.core.config import TrainConfig
from pipeline.core.device import configure_torch
from pipeline.stages import training
from pipeline.stages.stacked import StackedEngine

# Each activation's learning rate as the default grid chose it (README, 2026-11-29).
BEST_LR = {
    "sigmoid": 0.3,
    "tanh": 0.03,
    "relu": 0.01,
    "leakyrelu": 0.03,
    "elu": 0.03,
    "swish": 0.03,
}
POLICIES = [(e, p) for e in (13, 15, 20, 25, 30) for p in (3, 5, 8, 30)]


class TestEachEpoch:
    """The stacked engine, its validation pass followed by a test pass on the same weights."""

    def __init__(self, engine: StackedEngine, splits: data.Splits):
        self.engine, self.splits = engine, splits
        self.test_acc: dict[int, list[float]] = {t: [] for t in range(len(engine.models))}

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor):
        losses, accuracies = self.engine.evaluate(x, y)
        _, tests = self.engine.evaluate(self.splits.test_x, self.splits.test_y)
        for trial, accuracy in zip(self.engine.running, tests, strict=True):
            self.test_acc[trial].append(accuracy)
        return losses, accuracies


def curves(seed: int, epochs: int) -> dict:
    """Per activation: val_acc and test_acc of every epoch, and the stack's epoch times."""
    splits = data.load_splits(seed=seed)
    configs = [
        TrainConfig(activation=a, lr=lr, seed=seed, max_epochs=epochs, patience=epochs)
        for a, lr in BEST_LR.items()
    ]
    engine = TestEachEpoch(StackedEngine(configs, splits, cuda_graphs=False), splits)
    started = time.process_time()
    results = training.fit(engine, configs[0], splits, None, True, f"seed {seed}")
    cpu_s = time.process_time() - started
    return {
        config.activation: {
            "val_acc": [m.val_acc for m in result.history],
            "test_acc": engine.test_acc[index],
            "epoch_time_s": [m.epoch_time_s for m in result.history],
            "stack_cpu_s": cpu_s,
        }
        for index, (config, result) in enumerate(zip(configs, results, strict=True))
    }


def kept_epoch(val_acc: list[float], max_epochs: int, patience: int) -> tuple[int, int]:
    """(best epoch, epochs trained) under the pipeline's early stopping (training.EpochBook)."""
    best, best_value, waited = 0, -1.0, 0
    for epoch, value in enumerate(val_acc[:max_epochs], start=1):
        if value > best_value:
            best, best_value, waited = epoch, value, 0
        else:
            waited += 1
            if waited >= patience:
                return best, epoch
    return best, min(max_epochs, len(val_acc))


def analyse(runs: dict) -> None:
    """Mean test accuracy (%) and epochs trained per policy and activation, over the seeds."""
    activations = list(next(iter(runs.values())))
    print("policy (max_epochs, patience): mean test acc % / mean epochs trained, per activation")
    print("| max, patience | " + " | ".join(activations) + " | epochs, all |")
    for max_epochs, patience in POLICIES:
        cells, total = [], 0
        for activation in activations:
            accs, spent = [], []
            for seed_runs in runs.values():
                run = seed_runs[activation]
                best, trained = kept_epoch(run["val_acc"], max_epochs, patience)
                accs.append(100 * run["test_acc"][best - 1])
                spent.append(trained)
            total += sum(spent)
            cells.append(f"{statistics.mean(accs):.2f} / {statistics.mean(spent):.1f}")
        print(f"| {max_epochs}, {patience} | " + " | ".join(cells) + f" | {total} |")
    print("\nepoch of the best validation accuracy within 30 (per seed):")
    for activation in activations:
        bests = [
            max(range(len(r[activation]["val_acc"])), key=r[activation]["val_acc"].__getitem__) + 1
            for r in runs.values()
        ]
        print(f"  {activation}: {bests}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="43,44,45")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("reports/replicate_budget.json"))
    parser.add_argument("--analyse", type=Path, help="print the policies of a saved run")
    args = parser.parse_args()
    if args.analyse:
        analyse(json.loads(args.analyse.read_text()))
        return
    configure_torch(torch.device("cpu"), args.threads)
    runs = json.loads(args.out.read_text()) if args.out.exists() else {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        if str(seed) not in runs:  # a rerun carries on where a killed one stopped
            runs[str(seed)] = curves(seed, args.epochs)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(runs))
    analyse(runs)


if __name__ == "__main__":
    main()
