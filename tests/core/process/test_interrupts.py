"""Stop signals, sent to this very process: at once outside `deferred()`, at the next
`check()` inside it, at once again for a second signal."""

import os
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.process import interrupts

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture(autouse=True)
def installed():
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell's background job starts
    interrupts.install()
    yield
    for stop_signal, handler in before.items():
        signal.signal(stop_signal, handler)


@pytest.mark.parametrize("stop_signal", STOP_SIGNALS)
def test_outside_a_deferred_block_a_signal_stops_at_once(stop_signal):
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), stop_signal)
    interrupts.check()  # nothing is left pending


@pytest.mark.parametrize("stop_signal", STOP_SIGNALS)
def test_a_deferred_signal_stops_at_the_next_check_only(stop_signal):
    reached = []
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        interrupts.check()
        os.kill(os.getpid(), stop_signal)
        reached.append("after the signal")
        interrupts.check()
        reached.append("after the check")
    assert reached == ["after the signal"]


def test_after_the_stop_cleanup_runs_unstopped_but_a_second_signal_stops_it():
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        try:
            interrupts.check()
        except KeyboardInterrupt:
            interrupts.check()  # the cleanup's own checks pass: the stop was taken
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGTERM)
            raise


def test_a_second_signal_before_any_check_stops_at_once():
    reached = []
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        reached.append("after one")
        os.kill(os.getpid(), signal.SIGINT)
        reached.append("after two")
    assert reached == ["after one"]


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(0, 20), signal_at=st.integers(0, 20))
def test_a_signal_at_any_step_stops_at_the_next_one(steps, signal_at):
    """A loop of `steps` checked steps, signalled before step `signal_at`: it stops there,
    or at the block's end when the signal comes after the last step."""
    done = []
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        for step in range(steps + 1):
            if step == signal_at:
                os.kill(os.getpid(), signal.SIGTERM)
            interrupts.check()
            done.append(step)
        if signal_at > steps:
            os.kill(os.getpid(), signal.SIGTERM)
    assert done == list(range(min(signal_at, steps + 1)))
    interrupts.check()  # and a later block starts afresh


def test_a_block_without_a_signal_ends_normally():
    with interrupts.deferred():
        interrupts.check()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)


def test_a_drain_stops_nothing_however_often_it_comes(monkeypatch):
    """SIGUSR1 only asks the job to claim no more work; a stop signal after it still stops."""
    monkeypatch.setattr(interrupts, "_draining", False)  # and put back after the test
    previous = signal.getsignal(interrupts.DRAIN_SIGNAL)
    interrupts.install()
    try:
        assert not interrupts.draining()
        with pytest.raises(KeyboardInterrupt), interrupts.deferred():
            os.kill(os.getpid(), interrupts.DRAIN_SIGNAL)
            os.kill(os.getpid(), interrupts.DRAIN_SIGNAL)
            interrupts.check()
            assert interrupts.draining()
            os.kill(os.getpid(), signal.SIGTERM)
            interrupts.check()
    finally:
        signal.signal(interrupts.DRAIN_SIGNAL, previous)
