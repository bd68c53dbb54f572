"""Storage calls on a trial in progress outlast a database that does not answer for a while."""

import optuna
import pytest
import sqlalchemy.exc

from pipeline.adapters import studies
from pipeline.adapters.studies import outages
from pipeline.core.process.errors import PipelineError


def dropped() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, Exception("server closed the connection")
    )


def failing(times: int, error: Exception):
    calls = []

    def call(value):
        calls.append(value)
        if len(calls) <= times:
            raise error
        return value * 2

    return call, calls


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(outages, "RETRY_EVERY_S", 0.01)


def test_a_call_is_made_again_until_the_database_answers(make_study, quick):
    committed = optuna.exceptions.StorageInternalError("during the commit")
    committed.__cause__ = dropped()
    for error in (dropped(), committed):
        call, calls = failing(2, error)
        assert studies.outlasting(make_study(), call, 21) == 42 and calls == [21, 21, 21]


def test_another_error_is_raised_at_once(make_study, quick):
    call, calls = failing(1, ValueError("not the connection"))
    with pytest.raises(ValueError):
        studies.outlasting(make_study(), call, 1)
    assert calls == [1]


def test_a_database_away_past_the_allowance_is_one_line(make_study, quick, monkeypatch):
    monkeypatch.setattr(outages, "OUTAGE_S", 0.05)
    call, _ = failing(10**6, dropped())
    with pytest.raises(PipelineError) as stopped:
        studies.outlasting(make_study(), call, 1)
    message = str(stopped.value)
    assert message.startswith("study storage sqlite:///") and "did not answer for 0.05 s" in message
    assert "server closed the connection" in message and "\n" not in message


def test_a_trial_failed_under_its_worker_is_named_not_a_traceback(make_study):
    """A reaper that found the trial's heartbeat stale failed it while it trained: the worker's
    next call on it says so in one line, and the worker can go on to other trials."""
    study = make_study()
    studies.queue_missing(study)
    [trial] = studies.claim(study)
    study.optuna_study.tell(trial.number, state=optuna.trial.TrialState.FAIL)  # the reaper's
    with pytest.raises(studies.TrialTakenOver, match="failed while this process trained it"):
        studies.outlasting(study, study.report, trial, 0.5, 1)
    assert isinstance(studies.TrialTakenOver("x"), PipelineError)
