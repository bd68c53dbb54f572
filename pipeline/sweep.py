"""Sweep: Optuna over activations x learning rates, and the only module that imports optuna.

The design is a grid: every activation is trained at the same learning rates, so each gets the same
budget and the comparison is paired lr by lr. The grid is put in the study's queue once, when the
study is prepared (before any worker starts); workers then only claim queued trials, so N workers on
one or many machines never run a point twice, and a rerun tops the queue up with the points that
have no finished trial yet (new points, interrupted or failed ones) and redoes nothing.

Each trial is a training run nested under the sweep's parent MLflow run, logged with the training
stage's names. A heartbeat marks a trial whose worker died as FAIL and queues a retry of it; its
orphaned MLflow run is closed as KILLED with a tag saying why.
"""

import contextlib
import fcntl
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState
from tqdm.auto import tqdm

from pipeline import data, train
from pipeline.activations import NAMES
from pipeline.config import SweepConfig, TrainConfig
from pipeline.errors import PipelineError, UsageError
from pipeline.tracking import Tracker, check_tracking_uri, tracking_uri, training_run
from pipeline.urls import label, redact, sqlalchemy_url

STORAGE_ENV = "OPTUNA_STORAGE"
SWEEPS_DIR = Path("sweeps")
# One wide lr distribution for every study, so sweeps with other grids stay comparable.
LR_BOUNDS = (1e-6, 1e3)
MAX_RETRIES = 3  # a trial whose worker keeps dying is not retried forever
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


# --- storage ------------------------------------------------------------------------------


def storage_url(config: SweepConfig) -> str:
    """`OPTUNA_STORAGE`, else the config's `storage`, else a SQLite file in sweeps/."""
    url = os.environ.get(STORAGE_ENV) or config.storage
    return url or f"sqlite:///{SWEEPS_DIR / config.study}.db"


def storage_kind(url: str) -> str:
    """ "rdb" or "journal"; a UsageError for any other URL (checked before anything is written)."""
    scheme = urlparse(url).scheme.split("+")[0]
    if scheme in ("sqlite", "postgresql", "postgres", "mysql"):
        return "rdb"
    if scheme == "journal" or (not scheme and url.endswith((".journal", ".log"))):
        return "journal"
    raise UsageError(
        f"study storage {redact(url)!r} has an unknown scheme; use sqlite:///PATH, "
        "postgresql://USER@HOST/DB, or journal://PATH for Optuna's journal file"
    )


def storage_file(url: str) -> Path | None:
    """The local file behind a SQLite or journal URL; None for a database server."""
    if storage_kind(url) == "journal":
        return Path(url.removeprefix("journal://"))
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return None


# A server that does not answer fails in this many seconds, not after the OS's TCP timeout.
CONNECT_TIMEOUT_S = 10


def _engine_kwargs(url: str) -> dict | None:
    if url.startswith("sqlite"):
        return None
    # pre-ping: a worker idle for a long trial finds its pooled connection closed by the server
    # (or a restarted one) and reconnects instead of failing the tell.
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}


def open_storage(url: str, heartbeat_interval: int, on_stale=None) -> BaseStorage:
    """RDB storage (SQLite, PostgreSQL, MySQL) with heartbeats, or a journal file (no heartbeat)."""
    path = storage_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if storage_kind(url) == "journal":
        return JournalStorage(JournalFileBackend(str(path)))
    try:
        return RDBStorage(
            sqlalchemy_url(url),
            engine_kwargs=_engine_kwargs(url),
            heartbeat_interval=heartbeat_interval,
            grace_period=2 * heartbeat_interval,
            heartbeat_stale_trial_callback=on_stale,
        )
    except ImportError as error:  # Optuna wraps the driver's ModuleNotFoundError
        raise PipelineError(
            f"study storage {redact(url)} needs its database driver ({error.__cause__}); for "
            "PostgreSQL install the [postgres] extra: pip install -e '.[postgres]'"
        ) from None
    except Exception as error:  # sqlalchemy's errors carry the driver's reason
        reason = str(error).splitlines()[0]
        raise PipelineError(f"study storage {redact(url)} is unreachable: {reason}") from None


def has_heartbeat(storage: BaseStorage) -> bool:
    return isinstance(storage, RDBStorage)


@contextlib.contextmanager
def local_lock(url: str) -> Iterator[None]:
    """One process at a time creates, prepares, or moves trials between states in a study kept
    in a local file (SQLite, journal): a lock file beside it (one machine, as SQLite itself).

    SQLite ignores SELECT ... FOR UPDATE, so two processes can both read a queued trial as
    WAITING and both move it to RUNNING (optuna#4002), or both fail one stale trial and queue two
    retries of it. PostgreSQL and MySQL lock the row, so they need no lock file.
    """
    path = storage_file(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock:  # closing the file releases the lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- the pruner ---------------------------------------------------------------------------


class PerActivationMedianPruner(optuna.pruners.BasePruner):
    """Median pruning among trials of the same activation only.

    Optuna's MedianPruner compares a trial with every other; here a slow starter such as sigmoid
    is only compared with sigmoid, so pruning cannot decide the comparison it is meant to speed up.
    """

    def __init__(self, warmup_epochs: int, reference_lr: float | None = None):
        self.warmup_epochs = warmup_epochs
        self.reference_lr = reference_lr

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step <= self.warmup_epochs:
            return False
        if self.reference_lr is not None and trial.params.get("lr") == self.reference_lr:
            return False
        activation = trial.params.get("activation")
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.params.get("activation") == activation and step in t.intermediate_values
        ]
        if not peers:
            return False
        return max(trial.intermediate_values.values()) < statistics.median(peers)


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    return PerActivationMedianPruner(config.pruner_warmup_epochs, config.reference_lr)


# --- the study ----------------------------------------------------------------------------


@dataclass
class Sweep:
    config: SweepConfig
    storage: BaseStorage
    study: optuna.Study
    tracker: Tracker

    @property
    def parent_run_id(self) -> str:
        return self.study.user_attrs["mlflow_parent_run_id"]


def _point(trial: FrozenTrial) -> tuple[str, float] | None:
    """The (activation, lr) of a trial; a queued trial has them only as fixed params."""
    params = trial.params or trial.system_attrs.get("fixed_params", {})
    if "activation" not in params or "lr" not in params:
        return None
    return params["activation"], float(params["lr"])


def _close_orphan(tracker: Tracker, trial: FrozenTrial, why: str) -> None:
    run_id = trial.user_attrs.get("mlflow_run_id")
    if run_id and tracker.client.get_run(run_id).info.status == "RUNNING":
        tracker.set_tags(run_id, {"stop_reason": why, "trial_state": "FAIL"})
        tracker.end_run(run_id, "KILLED")


def _stale_callback(experiment: str):
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)

    def on_stale(study: optuna.Study, trial: FrozenTrial) -> None:
        # The tracker is made here, when needed: the storage opens before MLflow is written to.
        _close_orphan(Tracker(experiment), trial, "orphaned: its worker stopped sending heartbeats")
        retry(study, trial)

    return on_stale


def _no_study(config: SweepConfig, url: str) -> PipelineError:
    return PipelineError(
        f"study {config.study!r} does not exist in {redact(url)}; create it once, on one "
        f"machine, with `make sweep SWEEP=<config>` (it queues the trials), then start "
        f"`make worker SWEEP=<config>` on the others"
    )


def open_sweep(config: SweepConfig, create: bool, data_digest: str | None = None) -> Sweep:
    """Connect to the study (creating it, its MLflow parent run and its queue when `create`).

    Both stores are checked before either is written: a tracking server that does not answer, a
    storage that cannot be reached, or (for a worker) a study that does not exist yet is one
    error, and nothing is left behind in MLflow or the storage.
    """
    url = storage_url(config)
    storage_kind(url)
    check_tracking_uri(tracking_uri(), create=False)
    local_file = storage_file(url)
    if not create and local_file is not None and not local_file.exists():
        raise _no_study(config, url)  # and do not create an empty database file on the way
    # Creation holds the study's lock: two processes creating the same new SQLite database at
    # once fail (MLflow's and Optuna's alike), and two preparations would queue the grid twice.
    with local_lock(url) if create else contextlib.nullcontext():
        storage = open_storage(url, config.heartbeat_interval, _stale_callback(config.experiment))
        sampler = optuna.samplers.RandomSampler(seed=config.train.seed)  # unused: all is queued
        try:
            if create:
                study = optuna.create_study(
                    study_name=config.study,
                    storage=storage,
                    direction="maximize",
                    load_if_exists=True,
                    sampler=sampler,
                    pruner=make_pruner(config),
                )
            else:
                study = optuna.load_study(
                    study_name=config.study,
                    storage=storage,
                    sampler=sampler,
                    pruner=make_pruner(config),
                )
        except KeyError:
            raise _no_study(config, url) from None
        if not create and "mlflow_parent_run_id" not in study.user_attrs:
            raise PipelineError(
                f"study {config.study!r} is not prepared (it has no MLflow parent run yet); "
                "`make sweep SWEEP=<config>` prepares it: start workers once it has"
            )
        sweep = Sweep(config, storage, study, Tracker(config.experiment))
        if create:
            _prepare(sweep, data_digest)
    return sweep


def _prepare(sweep: Sweep, data_digest: str | None) -> None:
    """The parent run (created once, reopened on reruns) and the queue, topped up."""
    config, study, tracker = sweep.config, sweep.study, sweep.tracker
    if data_digest:
        check_same_data(study, data_digest, "this machine's")
    parent = study.user_attrs.get("mlflow_parent_run_id")
    if parent is None:
        parent = tracker.start_run(
            f"sweep-{config.study}",
            "sweep",
            params={
                "study": config.study,
                "activations": ",".join(config.activations),
                "pruner": config.pruner,
                "storage": label(storage_url(config)),
                **{k: v for k, v in config.train.params().items() if k not in ("activation", "lr")},
            },
            tags={"sweep": config.study},
            description=f"sweep {config.study}: {len(config.activations)} activations x "
            f"{len(config.lrs)} learning rates on Fashion-MNIST, one nested run "
            f"per Optuna trial",
        )
        study.set_user_attr("mlflow_parent_run_id", parent)
    else:
        tracker.client.update_run(parent, status="RUNNING")
    tracker.set_tags(parent, {"lrs": ",".join(f"{lr:g}" for lr in config.lrs)})

    if has_heartbeat(sweep.storage):  # open_sweep holds the study's lock around all of this
        optuna.storages.fail_stale_trials(study)
    else:  # a journal file has no heartbeats: a RUNNING trial at start-up is an orphan
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            _close_orphan(tracker, trial, "orphaned: found RUNNING when the sweep restarted")
            sweep.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    for activation, lr in missing_points(study, config.grid):
        study.enqueue_trial({"activation": activation, "lr": lr})


def missing_points(study: optuna.Study, grid: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Grid points with no finished, running or queued trial, largest lr first across all
    activations: fast learners finish early and give the pruner its references sooner."""
    taken = {
        _point(t)
        for t in study.get_trials(deepcopy=False)
        if t.state in (*FINISHED, TrialState.RUNNING, TrialState.WAITING)
    }
    order = sorted(grid, key=lambda point: (-point[1], grid.index(point)))
    return [point for point in order if point not in taken]


def check_same_data(study: optuna.Study, digest: str, whose: str) -> None:
    """Every machine of a study trains on the same files: the first to come records their
    digest (a study attribute), the others must match it."""
    recorded = study.user_attrs.get("data_digest")
    if recorded is None:
        study.set_user_attr("data_digest", digest)
    elif recorded != digest:
        raise PipelineError(
            f"{whose} Fashion-MNIST (sha256 {digest[:12]}) differs from the one study "
            f"{study.study_name!r} trains on (sha256 {recorded[:12]}); give every machine the "
            "same files (Debian's dataset-fashion-mnist, --data-dir or FASHION_MNIST_DIR)"
        )


# --- a worker -----------------------------------------------------------------------------


def claim_next_trial(sweep: Sweep) -> optuna.Trial | None:
    """Fail trials whose worker died (queuing their retries), then take one queued trial, or
    None. Atomic: where workers race for one trial, the storage (or the lock) lets one win."""
    with local_lock(storage_url(sweep.config)):
        if has_heartbeat(sweep.storage):
            optuna.storages.fail_stale_trials(sweep.study)
        for trial in sweep.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            try:
                if sweep.storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
                    return optuna.Trial(sweep.study, trial._trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
    return None


@contextlib.contextmanager
def heartbeat(storage: BaseStorage, trial_id: int) -> Iterator[None]:
    """Record a heartbeat every interval while the block runs (RDB storages only)."""
    if not has_heartbeat(storage):
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial_id)
            if stop.wait(storage.get_heartbeat_interval()):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass
class TrialOutcome:
    number: int
    activation: str
    lr: float
    state: str  # COMPLETE | PRUNED | FAIL
    value: float | None
    reason: str
    train_time_s: float


def run_trial(
    sweep: Sweep, trial: optuna.Trial, splits: data.Splits, settings: dict, progress: bool
) -> TrialOutcome:
    """Train one grid point as a nested MLflow run; tell Optuna how it ended."""
    activation = trial.suggest_categorical("activation", NAMES)
    lr = trial.suggest_float("lr", *LR_BOUNDS, log=True)
    config: TrainConfig = sweep.config.train_config(activation, lr)
    tags = {"sweep": sweep.config.study, "optuna.trial": str(trial.number)}
    try:
        with training_run(
            sweep.tracker,
            config,
            splits,
            settings,
            parent_run_id=sweep.parent_run_id,
            tags=tags,
            description=f"Trial {trial.number} of sweep {sweep.config.study}.",
        ) as run:
            trial.set_user_attr("mlflow_run_id", run.run_id)

            def report_and_ask_pruner(metrics: train.EpochMetrics) -> bool:
                run.log_epoch(metrics)
                trial.report(metrics.val_acc, metrics.epoch)
                return trial.should_prune()

            result = train.train(config, splits, on_epoch=report_and_ask_pruner, progress=progress)
            run.log_result(result, with_model=False)
            state, reason = _trial_state(result)
            sweep.tracker.set_tags(run.run_id, {"trial_state": state.name})
    except KeyboardInterrupt:
        trial.set_user_attr("stop_reason", "interrupted")
        sweep.study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as error:
        trial.set_user_attr("stop_reason", f"error: {error}")
        sweep.study.tell(trial, state=TrialState.FAIL)
        raise
    trial.set_user_attr("stop_reason", reason)
    if state == TrialState.COMPLETE:
        sweep.study.tell(trial, result.best_val_acc)
    else:
        sweep.study.tell(trial, state=TrialState.PRUNED)
    value = result.best_val_acc if result.best_epoch else None
    return TrialOutcome(
        trial.number, activation, lr, state.name, value, reason, result.train_time_s
    )


def _trial_state(result: train.TrainResult) -> tuple[TrialState, str]:
    if result.stop_reason == "diverged":
        return TrialState.PRUNED, "diverged"
    if result.stop_reason == "pruned":
        return TrialState.PRUNED, f"pruned at epoch {result.history[-1].epoch}"
    return TrialState.COMPLETE, result.stop_reason


def work(
    sweep: Sweep,
    data_dir: str | None,
    threads: int | None,
    progress: bool = True,
    poll_s: float = 1.0,
    source: data.DataSource | None = None,
) -> list[TrialOutcome]:
    """One worker: claim queued trials until none is queued or running anywhere. A `source`
    already verified by the caller is loaded without finding and hashing it again."""
    config = sweep.config
    device = train.resolve_device(config.train.device)
    settings = train.configure_torch(device, threads)
    # The data stage's resolution (--data-dir, FASHION_MNIST_DIR, data/, Debian's package).
    splits = data.load_splits(
        data_dir,
        val_fraction=config.train.val_fraction,
        seed=config.train.seed,
        device=device,
        source=source,
    )
    check_same_data(sweep.study, splits.source.digest, "this worker's")
    outcomes: list[TrialOutcome] = []
    bar = tqdm(
        total=len(config.grid), desc=f"sweep {config.study}", unit="trial", disable=not progress
    )
    while True:
        trial = claim_next_trial(sweep)
        if trial is None:
            running = sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not running or not has_heartbeat(sweep.storage):
                break
            time.sleep(poll_s)  # another worker's trial may still fail and be queued again
            continue
        with heartbeat(sweep.storage, trial._trial_id):
            outcomes.append(run_trial(sweep, trial, splits, settings, progress))
        bar.n = finished_count(sweep.study)
        bar.set_postfix(best=f"{best_value(sweep.study):.4f}")
        bar.refresh()
    bar.close()
    return outcomes


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def best_value(study: optuna.Study) -> float:
    values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return max(values, default=float("nan"))


# --- the coordinator ----------------------------------------------------------------------


def run_workers(
    sweep: Sweep, config_path: Path, workers: int, data_dir: str | None, progress: bool = True
) -> list[str]:
    """Start `workers` worker processes on the prepared study, follow them with one bar, and
    return a warning per worker that died while the others still finished the study."""
    config = sweep.config
    threads = max(1, (os.cpu_count() or 1) // workers)
    log_dir = SWEEPS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    logs = [log_dir / f"{config.study}-worker{index}.log" for index in range(workers)]
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "worker",
        "--config",
        str(config_path),
        "--threads",
        str(threads),
        "--no-progress",
    ]
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    processes = []
    for log in logs:
        with log.open("w") as out:  # the child keeps its own handle
            # Their own session: a Ctrl-C reaches only this process, which passes it on once.
            processes.append(
                subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    bar = tqdm(
        total=len(config.grid),
        desc=f"sweep {config.study} ({workers} workers)",
        unit="trial",
        disable=not progress,
    )
    try:
        while any(process.poll() is None for process in processes):
            if (finished := finished_count(sweep.study)) != bar.n:
                bar.n = finished
                bar.set_postfix(best=f"{best_value(sweep.study):.4f}")
            time.sleep(1)
    except KeyboardInterrupt:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # each marks its trial interrupted, exits
        for process in processes:
            process.wait()
        raise
    finally:
        bar.n = finished_count(sweep.study)
        bar.close()
    died = [
        f"worker {index} exited with {process.returncode}: {_last_line(logs[index])} "
        f"(log: {logs[index]})"
        for index, process in enumerate(processes)
        if process.returncode != 0
    ]
    if died and open_points(sweep.study, config.grid):
        raise PipelineError(f"{died[0]}; rerun the sweep to resume")
    return died


def _last_line(path: Path) -> str:
    lines = path.read_text().strip().splitlines()
    return lines[-1] if lines else "(no output)"


def open_points(study: optuna.Study, grid: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Grid points without a finished (COMPLETE or PRUNED) trial."""
    done = {_point(t) for t in study.get_trials(deepcopy=False, states=FINISHED)}
    return [point for point in grid if point not in done]


# --- after the trials ---------------------------------------------------------------------


@dataclass
class BestTrial:
    activation: str
    lr: float
    val_acc: float
    run_id: str
    number: int


def best_trials(study: optuna.Study, activations: tuple[str, ...]) -> dict[str, BestTrial]:
    """Each activation's completed trial with the highest best_val_acc."""
    best: dict[str, BestTrial] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        activation = t.params["activation"]
        if activation in activations and (
            activation not in best or t.value > best[activation].val_acc
        ):
            best[activation] = BestTrial(
                activation, t.params["lr"], t.value, t.user_attrs["mlflow_run_id"], t.number
            )
    return best


def finish(sweep: Sweep) -> dict[str, BestTrial]:
    """Log each activation's best model, register it, and record the bests on the parent run."""
    study, tracker, parent = sweep.study, sweep.tracker, sweep.parent_run_id
    best = best_trials(study, sweep.config.activations)
    for activation, trial in best.items():
        tracker.register_run_model(trial.run_id, aliases=[activation])
    if best:
        champion = max(best.values(), key=lambda b: b.val_acc)
        tracker.register_run_model(champion.run_id, aliases=["champion"])
    metrics = {}
    for activation, trial in best.items():
        metrics[f"best_val_acc.{activation}"] = trial.val_acc
        metrics[f"best_lr.{activation}"] = trial.lr
    counts = {
        state: len(study.get_trials(deepcopy=False, states=(state,)))
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    metrics.update({f"trials_{state.name.lower()}": n for state, n in counts.items()})
    tracker.log_metrics(parent, metrics)
    tracker.set_tags(parent, {f"best_lr.{a}": f"{b.lr:g}" for a, b in best.items()})
    _log_optuna_figures(sweep)
    return best


def _log_optuna_figures(sweep: Sweep) -> None:
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    study = sweep.study
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    figures = {"figures/optimization_history.png": lambda: ovm.plot_optimization_history(study)}
    activations = {t.params["activation"] for t in completed}
    lrs = {t.params["lr"] for t in completed}
    if len(activations) > 1 and len(lrs) > 1 and len(completed) > 2:
        figures["figures/param_importances.png"] = lambda: ovm.plot_param_importances(study)
    for path, draw in figures.items():
        try:
            with plt.style.context("default"):  # Optuna switches the global style to ggplot
                axes = draw()
        except (ValueError, RuntimeError):  # too few trials for this figure: skip it
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        sweep.tracker.log_figure(sweep.parent_run_id, figure, path)
        plt.close(figure)


def close_parent(sweep: Sweep, status: str = "FINISHED") -> None:
    sweep.tracker.end_run(sweep.parent_run_id, status)


def trial_counts(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def confirm(sweep: Sweep, seeds: int, data_dir: str | None, progress: bool = True) -> int:
    """Retrain each activation's best configuration with `seeds` further seeds (stage=confirm);
    configurations already confirmed are skipped. Returns the number of new runs."""
    config, tracker = sweep.config, sweep.tracker
    done = tracker.search_runs(
        f"tags.sweep = '{config.study}' and tags.stage = 'confirm' "
        "and attributes.status = 'FINISHED'"
    )
    done_keys = (
        set()
        if done.empty
        else set(
            zip(done["params.activation"], done["params.lr"], done["params.seed"], strict=True)
        )
    )
    device = train.resolve_device(config.train.device)
    settings = train.configure_torch(device)
    todo = [
        config.train_config(b.activation, b.lr, seed=config.train.seed + offset)
        for b in best_trials(sweep.study, config.activations).values()
        for offset in range(1, seeds + 1)
    ]
    todo = [c for c in todo if (c.activation, str(c.lr), str(c.seed)) not in done_keys]
    for run_config in tqdm(todo, desc="confirm", unit="run", disable=not progress):
        splits = data.load_splits(
            data_dir, val_fraction=run_config.val_fraction, seed=run_config.seed, device=device
        )
        with training_run(
            tracker,
            run_config,
            splits,
            settings,
            stage="confirm",
            name=f"confirm-{run_config.activation}-lr{run_config.lr:g}-seed{run_config.seed}",
            parent_run_id=sweep.parent_run_id,
            tags={"sweep": config.study},
            description="Best configuration of the sweep, another seed.",
        ) as run:
            result = train.train(run_config, splits, on_epoch=run.log_epoch, progress=progress)
            run.log_result(result, with_model=False)
    return len(todo)
