"""How long the replicates must train, decided on validation accuracy alone.

Each design seed trains the six seed activations, each at the learning rate the default grid
picks for it, as one stack (`training.train_stacked`) for `--epochs` epochs without early
stopping, and records every epoch's validation accuracy. An activation whose lr the grid's
choice has changed since its runs were saved is trained again (`--activations` names some).
No test image is evaluated: the protocol is chosen without the test set, on seeds the answer
does not use (the default sweep's `design_seeds`, 43-45).

With `--schedule constant` (the held lr), `--analyse` replays the pipeline's early stopping for
each (max_epochs, patience) on the curves and prints the validation accuracy each would keep.
With `--schedule cosine` the lr depends on the budget (it decays to near 0 by the last epoch),
so each budget in `--epochs` (a comma list) is trained on its own, and `--analyse` prints per
budget each activation's validation accuracy over the seeds, the spread of the paired
differences between activations, and the seeds a paired t-test needs to find a given
difference after Holm's correction over the pairs (the number of seeds, chosen on validation).

    python -m benchmarks.replicate_budget --schedule cosine --epochs 5,6,8,12 --out cosine.json
    python -m benchmarks.replicate_budget --analyse cosine.json [more.json ...]

The accuracies do not depend on the machine's load; the epoch times do. Not a test.
"""

import argparse
import json
import math
import statistics
from itertools import combinations
from pathlib import Path

import torch
from scipy import stats

from pipeline.core.dataset import data
from pipeline.core.process.device import configure_torch
from pipeline.core.schema.config import TrainConfig
from pipeline.stages import training
from pipeline.stages.stacked import StackedEngine

# Each activation's learning rate as the default grid chose it (reports/activations/, seed 42).
BEST_LR = {
    "sigmoid": 0.3,
    "tanh": 0.03,
    "relu": 0.03,
    "leakyrelu": 0.03,
    "elu": 0.03,
    "swish": 0.1,
}
POLICIES = [(e, p) for e in (7, 13, 20, 30) for p in (3, 5, 10, 30)]
DIFFERENCES = (0.003, 0.005)  # differences (fractions) the seed counts are computed for
POWER, ALPHA, PAIRS = 0.8, 0.05, 15


def curves(seed: int, epochs: int, schedule: str, activations: list[str]) -> dict:
    """Per activation: its lr, val_acc of every epoch and the epoch times."""
    splits = data.load_splits(seed=seed)
    configs = [
        TrainConfig(
            activation=a,
            lr=BEST_LR[a],
            seed=seed,
            max_epochs=epochs,
            patience=epochs,
            lr_schedule=schedule,
        )
        for a in activations
    ]
    engine = StackedEngine(configs, splits, cuda_graphs=False)
    results = training.fit(engine, configs[0], splits, None, True, f"seed {seed}")
    return {
        config.activation: {
            "lr": config.lr,
            "val_acc": [m.val_acc for m in result.history],
            "epoch_time_s": [m.epoch_time_s for m in result.history],
        }
        for config, result in zip(configs, results, strict=True)
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
    """Mean best validation accuracy (%) and epochs trained per policy and activation."""
    activations = list(next(iter(runs.values())))
    print("policy (max_epochs, patience): mean val acc % / mean epochs trained, per activation")
    print("| max, patience | " + " | ".join(activations) + " | epochs, all |")
    trained = min(len(r[a]["val_acc"]) for r in runs.values() for a in r)
    for max_epochs, patience in [(e, p) for e, p in POLICIES if e <= trained]:
        cells, total = [], 0
        for activation in activations:
            accs, spent = [], []
            for seed_runs in runs.values():
                run = seed_runs[activation]
                best, trained = kept_epoch(run["val_acc"], max_epochs, patience)
                accs.append(100 * run["val_acc"][best - 1])
                spent.append(trained)
            total += sum(spent)
            cells.append(f"{statistics.mean(accs):.2f} / {statistics.mean(spent):.1f}")
        print(f"| {max_epochs}, {patience} | " + " | ".join(cells) + f" | {total} |")


def seeds_needed(spread: float, difference: float, alpha: float = ALPHA / PAIRS) -> int:
    """The fewest seeds at which a two-sided paired t-test at level `alpha` (Holm's first
    threshold) finds a true mean difference `difference` with probability POWER, given the
    spread (sd) of the paired differences (the noncentral t)."""
    for n in range(3, 1000):
        critical = stats.t.ppf(1 - alpha / 2, n - 1)
        power = stats.nct.sf(critical, n - 1, difference / spread * math.sqrt(n))
        if power >= POWER:
            return n
    return 1000


def budget_table(runs: dict) -> tuple[dict[str, list[float]], float]:
    """Per activation the best validation accuracy of each seed, and the median over pairs of
    the paired differences' spread."""
    activations = list(next(iter(runs.values())))
    values = {a: [max(r[a]["val_acc"]) for r in runs.values()] for a in activations}
    spreads = [
        statistics.stdev(x - y for x, y in zip(values[a], values[b], strict=True))
        for a, b in combinations(activations, 2)
    ]
    return values, statistics.median(spreads) if len(runs) > 1 else math.nan


def analyse_budgets(budgets: dict) -> None:
    """Per budget: mean (std) validation accuracy % per activation; the paired spread; seeds."""
    print("budget: val acc % mean (std over seeds) per activation; paired sd; seeds for 80% power")
    for budget, runs in sorted(budgets.items(), key=lambda item: int(item[0].split(", ")[1])):
        values, spread = budget_table(runs)
        cells = [
            f"{a} {100 * statistics.mean(v):.2f} ({100 * statistics.stdev(v):.2f})"
            for a, v in values.items()
        ]
        print(f"{budget}, seeds {', '.join(runs)}: " + ", ".join(cells))
        curves = [r[a]["val_acc"] for r in runs.values() for a in r]
        last = sum(max(range(len(c)), key=c.__getitem__) == len(c) - 1 for c in curves)
        print(f"  best validation epoch the last in {last} of {len(curves)} runs")
        if not math.isnan(spread):
            needed = ", ".join(f"{100 * d:g} points {seeds_needed(spread, d)}" for d in DIFFERENCES)
            print(f"  median sd of paired differences {100 * spread:.2f} points; seeds {needed}")


def merged(paths: list[Path]) -> dict:
    """Several saved files as one: a cosine file's budgets, or a constant file's seeds."""
    found: dict = {}
    for path in paths:
        for key, value in json.loads(path.read_text()).items():
            found.setdefault(key, {}).update(value)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="43,44,45")
    parser.add_argument("--activations", default=",".join(BEST_LR), help="a comma list")
    parser.add_argument("--epochs", default="30", help="a budget, or a comma list of them")
    parser.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("reports/replicate_budget.json"))
    parser.add_argument("--analyse", type=Path, nargs="+", help="print saved runs' policies")
    args = parser.parse_args()
    if args.analyse:
        found = merged(args.analyse)
        cosine = all(", " in key for key in found)
        (analyse_budgets if cosine else analyse)(found)
        return
    configure_torch(torch.device("cpu"), args.threads)
    saved = json.loads(args.out.read_text()) if args.out.exists() else {}
    for epochs in [int(e) for e in args.epochs.split(",")]:
        # a constant lr's file holds one run per seed; a schedule's, one per budget and seed
        runs = saved if args.schedule == "constant" else saved.setdefault(f"cosine, {epochs}", {})
        for seed in [int(s) for s in args.seeds.split(",")]:
            done = runs.setdefault(str(seed), {})
            todo = [
                a for a in args.activations.split(",") if done.get(a, {}).get("lr") != BEST_LR[a]
            ]
            if todo:  # a rerun carries on where a killed one stopped, or retrains a changed lr
                done.update(curves(seed, epochs, args.schedule, todo))
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(saved))
    (analyse if args.schedule == "constant" else analyse_budgets)(saved)


if __name__ == "__main__":
    main()
