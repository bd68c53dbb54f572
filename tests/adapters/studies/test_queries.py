"""What a study holds: trials by state, counts, the best value, open points, best trials."""

import math

import optuna
from optuna.trial import TrialState

from pipeline.adapters import studies


def finish(study: studies.Study, state: str, value: float | None = None, run_id: str = "run"):
    """Claim the next queued trial and tell it `state`."""
    [trial] = studies.claim(study)
    study.set_run_id(trial, f"{run_id}-{trial.number}")
    study.tell(trial, state, value)
    return trial


def test_an_empty_study_holds_nothing(make_study):
    study = make_study()
    assert studies.trials(study) == [] and studies.counts(study) == {}
    assert studies.finished_count(study) == studies.pending_count(study) == 0
    value, phase = studies.best_value(study)
    assert math.isnan(value) and phase == ""
    assert studies.open_points(study) == study.config.grid
    assert studies.best_trials(study) == {}


def test_what_a_study_holds_as_its_trials_finish(make_study):
    study = make_study(activations=("relu", "tanh"), lrs=(0.01, 0.1))
    studies.queue_missing(study)  # relu 0.1, tanh 0.1, relu 0.01, tanh 0.01
    assert studies.pending_count(study) == 4
    finish(study, "COMPLETE", 0.8)
    finish(study, "COMPLETE", 0.7)
    finish(study, "PRUNED")
    [running] = studies.claim(study)
    assert studies.counts(study) == {"COMPLETE": 2, "PRUNED": 1, "RUNNING": 1}
    assert studies.finished_count(study) == 3 and studies.pending_count(study) == 1
    assert [t.number for t in studies.trials(study, TrialState.RUNNING)] == [running.number]
    assert len(studies.trials(study, *studies.FINISHED)) == 3
    assert studies.best_value(study) == (0.8, "grid")
    assert studies.open_points(study) == [{"activation": "tanh", "lr": 0.01}]
    assert studies.best_trials(study) == {
        "relu": studies.BestTrial("relu", 0.1, 0.8, "run-0", 0),
        "tanh": studies.BestTrial("tanh", 0.1, 0.7, "run-1", 1),
    }


def test_a_trial_stands_for_its_params_or_else_the_point_it_was_queued_with(make_study):
    study = make_study(activations=("relu",), lrs=(0.03,))
    studies.queue_missing(study)
    [queued] = studies.trials(study)
    assert queued.params == {} and studies.grid_point(queued) == ("relu", 0.03)
    studies.claim(study)  # its point set as it is claimed
    [running] = studies.trials(study)
    assert running.params == {"activation": "relu", "lr": 0.03}
    assert studies.grid_point(running) == ("relu", 0.03)
    assert studies.grid_point(optuna.trial.create_trial(value=0.5)) is None, "neither"
