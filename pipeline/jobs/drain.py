"""`make drain`: ask this host's workers on a study to finish the trials they hold, then exit
(SIGUSR1 to each live one the study's roster names here); a sweep following its worker
processes passes it on to them. It writes nothing."""

import contextlib
import os
import socket

from pipeline.adapters import studies
from pipeline.core.process import interrupts
from pipeline.core.schema.job_config import SweepJobConfig


def run(job: SweepJobConfig) -> int:
    study = studies.Study(job.sweep, create=False, on_orphan=lambda *_: None)
    host = socket.gethostname()
    asked = 0
    for member in studies.members(study):
        if member.host != host or member.pid == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError):  # it ended since it last wrote
            os.kill(member.pid, interrupts.DRAIN_SIGNAL)
            asked += 1
            print(f"drain: asked {member.name} ({member.role}, {member.state}) to finish and exit")
    if not asked:
        print(f"drain: no live worker of study {job.sweep.study} on {host}")
    return 0
