"""The Optuna adapter, and the only module that imports optuna: storage, the queue of grid
points, claims, heartbeats, the pruner and the study's figures. Public API only.

The design is a grid: every activation is trained at the same learning rates. The grid is put in
the study's queue once, when the study is prepared; workers then only claim queued trials, so N
workers on one or many machines never run a point twice, and a rerun tops the queue up with the
points that have no finished trial yet. A heartbeat marks a trial whose worker died as FAIL and
queues a retry of it.
"""

import contextlib
import fcntl
import statistics
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, Trial, TrialState

from pipeline.core.activations import NAMES
from pipeline.core.config import SweepConfig
from pipeline.core.errors import PipelineError, UsageError
from pipeline.core.urls import redact, sqlalchemy_url
from pipeline.figures import interactive

SWEEPS_DIR = Path("sweeps")
MAX_RETRIES = 3  # a trial whose worker keeps dying is not retried forever
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# A server that does not answer fails in this many seconds, not after the OS's TCP timeout.
CONNECT_TIMEOUT_S = 10
# Called with (MLflow run id or None, why) for a trial whose worker died.
OnOrphan = Callable[[str | None, str], None]

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


# --- storage ------------------------------------------------------------------------------


def storage_url(config: SweepConfig) -> str:
    """The config's `storage` (OPTUNA_STORAGE replaces it at the edge), else a SQLite file in
    sweeps/ named after the study."""
    return config.storage or f"sqlite:///{SWEEPS_DIR / config.study}.db"


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


def _open_storage(url: str, heartbeat_interval: int, on_stale) -> BaseStorage:
    """RDB storage (SQLite, PostgreSQL, MySQL) with heartbeats, or a journal file (no heartbeat)."""
    path = storage_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if storage_kind(url) == "journal":
        return JournalStorage(JournalFileBackend(str(path)))
    # pre-ping: a worker idle for a long trial finds its pooled connection closed by the server
    # (or a restarted one) and reconnects instead of failing the tell.
    server = {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    try:
        return RDBStorage(
            sqlalchemy_url(url),
            engine_kwargs=None if url.startswith("sqlite") else server,
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
    """Median pruning among trials of the same activation only, at the same epoch.

    A trial stops when its best value so far is below the median of what its activation's other
    trials (finished, pruned or still running) reached at this epoch. Comparing at the same epoch
    with running trials too is what lets trials that run in lockstep (a stack) prune each other;
    Optuna's MedianPruner compares with completed trials only, and with every activation: a slow
    starter such as sigmoid would be cut before its lr got a chance. Trials at the reference lr
    are never pruned.
    """

    PEERS = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)

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
            for t in study.get_trials(deepcopy=False, states=self.PEERS)
            if t.number != trial.number
            and t.params.get("activation") == activation
            and step in t.intermediate_values
        ]
        if not peers:
            return False
        return max(trial.intermediate_values.values()) < statistics.median(peers)


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    return PerActivationMedianPruner(config.pruner_warmup_epochs, config.reference_lr)


# --- the study ----------------------------------------------------------------------------


def _point(trial: FrozenTrial) -> tuple[str, float] | None:
    """The (activation, lr) of a trial: its params once it ran, the user attrs it was queued
    with before."""
    values = trial.params or trial.user_attrs
    if "activation" not in values or "lr" not in values:
        return None
    return values["activation"], float(values["lr"])


@dataclass
class BestTrial:
    activation: str
    lr: float
    val_acc: float
    run_id: str
    number: int


class Study:
    """One sweep's Optuna study in its storage."""

    def __init__(self, config: SweepConfig, create: bool, on_orphan: OnOrphan):
        self.config, self.url, self.on_orphan = config, storage_url(config), on_orphan
        storage_kind(self.url)
        local_file = storage_file(self.url)
        if not create and local_file is not None and not local_file.exists():
            raise self._no_study()  # and do not create an empty database file on the way
        self.storage = _open_storage(self.url, config.heartbeat_interval, self._on_stale)
        try:
            self.study = (optuna.create_study if create else optuna.load_study)(
                study_name=config.study,
                storage=self.storage,
                pruner=make_pruner(config),
                **({"direction": "maximize", "load_if_exists": True} if create else {}),
            )
        except KeyError:
            raise self._no_study() from None
        self.study_id = self.storage.get_study_id_from_name(config.study)

    def _no_study(self) -> PipelineError:
        return PipelineError(
            f"study {self.config.study!r} does not exist in {redact(self.url)}; create it once, "
            "on one machine, with `make sweep SWEEP=<config>` (it queues the trials), then start "
            "`make worker SWEEP=<config>` on the others"
        )

    @property
    def has_heartbeat(self) -> bool:
        return isinstance(self.storage, RDBStorage)

    def lock(self):
        return local_lock(self.url)

    def attr(self, key: str) -> str | None:
        return self.study.user_attrs.get(key)

    def set_attr(self, key: str, value: str) -> None:
        self.study.set_user_attr(key, value)

    def _trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def _on_stale(self, study: optuna.Study, trial: FrozenTrial) -> None:
        why = "its worker stopped sending heartbeats"
        self.on_orphan(trial.user_attrs.get("mlflow_run_id"), why)
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(study, trial)

    def fail_orphans(self) -> None:
        """Fail trials whose worker died (queuing retries). A journal file has no heartbeats:
        a RUNNING trial there at start-up is an orphan. Call under the study's lock."""
        if self.has_heartbeat:
            optuna.storages.fail_stale_trials(self.study)
            return
        for trial in self.trials(TrialState.RUNNING):
            why = "found RUNNING when the sweep restarted"
            self.on_orphan(trial.user_attrs.get("mlflow_run_id"), why)
            self.storage.set_trial_state_values(self._trial_id(trial.number), TrialState.FAIL)

    def queue_missing(self) -> None:
        """Queue the grid points with no finished, running or queued trial, largest lr first
        across all activations: fast learners finish early and give the pruner its references
        sooner."""
        grid = self.config.grid
        taken = {_point(t) for t in self.trials(*FINISHED, TrialState.RUNNING, TrialState.WAITING)}
        for activation, lr in sorted(grid, key=lambda p: (-p[1], grid.index(p))):
            if (activation, lr) not in taken:
                point = {"activation": activation, "lr": lr}
                self.study.enqueue_trial(point, user_attrs=point)

    def claim(self, count: int = 1) -> list[Trial]:
        """Fail orphaned trials, then take up to `count` queued trials (none left: an empty
        list). Atomic: where workers race for a trial, the storage (or the lock) lets one win."""
        claimed: list[Trial] = []
        with self.lock():
            if self.has_heartbeat:
                optuna.storages.fail_stale_trials(self.study)
            for trial in self.trials(TrialState.WAITING):
                if len(claimed) == count:
                    break
                trial_id = self._trial_id(trial.number)
                try:
                    if self.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                        claimed.append(Trial(self.study, trial_id))
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue
        return claimed

    @contextlib.contextmanager
    def heartbeat(self, *trials: Trial) -> Iterator[None]:
        """Record the trials' heartbeats every interval while the block runs (RDB storages)."""
        if not self.has_heartbeat:
            yield
            return
        stop = threading.Event()
        trial_ids = [self._trial_id(trial.number) for trial in trials]

        def beat() -> None:
            while True:
                for trial_id in trial_ids:
                    self.storage.record_heartbeat(trial_id)
                if stop.wait(self.storage.get_heartbeat_interval()):
                    return

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def suggest_point(self, trial: Trial) -> tuple[str, float]:
        """The trial's queued (activation, lr), as params over the distributions they come from:
        the registered activations, and the grid's lr range on a log scale."""
        lrs = [*self.config.lrs, trial.user_attrs.get("lr", self.config.lrs[0])]
        activation = trial.suggest_categorical("activation", NAMES)
        return activation, trial.suggest_float("lr", min(lrs), max(lrs), log=True)

    def tell(self, trial: Trial, state: str, value: float | None = None) -> None:
        """state: COMPLETE (with the value), PRUNED or FAIL."""
        self.study.tell(trial, value if state == "COMPLETE" else None, state=TrialState[state])

    # --- what the study holds -------------------------------------------------------------

    def trials(self, *states: TrialState) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=states or None)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.trials():
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        return counts

    def finished_count(self) -> int:
        return len(self.trials(*FINISHED))

    def running_count(self) -> int:
        return len(self.trials(TrialState.RUNNING))

    def best_value(self) -> float:
        return max((t.value for t in self.trials(TrialState.COMPLETE)), default=float("nan"))

    def open_points(self) -> list[tuple[str, float]]:
        """Grid points without a finished (COMPLETE or PRUNED) trial."""
        done = {_point(t) for t in self.trials(*FINISHED)}
        return [point for point in self.config.grid if point not in done]

    def best_trials(self) -> dict[str, BestTrial]:
        """Each activation's completed trial with the highest best_val_acc."""
        best: dict[str, BestTrial] = {}
        for t in self.trials(TrialState.COMPLETE):
            activation = t.params["activation"]
            if activation in self.config.activations and (
                activation not in best or t.value > best[activation].val_acc
            ):
                run_id = t.user_attrs["mlflow_run_id"]
                best[activation] = BestTrial(activation, t.params["lr"], t.value, run_id, t.number)
        return best

    def figures(self) -> dict[str, object]:
        """Optuna's own figures of the study (matplotlib), those it has enough trials for."""
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as ovm

        completed = self.trials(TrialState.COMPLETE)
        draw = {"figures/optimization_history.png": ovm.plot_optimization_history}
        activations = {t.params["activation"] for t in completed}
        if len(activations) > 1 and len({t.params["lr"] for t in completed}) > 1:
            draw["figures/param_importances.png"] = ovm.plot_param_importances
        figures = {}
        for path, plot in draw.items():
            try:
                # Optuna switches the global style to ggplot, and warns on small studies.
                with plt.style.context("default"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    axes = plot(self.study)
            except (ValueError, RuntimeError):  # too few trials for this figure: skip it
                continue
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            figures[path] = figure
        return figures

    def interactive_figures(self) -> dict[str, str]:
        """Optuna's plotly figures as self-contained HTML pages: the parallel coordinates of
        activation, lr (a log axis) and best val_acc, and the slice of best val_acc over each
        of them. None before a trial has completed."""
        from optuna import visualization as ov

        if not self.trials(TrialState.COMPLETE):
            return {}
        params, target = ["activation", "lr"], "best val_acc"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            drawn = {
                "figures/parallel_coordinate.html": ov.plot_parallel_coordinate(
                    self.study, params=params, target_name=target
                ),
                "figures/slice.html": ov.plot_slice(self.study, params=params, target_name=target),
            }
        return {path: interactive.to_html(figure) for path, figure in drawn.items()}
