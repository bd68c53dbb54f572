"""Ctrl-C and SIGTERM, taken where a job can stop cleanly. While a job trains it writes to its
stores every epoch; a KeyboardInterrupt raised inside one of their queries breaks the query,
and the database driver prints a traceback of its own. So inside `deferred()` the first stop
signal is only noted, and the job stops at its next `check()` (each training batch, each
claimed trial); a second one stops it at once, wherever it is.

SIGUSR1 asks for a drain, a planned stop: a worker finishes the trials it holds, then ends
without claiming more (`draining()`); it stops nothing, however often it comes."""

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

_deferring = False
_requested = False
_draining = False
DRAIN_SIGNAL = signal.SIGUSR1


def install() -> None:
    """Take SIGINT and SIGTERM here (main thread only). SIGINT too: a parent may have started
    this process with it ignored, as a shell's background jobs are, and Python keeps that."""
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _on_stop_signal)
    signal.signal(DRAIN_SIGNAL, _on_drain_signal)


def _on_drain_signal(signum: int, frame: FrameType | None) -> None:
    global _draining
    _draining = True


def draining() -> bool:
    """A drain was asked for (SIGUSR1): claim no more trials."""
    return _draining


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    global _requested
    if _deferring and not _requested:
        _requested = True
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Stop signals in this block wait for a `check()`; the block's end is one."""
    global _deferring, _requested
    _deferring, _requested = True, False
    try:
        yield
        check()
    finally:
        _deferring = False


def check() -> None:
    """Stop here if a stop signal came since the block began (once: what runs after the stop,
    marking runs and trials interrupted, is not stopped again by the same signal)."""
    global _deferring
    if _deferring and _requested:
        _deferring = False  # a further signal now stops at once
        raise KeyboardInterrupt
