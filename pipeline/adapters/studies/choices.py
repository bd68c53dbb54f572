"""The one rule that ranks a study's configurations, for its report and its registry alike.

A configuration (an activation and every swept setting) scores the mean validation accuracy of
its answer runs (the replicate phase's seeds); an activation without replicates is scored by
its grid's best trial alone. The model that stands for a configuration is the run whose
validation accuracy is closest to that mean (of equals, the lowest seed): a typical run of it,
never its luckiest seed.
"""

from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from pipeline.adapters.studies.queries import best_trials, score, space_keys, trials
from pipeline.adapters.studies.study import Study
from pipeline.core.schema import objectives
from pipeline.core.schema.vocabulary import Phase, UserAttr


@dataclass(frozen=True)
class Choice:
    activation: str
    params: dict[str, Any] = field(compare=False)  # its configuration, as Optuna holds it
    score: float  # its first objective's mean over its answer seeds, or its grid trial's
    seeds: int  # answer seeds behind the score; 0: the grid's trial alone
    run_id: str  # the run that stands for it
    runs: frozenset[str] = field(compare=False)  # every run of the configuration's score

    @property
    def configuration(self) -> str:
        """Its settings beside the activation, as text: "lr 0.03, optimizer sgd"."""
        settings = [(k, v) for k, v in self.params.items() if k != "activation"]
        return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in settings)

    @property
    def basis(self) -> str:
        return f"mean of {self.seeds} answer seeds" if self.seeds else "the grid's trial alone"


def _configuration(trial: FrozenTrial, keys: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """(key, value) of its activation and every swept setting but the seed."""
    keys = ("activation", *(key for key in keys if key not in ("activation", "seed")))
    return tuple((key, trial.params[key]) for key in keys if key in trial.params)


def _from_replicates(found: list[FrozenTrial], keys: tuple[str, ...]) -> Choice:
    """A configuration's answer runs, scored by their mean, stood for by the closest run."""
    mean = sum(score(t) for t in found) / len(found)
    typical = min(found, key=lambda t: (abs(score(t) - mean), t.user_attrs.get("seed", 0)))
    return Choice(
        activation=typical.params["activation"],
        params=dict(_configuration(typical, keys)),
        score=mean,
        seeds=len(found),
        run_id=typical.user_attrs[UserAttr.MLFLOW_RUN_ID],
        runs=frozenset(t.user_attrs[UserAttr.MLFLOW_RUN_ID] for t in found),
    )


def configurations(study: Study) -> list[Choice]:
    """Every configuration the rule can score: each with replicates, and for an activation
    without any, its grid's best trial."""
    keys = space_keys(study)
    groups: dict[tuple[tuple[str, Any], ...], list[FrozenTrial]] = {}
    for trial in trials(study, TrialState.COMPLETE, of_phase=Phase.REPLICATE):
        if trial.params.get("activation") in study.config.activations:
            groups.setdefault(_configuration(trial, keys), []).append(trial)
    scored = [_from_replicates(found, keys) for found in groups.values()]
    replicated = {choice.activation for choice in scored}
    for activation, best in best_trials(study).items():
        if activation not in replicated:
            run = frozenset({best.run_id})
            scored.append(Choice(activation, best.params, best.score, 0, best.run_id, run))
    return scored


def choices(study: Study, scored: list[Choice]) -> dict[str, Choice]:
    """Each activation's choice among `scored` (its `configurations`), in the study's order of
    activations; of equal scores, the configuration seen first."""
    best: dict[str, Choice] = {}
    objective = study.config.objective[0]
    for choice in scored:
        held = best.get(choice.activation)
        if held is None or objectives.better(objective, choice.score, held.score):
            best[choice.activation] = choice
    return {a: best[a] for a in study.config.activations if a in best}


def champion(study: Study, chosen: dict[str, Choice]) -> Choice:
    """The best of the activations' choices; of equals, the first in the study's order."""
    best = None
    for choice in chosen.values():
        if best is None or objectives.better(study.config.objective[0], choice.score, best.score):
            best = choice
    if best is None:
        raise ValueError("no activation has a choice: there is no champion")
    return best


def configuration_of(scored: list[Choice], run_id: str) -> Choice | None:
    """The configuration of `scored` a run belongs to (None: a run the rule does not score, such
    as a grid trial of an activation that has replicates, or a run of another study)."""
    for choice in scored:
        if run_id in choice.runs:
            return choice
    return None
