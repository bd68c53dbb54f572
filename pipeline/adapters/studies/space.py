"""The sweep's space as Optuna sees it: each swept setting's distribution, and the point a
sampler draws for a queued trial of one activation.

Fairness is the design. Every activation gets the same number of trials, queued up front as
placeholders that name only their activation; a point is drawn when a worker claims one (under
the study's lock), by the configured sampler run on an in-memory study that holds that
activation's trials alone: finished ones with their values, running and drawn-but-queued ones
as pending (TPE's constant liar keeps parallel workers off the same point). A good early
activation cannot take another's budget, and a model-based sampler learns within an activation
from that activation's trials only.
"""

from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState, create_trial

from pipeline.adapters.studies.logs import experimental_features
from pipeline.core.schema import objectives
from pipeline.core.schema.config import INITS, OPTIMIZERS, PRECISIONS, unused_settings
from pipeline.core.schema.search_space import INTEGER, Dimension, applicable, param_text, point_key
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import GRID_SAMPLER

# Every choice of a categorical setting, for a grid: Optuna fixes a categorical param's choices
# for a study's life, and a grid extended on a rerun may add one.
ALL_CHOICES = {
    "optimizer": OPTIMIZERS,
    "init": INITS,
    "nesterov": (False, True),
    "precision": PRECISIONS,
}
DRAWS = 32  # draws before a repeat of a point already tried is accepted (a small space)
STARTUP_SHARE = 3  # a model-based sampler samples at random for 1/3 of an activation's trials


def distribution(config: SweepConfig, dimension: Dimension, queued: Any = None) -> BaseDistribution:
    """A setting's distribution: a range as it is; a sampler's list as its choices. A grid's
    list spans its values (and the queued value, which a changed grid may have left out),
    log-scaled for lr as the grid has always recorded it, so points can be added on a rerun."""
    key = dimension.key
    if dimension.is_range:
        low, high = dimension.bounds
        if key in INTEGER:
            return IntDistribution(int(low), int(high), log=dimension.log)
        return FloatDistribution(low, high, log=dimension.log)
    values = [param_text(key, v) for v in dimension.listed]
    if config.sampler != GRID_SAMPLER or key == "hidden_sizes":
        return CategoricalDistribution(values)
    if key in ALL_CHOICES:
        return CategoricalDistribution(ALL_CHOICES[key])
    values += [] if queued is None else [queued]
    if key in INTEGER:
        return IntDistribution(min(values), max(values))
    return FloatDistribution(min(values), max(values), log=key == "lr")


def distributions(
    config: SweepConfig, queued: dict[str, Any] | None = None
) -> dict[str, BaseDistribution]:
    """Every swept setting's distribution (queued: a trial's queued values)."""
    queued = queued or {}
    return {d.key: distribution(config, d, queued.get(d.key)) for d in config.dimensions}


def applying(
    config: SweepConfig, found: dict[str, BaseDistribution], params: dict[str, Any]
) -> dict[str, BaseDistribution]:
    """The distributions of `found` that apply to a point with these params: without the
    settings its optimizer (the sweep's where the point has none) does not have."""
    unused = unused_settings(params.get("optimizer", config.train.optimizer))
    return {key: dist for key, dist in found.items() if key not in unused}


def fits(config: SweepConfig, found: dict[str, BaseDistribution], params: dict[str, Any]) -> bool:
    """Whether the params are a point of these distributions (each that applies there, each
    inside)."""
    for key, dist in applying(config, found, params).items():
        if key not in params:
            return False
        value = params[key]
        if isinstance(dist, CategoricalDistribution):
            if value not in dist.choices:
                return False
        elif isinstance(dist, IntDistribution | FloatDistribution) and not (
            dist.low <= value <= dist.high
        ):
            return False
    return True


def suggest(trial: optuna.Trial, key: str, dist: BaseDistribution) -> Any:
    """Suggest `key` over `dist` through Trial's public suggest_* calls."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(key, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(key, dist.low, dist.high, log=dist.log)
    assert isinstance(dist, FloatDistribution)  # `distribution` makes no other kind
    return trial.suggest_float(key, dist.low, dist.high, log=dist.log)


def ask_point(
    config: SweepConfig, memory: optuna.Study, found: dict[str, BaseDistribution]
) -> dict[str, Any]:
    """One point asked of the in-memory study, define-by-run: the optimizer first (the space's
    order), then only the settings that optimizer has, so a sampler sees the conditional space
    and an Adam point holds no momentum."""
    trial = memory.ask()
    point: dict[str, Any] = {}
    for key, dist in found.items():
        if key in applying(config, {key: dist}, point):
            point[key] = suggest(trial, key, dist)
    return point


def make_sampler(config: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    """The configured sampler (`random`, `tpe` with constant liar, `gp`), seeded per draw."""
    startup = max(2, config.trials_per_activation // STARTUP_SHARE)
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with experimental_features():
        if config.sampler == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=startup,
            constant_liar=True,
            multivariate=True,
            group=True,  # a conditional space (momentum for SGD alone): TPE per group of keys
        )


def _copy(
    config: SweepConfig, trial: FrozenTrial, found: dict[str, BaseDistribution]
) -> FrozenTrial:
    """A trial of the activation as the in-memory study holds it: finished with its value (a
    pruned one with the epochs it reported), else pending."""
    found = applying(config, found, trial.params)
    params = {key: trial.params[key] for key in found}
    if trial.state == TrialState.COMPLETE:
        return create_trial(values=trial.values, params=params, distributions=found)
    if trial.state == TrialState.PRUNED:
        return create_trial(
            state=TrialState.PRUNED,
            params=params,
            distributions=found,
            intermediate_values=dict(trial.intermediate_values),
        )
    return create_trial(state=TrialState.RUNNING, params=params, distributions=found)


def draw_point(config: SweepConfig, peers: list[FrozenTrial], seed: int) -> dict[str, Any]:
    """A new point for a trial of one activation: the sampler on an in-memory study of that
    activation's trials (`peers`: finished, running, or drawn and queued). A point already
    tried is drawn again (the pending draw stays in the study, so a model-based sampler moves
    off it) up to DRAWS times; a space with fewer points than trials repeats one."""
    found = distributions(config)
    directions = objectives.directions(config.objective)  # a multi-objective sampler's too
    memory = optuna.create_study(directions=directions, sampler=make_sampler(config, seed))
    tried = set()
    for peer in peers:
        if fits(config, found, peer.params):
            memory.add_trial(_copy(config, peer, found))
            drawn = applicable(peer.params, config.train.optimizer)
            tried.add(point_key({key: drawn[key] for key in found if key in drawn}))
    with experimental_features():
        for _ in range(DRAWS):
            point = ask_point(config, memory, found)
            if point_key(point) not in tried:
                break
    return point
