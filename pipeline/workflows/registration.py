"""A study's models in the registry: its own registered model (named as the study), an alias
per activation on that activation's choice under the study's rule, and @champion on the best of
them. An alias moves only when the rule's new choice wins; a rerun that ties keeps the holder."""

import functools
from dataclasses import dataclass
from typing import Any

from pipeline.adapters import studies, tracking
from pipeline.core.dataset.data import DataSource
from pipeline.core.dataset.datasets import display_name
from pipeline.core.network.activations import model_alias
from pipeline.core.schema import objectives
from pipeline.core.schema.config import study_model

CHAMPION = "champion"


@dataclass(frozen=True)
class Registered:
    """What an alias holds after a sweep: the configuration and run the rule chose (or, where
    that did not win, the holder's), and whether the alias moved."""

    model: str
    alias: str
    version: str
    run_id: str
    choice: studies.Choice
    moved: bool

    @property
    def uri(self) -> str:
        return f"models:/{self.model}@{self.alias}"

    def as_row(self) -> dict[str, Any]:
        """Its row of the report's registry table (stages/registry_table.py)."""
        choice = self.choice
        return {
            "alias": self.alias,
            "model_uri": self.uri,
            "version": self.version,
            "activation": choice.activation,
            "configuration": choice.configuration,
            "score": choice.score,
            "basis": choice.basis,
            "run_id": self.run_id,
            "moved": self.moved,
        }


def moves(
    choice: studies.Choice, held: studies.Choice | None, held_run: str | None, objective: str
) -> bool:
    """Whether an alias leaves its holder for the rule's choice: always where it holds nothing
    the rule scores; to another run of the same configuration when more seeds made that one
    the closest to the mean; to another configuration only with a better score."""
    if held is None:
        return True
    if held.runs == choice.runs:
        return held_run != choice.run_id
    return objectives.better(objective, choice.score, held.score)


def _place(
    tracker: tracking.Tracker,
    study: studies.Study,
    scored: list[studies.Choice],
    alias: str,
    choice: studies.Choice,
    source: DataSource,
) -> Registered:
    name = study_model(study.config.study)
    version, holder = tracking.alias_holder(tracker, name, alias) or (None, None)
    held = studies.configuration_of(scored, holder) if holder else None
    if held is not None and not moves(choice, held, holder, study.config.objective[0]):
        assert version is not None and holder is not None  # the alias holds a scored run
        return Registered(name, alias, version, holder, held, moved=False)
    tags = {
        "study": study.config.study,
        "rule_score": f"{choice.score:.6f}",
        "rule_basis": choice.basis,
        "configuration": choice.configuration,
    }
    version = tracking.register_run_model(tracker, choice.run_id, [alias], source, name, tags)
    return Registered(name, alias, version, choice.run_id, choice, moved=True)


def register_study(
    tracker: tracking.Tracker, study: studies.Study, source: DataSource
) -> list[Registered]:
    """Put each activation's choice, and the champion, on the study's aliases (where they win);
    describe the study's registered model. What each alias holds afterwards."""
    scored = studies.configurations(study)  # read once: every alias is judged on the same
    chosen = studies.choices(study, scored)
    if not chosen:
        return []
    place = functools.partial(_place, tracker, study, scored, source=source)
    placed = [place(model_alias(a), c) for a, c in chosen.items()]
    placed.append(place(CHAMPION, studies.champion(study, chosen)))
    rule = objectives.registry_rule(study.config.objective)
    name, study_name = study_model(study.config.study), study.config.study
    description = (
        f"The models of study {study_name!r} on {display_name(source.name)}: @<activation> is each "
        f"activation's choice, @{CHAMPION} the best of them, by the study's rule: "
        f"{rule}. An alias moves only when a rerun or extension of the study makes "
        "another choice win; other studies register models of their own."
    )
    metric = study.config.objective[0]
    tags = {"study": study_name, "rule": rule, "metric": metric, "dataset": source.name}
    tracking.describe_model(tracker, name, description, tags)
    return placed
