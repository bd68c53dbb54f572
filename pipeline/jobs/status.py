"""`make status`: who works on a study now and how far its queue is, read from the study's
storage alone (no MLflow, nothing written): each live worker (host:pid), the trial it trains
and the age of its last heartbeat, then the queue."""

from pipeline.adapters import studies
from pipeline.core.process.urls import redact
from pipeline.core.schema.job_config import SweepJobConfig


def run(job: SweepJobConfig) -> int:
    study = studies.Study(job.sweep, create=False, on_orphan=lambda *_: None)
    seen = studies.overview(study)
    queue = ", ".join(f"{count} {name}" for name, count in seen.queue.items())
    beat = job.sweep.heartbeat_interval
    print(
        f"study {job.sweep.study} in {redact(study.url)}: {queue} (heartbeat every {beat} s; "
        f"a trial is failed and retried {2 * beat} s after its last)"
    )
    if not study.has_heartbeat:
        print("workers: not recorded (a journal file keeps no heartbeats)")
    else:
        print(f"workers: {len(seen.members)} live")
    for member in seen.members:
        held = seen.held_by(member)
        doing = "; ".join(_trial(h) for h in held) or member.state
        threads = f", {member.threads} threads" if member.threads else ""
        print(
            f"  {member.name} ({member.role}{threads}): heartbeat {member.age():.1f} s ago, {doing}"
        )
    for lost in seen.unattended:
        who = lost.worker or "no worker yet"
        print(f"  {_trial(lost)}: held by {who}, which is not live")
    return 0


def _trial(held: studies.Held) -> str:
    return (
        f"trial {held.number} {held.activation} {held.configuration} "
        f"({held.phase}, seed {held.seed}) epoch {held.epoch}"
    )
