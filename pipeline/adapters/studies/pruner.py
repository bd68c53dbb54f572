"""The sweep's pruner: median pruning within each activation, at the same epoch."""

import statistics

import optuna
from optuna.trial import FrozenTrial, TrialState

from pipeline.core.config import GRID
from pipeline.core.sweep_config import SweepConfig


def _grid(trial: FrozenTrial) -> bool:
    return trial.user_attrs.get("phase", GRID) == GRID


class PerActivationMedianPruner(optuna.pruners.BasePruner):
    """Median pruning among trials of the same activation only, at the same epoch.

    A trial stops when its best value so far is below the median of what its activation's other
    trials (finished, pruned or still running) reached at this epoch. Comparing at the same epoch
    with running trials too is what lets trials that run in lockstep (a stack) prune each other;
    Optuna's MedianPruner compares with completed trials only, and with every activation: a slow
    starter such as sigmoid would be cut before its lr got a chance. Trials at the reference lr
    are never pruned. Nor are the replicates (user attr `phase`), which run at a budget of
    their own after the grid: the grid prunes only grid trials, against grid trials.
    """

    PEERS = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)

    def __init__(self, warmup_epochs: int, reference_lr: float | None = None):
        self.warmup_epochs = warmup_epochs
        self.reference_lr = reference_lr

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step <= self.warmup_epochs or not _grid(trial):
            return False
        if self.reference_lr is not None and trial.params.get("lr") == self.reference_lr:
            return False
        activation = trial.params.get("activation")
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=self.PEERS)
            if t.number != trial.number
            and _grid(t)
            and t.params.get("activation") == activation
            and step in t.intermediate_values
        ]
        if not peers:
            return False
        return max(trial.intermediate_values.values()) < statistics.median(peers)


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    """The config's pruner: per-activation median pruning, or none."""
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    return PerActivationMedianPruner(config.pruner_warmup_epochs, config.reference_lr)
