"""A database server that goes away for a while (a restart, a failover, an upgrade) without
failing the trial in progress: a worker's calls on the trial it trains (report an epoch, ask
the pruner, set an attribute, tell, record a heartbeat), each of which can be made twice, are
made again until the server answers, for up to OUTAGE_S seconds; then one line says so."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
import sqlalchemy.exc

from pipeline.adapters.studies.study import Study
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.urls import redact

# Longer than a PostgreSQL restart or a managed database's failover (tens of seconds), shorter
# than the grace after which other workers would take the trial over at the largest interval.
OUTAGE_S = 120
RETRY_EVERY_S = 1.0
Result = TypeVar("Result")


def lost_connection(error: BaseException) -> bool:
    """The database did not answer or dropped the connection, as SQLAlchemy or Optuna (around
    a failed commit) raise it; also SQLite's "database is locked" past its wait."""
    causes = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)
    if isinstance(error, causes):
        return True
    return isinstance(error, optuna.exceptions.StorageInternalError) and isinstance(
        error.__cause__, causes
    )


class TrialTakenOver(PipelineError):
    """The trial this process trains was failed under it: its heartbeat looked stale to a
    reaper (this process too slow to beat, or the database too slow to take the beat)."""


def outlasting(study: Study, call: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """`call(*args, **kwargs)`, made again while the study's database does not answer."""
    deadline = time.monotonic() + OUTAGE_S
    while True:
        try:
            return call(*args, **kwargs)
        except optuna.exceptions.UpdateFinishedTrialError as error:
            raise TrialTakenOver(
                f"{str(error).splitlines()[0]} (failed while this process trained it: its "
                "heartbeat looked stale; its retry is queued)"
            ) from None
        except Exception as error:
            if not lost_connection(error):
                raise
            if time.monotonic() > deadline:
                reason = str(error.__cause__ or error).splitlines()[0]
                raise PipelineError(
                    f"study storage {redact(study.url)} did not answer for {OUTAGE_S} s "
                    f"({reason}); the trial in progress is failed by its heartbeat and retried "
                    "once it answers again: rerun the worker then"
                ) from None
            time.sleep(RETRY_EVERY_S)
