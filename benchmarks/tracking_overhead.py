"""What MLflow's system metrics add to a training run's life: opening and closing a tracked run
(the project's `Tracker.run_scope`) with them on against off, in a throwaway SQLite store,
interleaved (on, off, on, off ...) over `--repeats` rounds after a warm-up; printed as the
median with its min-max, and the difference of medians.

    python -m benchmarks.tracking_overhead --repeats 7

The block inside each run holds `--hold` seconds (default 0: the fixed cost alone); with system
metrics on, MLflow starts its sampling thread at the start and joins it at the end. Not a test:
figures depend on the machine and its load.
"""

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.adapters import tracking
from pipeline.stages import timings


def one_run(tracker: tracking.Tracker, system_metrics: bool, hold: float) -> float:
    started = time.perf_counter()
    params = {"activation": "relu", "lr": "0.01"}
    with tracker.run_scope("train-relu", "train", params, {}, "", system_metrics=system_metrics):
        time.sleep(hold)
    return time.perf_counter() - started - hold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds after the warm-up (>= 5)")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds inside each run")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    with tempfile.TemporaryDirectory() as directory:
        uri = f"sqlite:///{Path(directory) / 'mlflow.db'}"
        with tracking.using_store(uri):
            tracker = tracking.Tracker("overhead", uri)
            measures = {
                label: functools.partial(one_run, tracker, label == "on", args.hold)
                for label in ("on", "off")
            }
            times = timings.interleaved(measures, args.repeats, log=lambda _: None)
    print(f"a run opened and closed, {args.repeats} interleaved rounds after a warm-up, s")
    for label, values in times.items():
        label = f"system metrics {label}"
        median = statistics.median(values)
        print(f"  {label:<20} {median:.3f}  [{min(values):.3f}-{max(values):.3f}]")
    added = statistics.median(times["on"]) - statistics.median(times["off"])
    print(f"  on - off: {added:+.3f} s a run (difference of medians)")


if __name__ == "__main__":
    main()
