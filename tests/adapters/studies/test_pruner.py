"""The sweep's pruners, each within one activation: median pruning at the same epoch,
successive halving and Hyperband at their rungs."""

import optuna
from hypothesis import given
from hypothesis import strategies as st
from optuna.trial import TrialState

from pipeline.adapters import studies
from pipeline.adapters.studies.pruner import (
    PerActivationHyperband,
    PerActivationSuccessiveHalving,
)
from pipeline.core.schema.sweep_config import SweepConfig


def test_the_pruner_compares_a_trial_only_with_its_own_activation():
    study = optuna.create_study(direction="maximize")
    distributions = {
        "activation": optuna.distributions.CategoricalDistribution(["relu", "sigmoid"]),
        "lr": optuna.distributions.FloatDistribution(1e-6, 1e3, log=True),
    }

    def add(activation: str, lr: float, curve: list[float], state=TrialState.COMPLETE):
        trial = optuna.trial.create_trial(
            params={"activation": activation, "lr": lr},
            distributions=distributions,
            value=max(curve) if state == TrialState.COMPLETE else None,
            state=state,
            intermediate_values=dict(enumerate(curve, start=1)),
        )
        study.add_trial(trial)
        return study.get_trials()[-1]

    add("relu", 0.1, [0.80, 0.85, 0.88, 0.90])
    pruner = studies.PerActivationMedianPruner(warmup_epochs=2, reference_lr=0.001)
    slow_sigmoid = add("sigmoid", 0.1, [0.10, 0.10, 0.30], state=TrialState.RUNNING)
    assert not pruner.prune(study, slow_sigmoid), "no sigmoid reference yet: never pruned"
    slow_relu = add("relu", 0.01, [0.50, 0.60, 0.70], state=TrialState.RUNNING)
    assert pruner.prune(study, slow_relu)
    early_relu = add("relu", 0.02, [0.50, 0.60], state=TrialState.RUNNING)
    assert not pruner.prune(study, early_relu), "still within the warm-up epochs"
    reference = add("relu", 0.001, [0.50, 0.60, 0.70], state=TrialState.RUNNING)
    assert not pruner.prune(study, reference), "the reference lr is never pruned"


def test_trials_running_in_lockstep_prune_each_other_at_the_same_epoch():
    """No trial has finished, as in a stack: the same activation's running trials are the peers."""
    study = optuna.create_study(direction="maximize")
    distributions = {
        "activation": optuna.distributions.CategoricalDistribution(["relu", "tanh"]),
        "lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
    }

    def running(activation: str, lr: float, curve: list[float]):
        study.add_trial(
            optuna.trial.create_trial(
                params={"activation": activation, "lr": lr},
                distributions=distributions,
                state=TrialState.RUNNING,
                intermediate_values=dict(enumerate(curve, start=1)),
            )
        )
        return study.get_trials()[-1]

    pruner = studies.PerActivationMedianPruner(warmup_epochs=1, reference_lr=0.001)
    good = running("relu", 0.1, [0.8, 0.85])
    bad = running("relu", 0.3, [0.4, 0.45])
    reference = running("relu", 0.001, [0.3, 0.35])
    other = running("tanh", 0.3, [0.2, 0.25])
    assert pruner.prune(study, bad), "below the median of its running peers at epoch 2"
    assert not pruner.prune(study, good)
    assert not pruner.prune(study, reference), "the reference lr is never pruned"
    assert not pruner.prune(study, other), "no other tanh trial: nothing to compare with"


def test_replicates_are_never_pruned_nor_a_grid_trials_peers():
    """A replicate trains longer at one lr after the grid: it is not the grid's to prune, and
    its curve is not a reference for grid trials."""
    study = optuna.create_study(direction="maximize")
    distributions = {
        "activation": optuna.distributions.CategoricalDistribution(["relu"]),
        "lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
    }

    def running(lr: float, curve: list[float], **user_attrs):
        study.add_trial(
            optuna.trial.create_trial(
                params={"activation": "relu", "lr": lr},
                distributions=distributions,
                state=TrialState.RUNNING,
                intermediate_values=dict(enumerate(curve, start=1)),
                user_attrs=user_attrs,
            )
        )
        return study.get_trials()[-1]

    pruner = studies.PerActivationMedianPruner(warmup_epochs=1, reference_lr=None)
    replicate = {"phase": "replicate", "seed": 43}
    for _ in range(3):
        running(0.03, [0.9, 0.95], **replicate)
    weak_grid = running(0.3, [0.5, 0.6])
    assert not pruner.prune(study, weak_grid), "replicates are no peers: nothing to compare with"
    weak_replicate = running(0.03, [0.4, 0.45], **replicate)
    assert not pruner.prune(study, weak_replicate), "below its peers, yet a replicate"
    running(0.1, [0.8, 0.85], phase="grid")
    assert pruner.prune(study, weak_grid), "a grid trial is judged against grid trials"


def test_make_pruner_follows_the_config():
    median = studies.make_pruner(SweepConfig(pruner_warmup_epochs=2, reference_lr=0.003))
    assert isinstance(median, studies.PerActivationMedianPruner)
    assert (median.warmup_epochs, median.reference_lr) == (2, 0.003)
    assert isinstance(studies.make_pruner(SweepConfig(pruner="none")), optuna.pruners.NopPruner)


# --- successive halving and Hyperband, within each activation --------------------------------

curves = st.lists(st.floats(0.05, 0.95), min_size=4, max_size=4)


def lockstep(
    relu: list[list[float]], tanh: list[list[float]], direction: str = "maximize"
) -> tuple[optuna.Study, list]:
    """A study whose trials all run, relu's and tanh's in turn, each with its curve so far."""
    study = optuna.create_study(direction=direction)
    distributions = {
        "activation": optuna.distributions.CategoricalDistribution(["relu", "tanh"]),
        "lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
    }
    for activation, found in (("relu", relu), ("tanh", tanh)):
        for index, curve in enumerate(found):
            study.add_trial(
                optuna.trial.create_trial(
                    params={"activation": activation, "lr": 0.01 * (index + 1)},
                    distributions=distributions,
                    state=TrialState.RUNNING,
                    intermediate_values=dict(enumerate(curve, start=1)),
                )
            )
    return study, study.get_trials()


@given(relu=st.lists(curves, min_size=1, max_size=9), tanh=st.lists(curves, max_size=6))
def test_successive_halving_keeps_the_best_third_of_each_activation_at_a_rung(relu, tanh):
    """Rungs at epochs 1 and 3 (no warm-up): at a rung, of n trials of an activation in
    lockstep, the best max(1, n // 3) by their best value so far go on; between rungs none
    stops; the other activation's trials change nothing."""
    pruner = PerActivationSuccessiveHalving(warmup_epochs=0)
    for step in (1, 2, 3, 4):
        curves_at = [c[:step] for c in relu]
        study, trials = lockstep(curves_at, [c[:step] for c in tanh])
        stopped = [pruner.prune(study, t) for t in trials[: len(relu)]]
        alone, _ = lockstep(curves_at, [])
        assert stopped == [pruner.prune(alone, t) for t in alone.get_trials()], "per activation"
        if step not in (1, 3):
            assert not any(stopped)
            continue
        best = sorted((max(c) for c in curves_at), reverse=True)
        kept = max(1, len(relu) // 3)
        assert stopped == [max(c) < best[kept - 1] for c in curves_at]


@given(relu=st.lists(curves, min_size=2, max_size=12))
def test_hyperband_halves_each_bracket_on_its_own_rungs(relu):
    """Three rungs fit 9 epochs after a warm-up of 0 (1, 3, 9): three brackets; bracket b starts
    at rung b, so at epoch 1 only bracket 0 prunes, and a trial competes within its bracket."""
    pruner = PerActivationHyperband(warmup_epochs=0, max_epochs=9)
    assert pruner.brackets == 3
    study, trials = lockstep([c[:1] for c in relu], [])
    for trial in trials:
        bracket = pruner.bracket(trial)
        if bracket > 0:
            assert not pruner.prune(study, trial), "its first rung is later"
            continue
        mine = [max(t.intermediate_values.values()) for t in trials if pruner.bracket(t) == 0]
        best = sorted(mine, reverse=True)[max(1, len(mine) // 3) - 1]
        assert pruner.prune(study, trial) == (trial.intermediate_values[1] < best)


def test_the_config_names_the_pruner_and_its_mistakes():
    base = {"study": "s", "lr": [0.01, 0.1], "max_epochs": 9, "pruner_warmup_epochs": 0}
    for name, kind in (
        ("successive_halving", PerActivationSuccessiveHalving),
        ("hyperband", PerActivationHyperband),
        ("median", studies.PerActivationMedianPruner),
    ):
        pruner = studies.make_pruner(SweepConfig.from_mapping({**base, "pruner": name}))
        assert type(pruner) is kind
    assert (
        studies.make_pruner(SweepConfig.from_mapping({**base, "pruner": "Hyperband"})).brackets == 3
    )


@given(relu=st.lists(curves, min_size=1, max_size=9), step=st.integers(1, 4))
def test_a_minimised_objective_is_pruned_as_its_negation_is_maximised(relu, step):
    """objective: val_loss: a study that minimises, its curves losses. Each pruner stops the
    same trials as on a maximised study of the negated curves: the lowest loss is the best."""
    curves_at = [c[:step] for c in relu]
    losses, _ = lockstep(curves_at, [], direction="minimize")
    negated, _ = lockstep([[-v for v in c] for c in curves_at], [])
    for pruner in (
        studies.PerActivationMedianPruner(warmup_epochs=0),
        PerActivationSuccessiveHalving(warmup_epochs=0),
        PerActivationHyperband(warmup_epochs=0, max_epochs=9),
    ):
        stopped = [pruner.prune(losses, t) for t in losses.get_trials()]
        assert stopped == [pruner.prune(negated, t) for t in negated.get_trials()]
    best = min(range(len(relu)), key=lambda i: min(curves_at[i]))
    trial = losses.get_trials()[best]
    assert not studies.PerActivationMedianPruner(0).prune(losses, trial), "the lowest loss goes on"
