"""What a study's workers do now, read from its storage alone: the live workers (the roster),
the trials in progress (each with its point, phase, seed and the epoch it reached), and the
queue by state. It writes nothing."""

from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from pipeline.adapters.studies.queries import FINISHED, phase, trials
from pipeline.adapters.studies.roster import Member, members
from pipeline.adapters.studies.study import Study
from pipeline.core.schema.vocabulary import UserAttr


@dataclass(frozen=True)
class Held:
    """A trial in progress."""

    number: int
    activation: str
    configuration: str  # its settings beside the activation: "lr 0.02, batch_size 32"
    phase: str
    seed: int
    epoch: int  # the last epoch it reported; 0 before its first
    worker: str | None  # host:pid of the process that claimed it


@dataclass(frozen=True)
class Overview:
    members: list[Member]
    held: list[Held]
    queue: dict[str, int]  # waiting, running, finished, failed

    def held_by(self, member: Member) -> list[Held]:
        return [h for h in self.held if h.worker == member.name]

    @property
    def unattended(self) -> list[Held]:
        """Trials in progress whose process is not live: failed and retried once stale."""
        live = {m.name for m in self.members}
        return [h for h in self.held if h.worker not in live]


def overview(study: Study) -> Overview:
    found = trials(study)
    count = {
        "waiting": [TrialState.WAITING],
        "running": [TrialState.RUNNING],
        "finished": list(FINISHED),
        "failed": [TrialState.FAIL],
    }
    queue = {name: sum(t.state in states for t in found) for name, states in count.items()}
    held = [_held(study, t) for t in found if t.state == TrialState.RUNNING]
    return Overview(members(study), held, queue)


def _held(study: Study, trial: FrozenTrial) -> Held:
    values = {**trial.user_attrs, **trial.params}
    settings = [(k, v) for k, v in trial.params.items() if k not in ("activation", "seed")]
    configuration = ", ".join(
        f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in settings
    )
    return Held(
        number=trial.number,
        activation=str(values.get("activation", "?")),
        configuration=configuration or "(point not drawn yet)",
        phase=phase(trial),
        seed=int(values.get("seed", study.config.train.seed)),
        epoch=max(trial.intermediate_values, default=0),
        worker=trial.user_attrs.get(UserAttr.WORKER),
    )
