"""The study's roster of the processes working on it: each worker (and a sweep that follows its
worker processes) writes a study user attribute named after itself, `worker:HOST:PID`, every
heartbeat interval: its role, torch threads, what it is doing and when it wrote. `make status`
lists the live ones, `make drain` finds this host's, a worker adds up its host's threads.

Optuna keeps no time of a trial's heartbeat that its public API reads, so the roster keeps its
own, in seconds since the epoch of the writing host's clock: hosts keep their clocks in step
(NTP) for the ages to be true."""

import os
import socket
import time
from dataclasses import asdict, dataclass, replace

from pipeline.adapters.studies.study import Study

PREFIX = "worker:"
# Roles and states: what a member is, and what it does now.
WORKER, PARENT = "worker", "parent"  # a parent started worker processes and follows them
WAITING, TRAINING, DRAINING, EXITED = "waiting", "training", "draining", "exited"
# A member is live while it wrote within this many heartbeat intervals: one more than the
# grace after which its trials are failed, as the reaper checks once an interval.
LIVE_INTERVALS = 3


@dataclass(frozen=True)
class Member:
    host: str
    pid: int
    role: str
    threads: int
    state: str = WAITING
    seen: float = 0.0  # when it last wrote, in seconds since the epoch

    @property
    def name(self) -> str:
        """host:pid, as a trial's `worker` user attribute names its process."""
        return f"{self.host}:{self.pid}"

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.seen)


def this_process(role: str, threads: int) -> Member:
    return Member(socket.gethostname(), os.getpid(), role, threads)


def record(study: Study, member: Member) -> Member:
    """Write `member` as seen now; the member as written."""
    member = replace(member, seen=time.time())
    study.optuna_study.set_user_attr(PREFIX + member.name, asdict(member))
    return member


def members(study: Study, now: float | None = None) -> list[Member]:
    """The live members, by host and pid: written within LIVE_INTERVALS heartbeat intervals
    and not exited."""
    window = LIVE_INTERVALS * study.config.heartbeat_interval
    found = []
    for key, value in study.optuna_study.user_attrs.items():
        if key.startswith(PREFIX) and isinstance(value, dict):
            member = Member(**value)
            if member.state != EXITED and member.age(now) <= window:
                found.append(member)
    return sorted(found, key=lambda m: (m.host, m.pid))


def host_threads(study: Study, me: Member) -> int:
    """Torch threads of the live workers on `me`'s host, `me` included once."""
    others = [
        m
        for m in members(study)
        if m.host == me.host and m.pid != me.pid and m.role == WORKER and m.state != EXITED
    ]
    return me.threads + sum(m.threads for m in others)
