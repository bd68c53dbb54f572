"""Accuracy of bf16-mixed against fp32 at the seed's settings (ReLU, SGD lr 1e-3 momentum 0.9,
batch 64, 13 epochs, patience 13 as the seed's table in `make bench`), over several seeds.

Each seed trains once per precision, the two in turn (fp32, bf16-mixed, next seed ...), so a
slow spell of a shared machine falls on both alike. Reported per precision: the mean ± standard
deviation over the seeds of the best validation accuracy, with its min-max, and the test
accuracy of that epoch's weights; then the paired difference (bf16-mixed - fp32, same seed), and
whether the difference of the means lies within the seeds' spread (below the larger standard
deviation of the two). Epoch times are the runs' median epoch, for scale only.

    python -m benchmarks.precision_parity --seeds 5 --out reports/precision-parity.txt

With `--step-rounds N` it also times the training step, as `make bench` does (the lone
engine's step in each precision at batch 64 and 256, taking turns, N rounds after a warm-up):

    python -m benchmarks.precision_parity --step-rounds 9 --seeds 0 --threads 1

Not a test: the figures depend on the machine (bf16 arithmetic differs with and without AMX).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from pipeline.core.dataset import data
from pipeline.core.process.device import configure_torch, resolve_device
from pipeline.core.process.files import atomic_write_text
from pipeline.core.schema.config import PRECISIONS
from pipeline.jobs import bench
from pipeline.stages import training
from pipeline.stages.bench_report import Bench
from pipeline.stages.timings import CONFIG, SEED_TABLE_CONFIGS

SEED_RELU = next(c for c in SEED_TABLE_CONFIGS if c.activation == "relu")
FIRST_SEED = SEED_RELU.seed  # the seed's table's; the next seeds follow it


def train_all(seeds: int, epochs: int, device_name: str, data_dir: str | None) -> dict:
    """{precision: [(best val acc, test acc, median epoch s), one per seed]}."""
    device = resolve_device(device_name)
    configure_torch(device)
    found: dict[str, list[tuple[float, float, float]]] = {p: [] for p in PRECISIONS}
    for seed in range(FIRST_SEED, FIRST_SEED + seeds):
        splits = data.load_splits(data_dir, device=device, seed=seed)
        for precision in PRECISIONS:
            config = SEED_RELU.replace(
                seed=seed, precision=precision, max_epochs=epochs, patience=epochs
            )
            result = training.train(config, splits, progress=False)
            epoch_s = statistics.median(e.epoch_time_s for e in result.history)
            found[precision].append((result.best_val_acc, result.test_acc, epoch_s))
    return found


def spread(values: list[float]) -> str:
    """`mean ± std [min-max]` in percent."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    mean = statistics.mean(values)
    return f"{100 * mean:.2f} ± {100 * std:.2f} [{100 * min(values):.2f}-{100 * max(values):.2f}]"


def report(found: dict, epochs: int) -> list[str]:
    seeds = len(found["fp32"])
    lines = [
        f"relu, SGD lr {SEED_RELU.lr:g} momentum {SEED_RELU.momentum:g}, batch "
        f"{SEED_RELU.batch_size}, {epochs} epochs (patience {epochs}), seeds {FIRST_SEED}-"
        f"{FIRST_SEED + seeds - 1}; accuracies in %, mean ± std over the seeds [min-max]",
        "",
        "| precision | best val_acc | test_acc at that epoch | median epoch (s) |",
        "|---|---|---|---|",
    ]
    for precision, rows in found.items():
        val, test, epoch_s = zip(*rows, strict=True)
        lines.append(
            f"| {precision} | {spread(list(val))} | {spread(list(test))} | "
            f"{statistics.median(epoch_s):.2f} |"
        )
    val = {p: [row[0] for row in rows] for p, rows in found.items()}
    paired = [b - a for a, b in zip(val["fp32"], val["bf16-mixed"], strict=True)]
    gap = statistics.mean(val["bf16-mixed"]) - statistics.mean(val["fp32"])
    widest = max(statistics.stdev(v) if len(v) > 1 else 0.0 for v in val.values())
    within = "within" if abs(gap) <= widest else "outside"
    lines += [
        "",
        f"bf16-mixed - fp32 in best val_acc, per seed (points): "
        f"{', '.join(f'{100 * d:+.2f}' for d in paired)}",
        f"difference of the means {100 * gap:+.2f} points: {within} the seeds' spread "
        f"(the larger std over seeds, {100 * widest:.2f} points)",
    ]
    return lines


def step_lines(rounds: int, threads: int, device_name: str, data_dir: str | None) -> list[str]:
    """`make bench`'s step rows (bench.precision_figures) measured alone; on a CPU with
    `threads` threads (one by default: a thread that shares its core with another process's
    work stalls every step it takes part in, and this host is shared)."""
    device = resolve_device(device_name)
    settings = configure_torch(device, threads)
    splits = data.load_splits(data_dir, device=device, seed=CONFIG.seed)
    figures = bench.precision_figures(splits, rounds, log=lambda _: None)
    threads = settings.get("threads", "all")
    return [
        f"training step (relu, SGD lr {CONFIG.lr:g}), {device.type}, {threads} thread(s): "
        f"medians of {rounds} interleaved rounds after a warm-up, the ratio's min-max over rounds",
        *Bench(device.type, 0, rounds, figures).precision_rows(),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per precision (>= 2, or 0)")
    parser.add_argument("--step-rounds", type=int, default=0, help="also time the step (>= 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the step timing")
    parser.add_argument("--epochs", type=int, default=SEED_RELU.max_epochs, help="epochs a run")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--data-dir", help="default: $FASHION_MNIST_DIR, data/, Debian's")
    parser.add_argument("--out", type=Path, help="also write the report here, dated")
    args = parser.parse_args(argv)
    if args.seeds == 1 or args.seeds < 0:
        parser.error("--seeds must be 0 or at least 2: a spread needs two")
    if args.step_rounds and args.step_rounds < 3:
        parser.error("--step-rounds must be 0 or at least 3")
    lines = []
    if args.seeds:  # before the step timing: the runs train with all cores, as `make train`
        found = train_all(args.seeds, args.epochs, args.device, args.data_dir)
        lines += [*report(found, args.epochs), ""]
    if args.step_rounds:
        lines += step_lines(args.step_rounds, args.threads, args.device, args.data_dir)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        given = sys.argv[1:] if argv is None else argv
        command = " ".join(["python -m benchmarks.precision_parity", *given])
        atomic_write_text(args.out, f"{stamp}: {command}\n{text}")


if __name__ == "__main__":
    main()
