"""A process's watch on its study, kept by a background thread whatever its main thread does
(training, waiting, following worker processes): every heartbeat interval it writes the
process in the roster and fails the trials whose heartbeats stopped. The storage's callback
then closes each one's MLflow run and queues its retry, so a dead worker's trial is retried
within about three intervals (the grace of two, plus up to one until the next look), not
when some worker next claims a trial."""

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import replace

from pipeline.adapters.studies import roster
from pipeline.adapters.studies.queue import fail_stale
from pipeline.adapters.studies.study import Study
from pipeline.core.process import interrupts


def reap(study: Study) -> None:
    """Fail the study's stale trials, queuing their retries, under the study's lock: a worker
    that asks under it whether anything is left (`queue.idle`) sees such a trial running or its
    retry queued, never the moment between (its run is closed in MLflow before the retry is
    queued, which over HTTP takes a while)."""
    if study.has_heartbeat:
        with study.lock():
            fail_stale(study)


class Watch:
    """What the thread writes of this process: `member` (None: reap only), its state set by
    the main thread as it goes."""

    def __init__(self, study: Study, member: roster.Member | None):
        self.study, self.member = study, member

    def set_state(self, state: str) -> None:
        """The new state, written now if the storage answers (else at the next interval)."""
        if self.member is not None and self.member.state != state:
            self.member = replace(self.member, state=state)
            with contextlib.suppress(Exception):
                self.beat()

    def beat(self) -> None:
        if self.member is not None:
            if interrupts.draining() and self.member.state != roster.EXITED:
                self.member = replace(self.member, state=roster.DRAINING)
            roster.record(self.study, self.member)


@contextlib.contextmanager
def watch(study: Study, member: roster.Member | None = None) -> Iterator[Watch]:
    """Keep the watch while the block runs (storages with heartbeats; a journal has none).
    A storage that does not answer for a while is tried again the next interval: the
    training goes on meanwhile. The member is written `exited` at the end."""
    kept = Watch(study, member)
    if not study.has_heartbeat:
        yield kept
        return
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(study.config.heartbeat_interval):
            with contextlib.suppress(Exception):
                kept.beat()
            with contextlib.suppress(Exception):
                reap(study)

    kept.beat()
    thread = threading.Thread(target=keep, name="study-watch", daemon=True)
    thread.start()
    try:
        yield kept
    finally:
        stop.set()
        thread.join()
        kept.set_state(roster.EXITED)
