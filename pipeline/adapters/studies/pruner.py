"""The sweep's pruners, each within one activation: median pruning, successive halving and
Hyperband, comparing a trial only with its own activation's grid trials at the same epoch."""

import statistics
import zlib
from collections.abc import Iterator

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import Phase, UserAttr

PEERS = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
REDUCTION_FACTOR = 3  # successive halving keeps the best third at each rung (Optuna's default)


def _grid(trial: FrozenTrial) -> bool:
    return bool(trial.user_attrs.get(UserAttr.PHASE, Phase.GRID) == Phase.GRID)


def _best_by(trial: FrozenTrial, step: int, sign: int) -> float:
    """Its best value up to `step`, times `sign` (-1 for a minimised objective: higher is
    better)."""
    return max(sign * value for epoch, value in trial.intermediate_values.items() if epoch <= step)


class PerActivationPruner(optuna.pruners.BasePruner):
    """What the three share: no pruning at or before `warmup_epochs`, nor of a trial at the
    reference lr, nor of a replicate (user attr `phase`), which runs at a budget of its own
    after the grid; peers are the trial's activation's other grid trials (finished, pruned or
    still running: trials in a stack run in lockstep and prune each other)."""

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
            t
            for t in study.get_trials(deepcopy=False, states=PEERS)
            if t.number != trial.number
            and _grid(t)
            and t.params.get("activation") == activation
            and step in t.intermediate_values
        ]
        sign = 1 if study.direction == StudyDirection.MAXIMIZE else -1  # val_loss: -1
        return self.stops(trial, peers, step, sign)

    def stops(self, trial: FrozenTrial, peers: list[FrozenTrial], step: int, sign: int) -> bool:
        raise NotImplementedError


class PerActivationMedianPruner(PerActivationPruner):
    """A trial stops when its best value so far is below the median of what its activation's
    other trials reached at this epoch. Optuna's MedianPruner compares with completed trials
    only, and with every activation: a slow starter such as sigmoid would be cut before its lr
    got a chance."""

    def stops(self, trial: FrozenTrial, peers: list[FrozenTrial], step: int, sign: int) -> bool:
        if not peers:
            return False
        values = [sign * t.intermediate_values[step] for t in peers]
        return _best_by(trial, step, sign) < statistics.median(values)


class PerActivationSuccessiveHalving(PerActivationPruner):
    """Asynchronous successive halving: rungs at epochs m, m·η, m·η², ... (m the first epoch
    after the warm-up, η = 3, shifted by `rate` rungs); at a rung a trial goes on only if its
    best value so far is among the best 1/η of its activation's trials there (itself included;
    the first to arrive always goes on). Optuna's SuccessiveHalvingPruner, with its rungs read
    from the epochs' values rather than kept in the storage, and peers of one activation."""

    def rung_steps(self, last: int, rate: int = 0) -> Iterator[int]:
        step = (self.warmup_epochs + 1) * REDUCTION_FACTOR**rate
        while step <= last:
            yield step
            step *= REDUCTION_FACTOR

    def stops(self, trial: FrozenTrial, peers: list[FrozenTrial], step: int, sign: int) -> bool:
        return self.halves(trial, peers, step, sign, rate=0)

    def halves(
        self, trial: FrozenTrial, peers: list[FrozenTrial], step: int, sign: int, rate: int
    ) -> bool:
        if step not in self.rung_steps(step, rate):
            return False
        value = _best_by(trial, step, sign)
        competing = sorted([value, *(_best_by(t, step, sign) for t in peers)], reverse=True)
        kept = max(1, len(competing) // REDUCTION_FACTOR)
        return value < competing[kept - 1]


class PerActivationHyperband(PerActivationSuccessiveHalving):
    """Hyperband: successive halving in brackets that start pruning later and later (bracket b
    has its first rung b rungs on), a trial's bracket fixed by a hash of its number; a trial
    competes only within its activation and its bracket. Brackets: as many as rungs fit in
    `max_epochs`."""

    def __init__(self, warmup_epochs: int, max_epochs: int, reference_lr: float | None = None):
        super().__init__(warmup_epochs, reference_lr)
        self.brackets = max(1, len(list(self.rung_steps(max_epochs))))

    def bracket(self, trial: FrozenTrial) -> int:
        return zlib.crc32(str(trial.number).encode()) % self.brackets

    def stops(self, trial: FrozenTrial, peers: list[FrozenTrial], step: int, sign: int) -> bool:
        rate = self.bracket(trial)
        mine = [t for t in peers if self.bracket(t) == rate]
        return self.halves(trial, mine, step, sign, rate)


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    """The config's pruner, within each activation; or none."""
    warmup, reference = config.pruner_warmup_epochs, config.reference_lr
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    if config.pruner == "successive_halving":
        return PerActivationSuccessiveHalving(warmup, reference)
    if config.pruner == "hyperband":
        return PerActivationHyperband(warmup, config.train.max_epochs, reference)
    return PerActivationMedianPruner(warmup, reference)
