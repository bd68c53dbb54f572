"""How many trials per second a study storage sustains, with N worker processes and no training.

Each process does what `python -m pipeline worker` does with the storage for one trial, in the
same order and through the same functions (`pipeline.adapters.studies`), with the
training taken out:
fail stale trials, claim a queued trial, start the heartbeat, suggest the two fixed params,
set the MLflow run id, report one value per epoch and ask the study's pruner, set the stop
reason, tell, then read the finished count and best value for the progress bar. The queue holds
`--trials` grid points, as `make sweep` leaves it. Nothing is logged to MLflow.

    python -m benchmarks.storage_throughput                   # SQLite, journal, PostgreSQL
    python -m benchmarks.storage_throughput --storage postgresql://me@db/optuna --processes 3

Without --storage, PostgreSQL is a throwaway cluster started for the run (tests/services.py);
SQLite and the journal file live in a temporary directory. Not a test: numbers depend on the
machine. Results for this project's machine are in the README ("Running on several machines").
"""

import argparse
import contextlib
import itertools
import multiprocessing
import queue
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from pipeline.adapters import studies
from pipeline.core.network.activations import NAMES
from pipeline.core.process.urls import label
from pipeline.core.schema.sweep_config import SweepConfig


@dataclass
class WorkerReport:
    trials: int
    started: float
    finished: float
    connections: int  # database connections the process opened (SQLAlchemy's pool)


def benchmark_config(url: str, study: str, epochs: int, trials: int) -> SweepConfig:
    """The default study's pruning (median per activation after 3 warm-up epochs), and a grid
    of `trials` points: every activation at trials / 10 learning rates."""
    lrs = [round(1e-3 * (1 + index), 6) for index in range(-(-trials // len(NAMES)))]
    values = {"study": study, "storage": url, "max_epochs": epochs, "pruner": "median"}
    return SweepConfig.from_mapping({**values, "activations": list(NAMES), "lr": lrs})


def nothing_to_close(run_id: str | None, why: str) -> None:
    """The storage side of a worker only: no MLflow run is orphaned."""


def prepare(config: SweepConfig) -> None:
    """A new study with its grid queued, as `make sweep` leaves it."""
    study = studies.Study(config, create=True, on_orphan=nothing_to_close)
    studies.queue_missing(study)


def one_trial(study: studies.Study, epochs: int) -> bool:
    """One worker iteration, storage calls only (as in jobs.worker.work and run_trial)."""
    claimed = studies.claim(study)  # stale-trial check included
    if not claimed:
        return False
    trial = claimed[0]
    with studies.heartbeat(study, trial):
        study.suggest_point(trial)
        trial.set_user_attr("mlflow_run_id", f"run-{trial.number}")
        for epoch in range(1, epochs + 1):
            trial.report(0.5 + 0.01 * epoch + 1e-4 * trial.number, epoch)
            if trial.should_prune():
                break
        trial.set_user_attr("stop_reason", "max_epochs")
        study.tell(trial, "COMPLETE", 0.5 + 1e-4 * trial.number)
    studies.finished_count(study)
    studies.best_value(study)
    return True


def worker(config: SweepConfig, ready, go, reports) -> None:
    studies.configure_logging()  # a fresh interpreter, as `python -m pipeline worker` sets it
    study = studies.Study(config, create=False, on_orphan=nothing_to_close)
    ready.put(True)
    go.wait()
    started, done = time.perf_counter(), 0
    while one_trial(study, config.train.max_epochs):
        done += 1
    finished = time.perf_counter()
    engine = getattr(study.storage, "engine", None)
    connections = engine.pool.size() + engine.pool.overflow() if engine is not None else 0
    reports.put(WorkerReport(done, started, finished, connections))


def measure(config: SweepConfig, processes: int, trials: int) -> dict:
    prepare(config)
    trials = len(config.grid)
    context = multiprocessing.get_context("spawn")  # fresh interpreters, like separate machines
    ready, reports, go = context.Queue(), context.Queue(), context.Event()
    children = [
        context.Process(target=worker, args=(config, ready, go, reports)) for _ in range(processes)
    ]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=300)  # every process imported and connected: time only the trials
        commits_before = server_commits(config.storage)
        go.set()
        results = [collect(reports, children) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    commits = server_commits(config.storage) - commits_before if commits_before >= 0 else None
    wall = max(r.finished for r in results) - min(r.started for r in results)
    done = sum(r.trials for r in results)
    assert done == trials, f"{done} trials ran, {trials} were queued"
    return {
        "storage": label(config.storage).split(":")[0],
        "processes": processes,
        "trials": done,
        "wall_s": wall,
        "trials_per_s": done / wall,
        "per_process": [r.trials for r in results],
        "connections": max(r.connections for r in results),
        "commits_per_trial": None if commits is None else commits / done,
    }


def server_commits(url: str) -> int:
    """Transactions PostgreSQL has committed in the study's database (-1 for other storages)."""
    if not url.startswith("postgresql"):
        return -1
    import psycopg

    time.sleep(1.0)  # backends publish their statistics at most once a second (and on exit)
    with psycopg.connect(url) as db:
        query = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        return db.execute(query).fetchone()[0]


def collect(reports, children) -> WorkerReport:
    """The next report; an error if a process died without one."""
    while True:
        with contextlib.suppress(queue.Empty):
            return reports.get(timeout=1)
        if any(child.exitcode not in (None, 0) for child in children):
            raise RuntimeError("a benchmark process failed (its traceback is above)")


def storages(args: argparse.Namespace, stack: ExitStack, scratch: Path) -> list[str]:
    """Storage URLs; `{n}` in a file name gives each measurement a fresh file."""
    if args.storage:
        return args.storage
    urls = [f"sqlite:///{scratch}/study-{{n}}.db", f"journal://{scratch}/study-{{n}}.journal"]
    try:
        from tests.services import ServiceUnavailable, throwaway_postgres

        urls.append(stack.enter_context(throwaway_postgres(("optuna",))).url("optuna"))
    except (ImportError, ServiceUnavailable) as reason:
        print(f"PostgreSQL left out: {reason}")
    return urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", action="append", help="storage URL (repeatable)")
    parser.add_argument("--processes", default="1,3", help="comma-separated process counts")
    parser.add_argument("--trials", type=int, default=300, help="queued trials per measurement")
    parser.add_argument("--epochs", type=int, default=13, help="reports per trial (13: default)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per setting")
    args = parser.parse_args()
    studies.configure_logging()
    counts = [int(n) for n in args.processes.split(",")]
    measurements = itertools.count(int(time.time()))
    print(f"{args.trials} queued trials, {args.epochs} reports each, median of {args.repeats}")
    print(
        "| storage | processes | trials/s | s per trial per process | connections/process "
        "| commits/trial |"
    )
    print("|---|---|---|---|---|---|")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        for url in storages(args, stack, Path(scratch)):
            for processes in counts:
                runs = []
                for _ in range(args.repeats):
                    # A new study each time (and a new file for file storages): equal starts.
                    n = next(measurements)
                    config = benchmark_config(
                        url.format(n=n), f"benchmark-{n}", args.epochs, args.trials
                    )
                    runs.append(measure(config, processes, args.trials))
                rate = statistics.median(r["trials_per_s"] for r in runs)
                commits = runs[0]["commits_per_trial"]
                print(
                    f"| {runs[0]['storage']} | {processes} | {rate:.1f} | "
                    f"{processes / rate:.3f} | {runs[0]['connections']} | "
                    f"{'' if commits is None else f'{commits:.0f}'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
