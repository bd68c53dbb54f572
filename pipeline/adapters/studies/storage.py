"""Where a study lives and how it is opened: the storage URL (a SQLite file by default, a
database server, or Optuna's journal file), the storage itself (RDB with heartbeats that fail and
retry a trial whose worker died, or a journal file), and the study's lock: a lock file beside a
local storage, a database lock on a server."""

import contextlib
import copy
import fcntl
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial

from pipeline.adapters.studies.logs import experimental_features
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.urls import redact, sqlalchemy_url, storage_file, storage_kind
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import UserAttr

SWEEPS_DIR = Path("sweeps")
MAX_RETRIES = 3  # a trial whose worker keeps dying is not retried forever
# A server that does not answer fails in this many seconds, not after the OS's TCP timeout.
CONNECT_TIMEOUT_S = 10
# Called with (MLflow run id or None, why) for a trial whose worker died.
OnOrphan = Callable[[str | None, str], None]
# A claimed trial's user attributes that belong to the claim, not to the point: its retry is
# queued without them, naming no worker until one claims it.
CLAIM_ATTRS = (UserAttr.WORKER, UserAttr.MLFLOW_RUN_ID, UserAttr.STOP_REASON)


def storage_url(config: SweepConfig) -> str:
    """The config's `storage` (OPTUNA_STORAGE replaces it at the edge), else a SQLite file in
    sweeps/ named after the study."""
    return config.storage or f"sqlite:///{SWEEPS_DIR / config.study}.db"


def _retry_stale(on_orphan: OnOrphan) -> Callable[[optuna.Study, FrozenTrial], None]:
    """The storage's callback for a trial whose heartbeats stopped: tell the caller (who closes
    its MLflow run), then queue a retry of it with its point but not its claim."""

    def retry(study: optuna.Study, trial: FrozenTrial) -> None:
        why = "its worker stopped sending heartbeats"
        on_orphan(trial.user_attrs.get(UserAttr.MLFLOW_RUN_ID), why)
        unclaimed = copy.deepcopy(trial)
        unclaimed.user_attrs = {
            key: value for key, value in trial.user_attrs.items() if key not in CLAIM_ATTRS
        }
        with experimental_features():
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(
                study, unclaimed
            )

    return retry


def open_storage(url: str, heartbeat_interval: int, on_orphan: OnOrphan) -> BaseStorage:
    """RDB storage (SQLite, PostgreSQL, MySQL) with heartbeats, or a journal file (no heartbeat)."""
    path = storage_file(url)
    if storage_kind(url) == "journal":
        assert path is not None  # a journal is always a file
        with _file_errors(url):
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
    if path is not None:
        with _file_errors(url):
            path.parent.mkdir(parents=True, exist_ok=True)
    # pre-ping: a worker idle for a long trial finds its pooled connection closed by the server
    # (or a restarted one) and reconnects instead of failing the tell.
    server = {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    try:
        with experimental_features():
            return RDBStorage(
                sqlalchemy_url(url),
                engine_kwargs=None if url.startswith("sqlite") else server,
                heartbeat_interval=heartbeat_interval,
                grace_period=2 * heartbeat_interval,
                heartbeat_stale_trial_callback=_retry_stale(on_orphan),
            )
    except Exception as error:
        raise _unreachable(url, error) from None


def local_study_id(url: str, study: str) -> int | None:
    """The id optuna-dashboard's pages use for a study in a local storage file; None for a
    server's storage (not reached just to make a link) or a file that does not hold the study."""
    path = storage_file(url)
    if path is None or not path.is_file():
        return None
    try:
        storage = open_storage(url, heartbeat_interval=60, on_orphan=lambda *_: None)
        return storage.get_study_id_from_name(study)
    except (KeyError, PipelineError, ValueError):
        return None


def _unreachable(url: str, error: Exception) -> PipelineError:
    """The one line for a storage server that cannot be used: no driver, or no answer."""
    if isinstance(error, ImportError):  # Optuna wraps the driver's ModuleNotFoundError
        return PipelineError(
            f"study storage {redact(url)} needs its database driver "
            f"({error.__cause__ or error}); for PostgreSQL install the [postgres] extra: "
            "pip install -e '.[postgres]'"
        )
    reason = str(error).splitlines()[0]  # sqlalchemy's errors carry the driver's reason
    return PipelineError(f"study storage {redact(url)} is unreachable: {reason}")


def study_lock(url: str, study: str) -> contextlib.AbstractContextManager[None]:
    """The study's lock: one process at a time, on any machine, creates or prepares the study,
    moves its trials between states, or queues its replicates."""
    return local_lock(url) if storage_file(url) is not None else server_lock(url, study)


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
    with _file_errors(url):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not `<file>.lock`: a journal storage keeps its own lock there (JournalFileSymlinkLock).
        lock = open(f"{path}.claims.lock", "a")  # noqa: SIM115 (closing it releases the lock)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def server_lock(url: str, study: str) -> Iterator[None]:
    """A database server's session lock named after the study (PostgreSQL's advisory lock,
    MySQL's GET_LOCK), held on a connection of its own: row locks alone make a claim atomic,
    but not a read-then-queue such as queuing the replicates once. The server releases it when
    the connection closes, also when the process holding it dies."""
    name = f"optuna-study:{study}"
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    try:
        engine = sqlalchemy.create_engine(
            sqlalchemy_url(url),
            poolclass=sqlalchemy.pool.NullPool,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )
        connection = engine.connect()
    except Exception as error:
        raise _unreachable(url, error) from None
    try:
        if engine.dialect.name == "mysql":
            connection.execute(sqlalchemy.text("SELECT GET_LOCK(:name, -1)"), {"name": name[:64]})
        else:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        yield
    finally:
        connection.close()  # ends the session, and its lock with it
        engine.dispose()


@contextlib.contextmanager
def _file_errors(url: str) -> Iterator[None]:
    """A storage file that cannot be made (a file where its folder should be, no permission, a
    name too long) is one line naming it, not a traceback."""
    try:
        yield
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        raise PipelineError(
            f"study storage {redact(url)} cannot be created: {error.strerror or error}{where}"
        ) from None
