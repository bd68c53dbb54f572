"""How long the replicate phase must train: accuracy against epoch on the real Fashion-MNIST.

Each seed trains the six seed activations, each at the learning rate the default grid picks for
it, as one stack (`training.train_stacked`) for `--epochs` epochs without early stopping, and
records every epoch's validation and test accuracy (the test pass is this script's, once an
epoch; the pipeline tests only the best epoch). From the curves, `--analyse` replays the
pipeline's early stopping for each (max_epochs, patience) and prints the test accuracy of the
epoch it would keep, the epochs it would train, and where validation accuracy stops rising.

With `--schedule cosine` the lr depends on the budget (it decays to near 0 by the last epoch),
so no cap can be replayed from a longer run: each budget in `--epochs` (a comma list) is trained
on its own, and `--analyse` prints the test accuracy of the epoch each keeps without early
stopping (patience = its epochs, as the default sweep's replicates train).

    python -m benchmarks.replicate_budget --seeds 43,44,45 --epochs 30 --out budget.json
    python -m benchmarks.replicate_budget --analyse budget.json
    python -m benchmarks.replicate_budget --schedule cosine --epochs 12,15 --out cosine.json

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

# Each activation's learning rate as the default grid chose it (reports/activations/,
# 2026-11-30; the grid of 2026-11-29 chose 0.01 for ReLU).
BEST_LR = {
    "sigmoid": 0.3,
    "tanh": 0.03,
    "relu": 0.03,
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


def curves(seed: int, epochs: int, schedule: str = "constant") -> dict:
    """Per activation: val_acc and test_acc of every epoch, and the stack's epoch times."""
    splits = data.load_splits(seed=seed)
    configs = [
        TrainConfig(
            activation=a,
            lr=lr,
            seed=seed,
            max_epochs=epochs,
            patience=epochs,
            lr_schedule=schedule,
        )
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


def analyse_budgets(budgets: dict) -> None:
    """Per budget of a schedule: mean (std) test accuracy % of the epoch kept, per activation."""
    print("budget (schedule, epochs): mean test acc % (std over seeds), per activation")
    for budget, runs in budgets.items():
        activations = list(next(iter(runs.values())))
        cells = []
        for activation in activations:
            accs = []
            for seed_runs in runs.values():
                run = seed_runs[activation]
                best, _ = kept_epoch(run["val_acc"], len(run["val_acc"]), len(run["val_acc"]))
                accs.append(100 * run["test_acc"][best - 1])
            spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
            cells.append(f"{activation} {statistics.mean(accs):.2f} ({spread:.2f})")
        print(f"{budget}, seeds {', '.join(runs)}: " + ", ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="43,44,45")
    parser.add_argument("--epochs", default="30", help="a budget, or a comma list of them")
    parser.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("reports/replicate_budget.json"))
    parser.add_argument("--analyse", type=Path, help="print the policies of a saved run")
    args = parser.parse_args()
    report = analyse if args.schedule == "constant" else analyse_budgets
    if args.analyse:
        report(json.loads(args.analyse.read_text()))
        return
    configure_torch(torch.device("cpu"), args.threads)
    saved = json.loads(args.out.read_text()) if args.out.exists() else {}
    seeds = [int(s) for s in args.seeds.split(",")]
    for epochs in [int(e) for e in args.epochs.split(",")]:
        # a constant lr's file holds one run per seed; a schedule's, one per budget and seed
        runs = (
            saved
            if args.schedule == "constant"
            else saved.setdefault(f"{args.schedule}, {epochs}", {})
        )
        for seed in seeds:
            if str(seed) not in runs:  # a rerun carries on where a killed one stopped
                runs[str(seed)] = curves(seed, epochs, args.schedule)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(saved))
    report(saved)


if __name__ == "__main__":
    main()
