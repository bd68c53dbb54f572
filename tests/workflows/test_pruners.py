"""Successive halving and Hyperband in a real sweep on tiny data: trials stop only at their
rungs, within their activation, and their runs say they were pruned."""

import pytest
from optuna.trial import TrialState

from pipeline.adapters.studies.pruner import PerActivationHyperband
from tests.conftest import client
from tests.sweeps import SCRATCH, run_sweep, study_of, write_config

pytestmark = pytest.mark.slow  # two sweeps of 8 trials

LRS = [0.0003, 0.003, 0.03, 0.1]


@pytest.mark.parametrize("pruner", ["hyperband"])  # successive halving is its bracket 0
def test_a_sweep_prunes_at_the_rungs_only(workdir, tiny_data, pruner):
    config = write_config(
        workdir, **SCRATCH, pruner=pruner, pruner_warmup_epochs=0, max_epochs=9, patience=9, lr=LRS
    )
    assert run_sweep(config, tiny_data) == 0
    trials = study_of(config).trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and len(pruned) < len(trials), "some stop, not all"
    hyperband = PerActivationHyperband(warmup_epochs=0, max_epochs=9)
    for trial in pruned:
        rungs = {1, 3, 9} if pruner == "successive_halving" else {3 ** hyperband.bracket(trial), 9}
        assert trial.last_step in rungs, (trial.number, trial.last_step)
        run = client().get_run(trial.user_attrs["mlflow_run_id"])
        assert run.data.tags["trial_state"] == "PRUNED"
    for activation in ("relu", "tanh"):
        mine = [t for t in trials if t.params["activation"] == activation]
        assert any(t.state == TrialState.COMPLETE for t in mine), "each activation keeps one"
