"""A process's watch on its study: its place in the roster, and stale trials failed and
retried on time by a background thread, with no claim needed."""

import dataclasses
import time

import pytest
from optuna.trial import TrialState

from pipeline.adapters import studies
from pipeline.adapters.studies import roster


def wait_for(condition, timeout: float) -> float:
    """Seconds until `condition()` held; fails past `timeout`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "never happened"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_dead_trial_is_failed_within_three_intervals_while_no_one_claims(make_study, orphans):
    """The watch's thread fails the trial and queues its retry, the retry naming no worker
    and no run: only the point goes with it."""
    study = make_study(activations=("relu",), lrs=(0.01, 0.1), heartbeat_interval=1)
    studies.queue_missing(study)
    [trial] = studies.claim(study)
    study.set_run_id(trial, "run-0")
    study.set_worker(trial, "elsewhere:123")
    with studies.heartbeat(study, trial):
        pass  # one heartbeat, then the worker is dead
    last_beat = time.monotonic()
    with studies.watch(study):
        wait_for(lambda: studies.counts(study).get("FAIL") == 1, timeout=6)
        reaped = time.monotonic() - last_beat
    assert 2 <= reaped <= 3.5, reaped  # the grace of 2 intervals, then at most 1 until a look
    assert orphans == [("run-0", "its worker stopped sending heartbeats")]
    [retry] = [t for t in studies.trials(study) if t.system_attrs.get("failed_trial") == 0]
    assert retry.state == TrialState.WAITING
    assert retry.params == studies.trials(study)[0].params
    assert "worker" not in retry.user_attrs and "mlflow_run_id" not in retry.user_attrs
    assert retry.user_attrs["lr"] == studies.trials(study)[0].user_attrs["lr"]


def test_the_roster_lists_a_watching_process_until_it_ends(make_study):
    study = make_study(heartbeat_interval=1)
    me = studies.this_process(studies.WORKER, threads=3)
    with studies.watch(study, me) as watch:
        [listed] = studies.members(study)
        assert (listed.name, listed.role, listed.threads) == (me.name, "worker", 3)
        assert listed.state == studies.WAITING and listed.age() < 1
        watch.set_state(studies.TRAINING)
        time.sleep(1.5)  # the thread writes it again: its age stays under an interval
        [listed] = studies.members(study)
        assert listed.state == studies.TRAINING and listed.age() < 1.2
        another = dataclasses.replace(me, pid=me.pid + 1, threads=2)  # a second worker here
        assert studies.host_threads(study, another) == 5
    assert studies.members(study) == []  # written `exited`


def test_a_member_that_stopped_writing_leaves_the_roster_after_three_intervals(make_study):
    study = make_study(heartbeat_interval=1)
    member = roster.record(study, studies.this_process(studies.WORKER, 1))
    assert studies.members(study, now=member.seen + 2.9) == [member]
    assert studies.members(study, now=member.seen + 3.1) == []


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_the_overview_counts_the_queue_and_shows_each_trial_in_progress(make_study, kind):
    study = make_study(kind, heartbeat_interval=1)
    studies.queue_missing(study)
    [trial] = studies.claim(study)
    point = trial.point
    study.set_worker(trial, "host:42")
    study.report(trial, 0.5, 1)
    study.report(trial, 0.6, 2)
    seen = studies.overview(study)
    assert seen.queue == {"waiting": 3, "running": 1, "finished": 0, "failed": 0}
    [held] = seen.held
    assert (held.number, held.activation, held.phase) == (0, point["activation"], "grid")
    assert (held.epoch, held.seed, held.worker) == (2, 42, "host:42")
    assert held.configuration == f"lr {point['lr']:g}"
    assert seen.unattended == [held]  # host:42 keeps no roster entry
