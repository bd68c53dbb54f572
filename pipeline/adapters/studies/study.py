"""The handle on one sweep's Optuna study: open it in its storage (creating it, or loading one
that must exist), its user attributes, its trials' ids, and the trials this process claimed:
each handed out as a `ClaimedTrial` (its point and training config), its Optuna trial kept
here, and the calls a worker makes on it (report an epoch, ask the pruner, record its run and
worker, tell how it ended)."""

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)
from optuna.storages import RDBStorage
from optuna.trial import Trial, TrialState

from pipeline.adapters.studies import space
from pipeline.adapters.studies.pruner import make_pruner
from pipeline.adapters.studies.storage import (
    OnOrphan,
    open_storage,
    storage_url,
    study_lock,
)
from pipeline.core.network.activations import NAMES, is_custom
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.urls import redact, storage_file, storage_kind
from pipeline.core.schema import objectives
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.search_space import Dimension
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import Phase, TrialEnd, UserAttr


@dataclass(frozen=True)
class ClaimedTrial:
    """A trial this process claimed, as the workflows hold it: its number, its phase, its point
    (activation, lr and every other swept setting) and its training config (the sweep's at that
    point; a replicate's seed, and a replicate's or reference trial's budget and lr schedule).
    What is told about it goes back through the `Study` that claimed it."""

    number: int
    phase: Phase
    point: dict[str, Any]
    config: TrainConfig

    @property
    def activation(self) -> str:
        return self.config.activation

    @property
    def lr(self) -> float:
        return self.config.lr

    @property
    def seed(self) -> int:
        return self.config.seed


class Study:
    """One sweep's Optuna study in its storage. `on_orphan` is told about each trial whose
    worker died, when it is failed (its MLflow run id, or None, and why)."""

    def __init__(self, config: SweepConfig, create: bool, on_orphan: OnOrphan):
        self.config, self.url, self.on_orphan = config, storage_url(config), on_orphan
        storage_kind(self.url)
        local_file = storage_file(self.url)
        if not create and local_file is not None and not local_file.exists():
            raise self._no_study()  # and do not create an empty database file on the way
        self.storage = open_storage(self.url, config.heartbeat_interval, on_orphan)
        making: dict[str, Any] = {"directions": self.directions, "load_if_exists": True}
        try:
            self.optuna_study = (optuna.create_study if create else optuna.load_study)(
                study_name=config.study,
                storage=self.storage,
                pruner=make_pruner(config),
                **(making if create else {}),
            )
        except KeyError:
            raise self._no_study() from None
        self.study_id = self.storage.get_study_id_from_name(config.study)
        self._held: dict[int, Trial] = {}  # the Optuna trials of the claimed, by number
        if create and self.optuna_study.metric_names is None:
            # The objectives' names, where optuna-dashboard and Optuna's plots show it (a public
            # API Optuna still marks experimental: its warning would only alarm a user).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.optuna_study.set_metric_names(list(config.objective))
        self._check_choices()

    @property
    def directions(self) -> list[objectives.Direction]:
        return objectives.directions(self.config.objective)

    @property
    def activation_choices(self) -> tuple[str, ...]:
        """The activation param's choices: the registered names and the study's own ones.
        Optuna keeps a categorical param's choices fixed for the life of a study."""
        return NAMES + tuple(name for name in self.config.activations if is_custom(name))

    def _check_choices(self) -> None:
        """A study's custom activations, and the kinds of its swept settings (a choice of
        values, a log or linear range), are set when it is made: a change is a new study, said
        before anything is written."""
        seen: set[str] = set()
        wanted: dict[str, BaseDistribution] = {
            "activation": CategoricalDistribution(self.activation_choices)
        }
        wanted.update(space.distributions(self.config))
        for trial in self.optuna_study.get_trials(deepcopy=False):
            for key, found in trial.distributions.items():
                if key in seen or key not in wanted:
                    continue
                seen.add(key)
                try:
                    check_distribution_compatibility(found, wanted[key])
                except ValueError:
                    raise PipelineError(self._changed(key, found)) from None

    def _changed(self, key: str, found: BaseDistribution) -> str:
        if key == "activation" and isinstance(found, CategoricalDistribution):
            was = [c for c in found.choices if is_custom(str(c))] or "none"
            return (
                f"study {self.config.study!r} was made with custom activations {was}; "
                "its activations cannot change to others of your own: give `study:` a new "
                "name for this list"
            )
        now = space.distribution(self.config, self._dimension(key))
        return (
            f"study {self.config.study!r} was made with {key} as {_kind(found)}; it cannot "
            f"become {_kind(now)} (a sampler's list is a choice, a grid's a range): give "
            f"`study:` a new name for this {key}"
        )

    def _dimension(self, key: str) -> Dimension:
        return next(d for d in self.config.dimensions if d.key == key)

    def _no_study(self) -> PipelineError:
        return PipelineError(
            f"study {self.config.study!r} does not exist in {redact(self.url)}; create it once, "
            "on one machine, with `make sweep SWEEP=<config>` (it queues the trials), then start "
            "`make worker SWEEP=<config>` on the others"
        )

    @property
    def has_heartbeat(self) -> bool:
        return isinstance(self.storage, RDBStorage)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The study's lock while the block runs: a lock file, or the server's lock."""
        return study_lock(self.url, self.config.study)

    def attr(self, key: str) -> str | None:
        return self.optuna_study.user_attrs.get(key)

    def set_attr(self, key: str, value: str) -> None:
        self.optuna_study.set_user_attr(key, value)

    def trial_id(self, number: int) -> int:
        """The storage's id of the study's trial `number`."""
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def hold(self, trial: Trial) -> ClaimedTrial:
        """A trial just claimed (RUNNING) given its point, handed out as a `ClaimedTrial`; its
        Optuna trial stays here until it is told."""
        point = self._suggest(trial)
        phase = Phase(trial.user_attrs.get(UserAttr.PHASE, Phase.GRID))
        self._held[trial.number] = trial
        return ClaimedTrial(trial.number, phase, point, self._train_config(trial, point))

    def _suggest(self, trial: Trial) -> dict[str, Any]:
        """The trial's point (its activation, lr and every other swept setting), as params over
        the distributions they come from: queued by the grid or a replicate, or drawn when it
        was claimed. A replicate's seed is its own (a user attr), not a point of the space."""
        queued = trial.user_attrs
        point = {"activation": trial.suggest_categorical("activation", self.activation_choices)}
        for key, dist in space.distributions(self.config, queued).items():
            if key == "seed" and queued.get(UserAttr.PHASE) == Phase.REPLICATE:
                continue
            if key in space.applying(self.config, {key: dist}, point):  # Adam: no momentum
                point[key] = space.suggest(trial, key, dist)
        return point

    def _train_config(self, trial: Trial, point: dict[str, Any]) -> TrainConfig:
        """The training config of a claimed trial: the sweep's at the trial's point; a
        replicate's seed, and a replicate's or reference trial's budget and lr schedule, come
        from the user attrs it was queued with."""
        queued = trial.user_attrs
        if queued.get(UserAttr.PHASE) not in (Phase.REPLICATE, Phase.REFERENCE):
            return self.config.point_config(point)
        seed = int(queued["seed"]) if "seed" in queued else None
        config = self.config.point_config(point, seed=seed)
        return config.replace(
            max_epochs=queued["max_epochs"],
            patience=queued["patience"],
            lr_schedule=queued.get("lr_schedule", "constant"),  # queued before it was an attr
        )

    def report(self, claimed: ClaimedTrial, value: float, epoch: int) -> None:
        """An epoch's value of the first objective, what the pruner judges."""
        self._held[claimed.number].report(value, epoch)

    def should_prune(self, claimed: ClaimedTrial) -> bool:
        return self._held[claimed.number].should_prune()

    def set_run_id(self, claimed: ClaimedTrial, run_id: str) -> None:
        """The trial's MLflow run."""
        self._held[claimed.number].set_user_attr(UserAttr.MLFLOW_RUN_ID, run_id)

    def run_id(self, claimed: ClaimedTrial) -> str | None:
        """The MLflow run this process recorded for the trial, if any (until it is told)."""
        held = self._held.get(claimed.number)
        return None if held is None else held.user_attrs.get(UserAttr.MLFLOW_RUN_ID)

    def set_worker(self, claimed: ClaimedTrial, worker: str) -> None:
        """Which process trains it (host:pid): whose log to read, or which process to stop."""
        self._held[claimed.number].set_user_attr(UserAttr.WORKER, worker)

    def tell(
        self,
        claimed: ClaimedTrial,
        state: TrialEnd,
        values: float | list[float] | None = None,
        *,
        reason: str | None = None,
        at_chance: bool | None = None,
    ) -> None:
        """state: COMPLETE (with the objectives' values, in the config's order), PRUNED or
        FAIL; `reason` (why it stopped) and `at_chance` recorded first where given. Each step
        can be made again, as `outlasting` does. The trial is no longer held once told, or once
        found finished by another (a reaper that failed it)."""
        trial = self._held[claimed.number]
        try:
            if reason is not None:
                trial.set_user_attr(UserAttr.STOP_REASON, reason)
            if at_chance is not None:
                trial.set_user_attr(UserAttr.AT_CHANCE, at_chance)
            self.optuna_study.tell(
                trial, values if state == TrialEnd.COMPLETE else None, state=TrialState[state]
            )
        except optuna.exceptions.UpdateFinishedTrialError:
            del self._held[claimed.number]
            raise
        del self._held[claimed.number]


def _kind(dist: BaseDistribution) -> str:
    """`a choice of [32, 64]`, `a log range`: what a distribution is, for a message."""
    if isinstance(dist, CategoricalDistribution):
        return f"a choice of {list(dist.choices)}"
    logged = isinstance(dist, IntDistribution | FloatDistribution) and dist.log
    return "a log range" if logged else "a linear range"
