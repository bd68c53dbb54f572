"""The seed's whole table (six activations, lr 1e-3, 13 epochs) trained as one stack of six.

The target is the table in <= 2 s of training on a GPU (docs/performance.md, Stacked trials).
`pipeline bench --seed-table` times the same six runs one after another (`seed_table` in
bench.json); this trains them at once with `stacked.train_stacked`, after a one-epoch stack that
warms up the device (CUDA context, cuBLAS, a first graph capture). Timed from the call to the
synchronised end: graph capture, validation and the test set are in it, loading the data is not.

    python -m benchmarks.seed_table_stacked --device cuda

The last line is `seed_table_stacked_s=<seconds>` for benchmarks/gpu_check.sh to read.
"""

import argparse
import time

from pipeline.core.dataset import data
from pipeline.core.process.device import configure_torch, resolve_device
from pipeline.stages import training
from pipeline.stages.timings import SEED_TABLE_CONFIGS, synchronize


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--data-dir", help="default: $FASHION_MNIST_DIR, data/, Debian's")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    configure_torch(device)
    configs = SEED_TABLE_CONFIGS
    splits = data.load_splits(args.data_dir, device=device, seed=configs[0].seed)
    warm_up = [config.replace(max_epochs=1) for config in configs]
    training.train_stacked(warm_up, splits, progress=False)
    synchronize(device)
    started = time.perf_counter()
    results = training.train_stacked(configs, splits, progress=False)
    synchronize(device)
    total = time.perf_counter() - started
    epochs = results[0].history
    alone = sum(epoch.epoch_time_s for epoch in epochs)
    print(f"The seed's table as one stack of 6 on {device.type}: {total:.2f} s")
    print(f"({len(epochs)} epochs, {alone:.2f} s of them in the epochs themselves)\n")
    print("| activation | test acc % | best epoch |\n|---|---|---|")
    for config, result in zip(configs, results, strict=True):
        print(f"| {config.activation} | {100 * result.test_acc:.2f} | {result.best_epoch} |")
    print(f"seed_table_stacked_s={total:.3f}")


if __name__ == "__main__":
    main()
