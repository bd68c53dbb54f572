"""What a sweep can optimise (`objective:`), each objective's direction and the run metric that
holds it, and the Pareto front of a multi-objective study's trials.

The first objective is a validation measure (val_acc or val_loss): it is what the pruner judges
each epoch and what ranks configurations for the report and the registry. Any others
(epoch_seconds, parameters) are costs the study trades against it.
"""

import math
from collections.abc import Sequence
from typing import Any, Literal

from pipeline.core.process.errors import UsageError
from pipeline.core.schema.fields import did_you_mean, shown

Direction = Literal["minimize", "maximize"]

# name: (direction, the run metric that holds a trial's value)
OBJECTIVES: dict[str, tuple[Direction, str]] = {
    "val_acc": ("maximize", "best_val_acc"),  # the best epoch's validation accuracy
    "val_loss": ("minimize", "best_val_loss"),  # the lowest validation loss of its epochs
    "epoch_seconds": ("minimize", "epoch_seconds"),  # the mean wall time of its epochs
    "parameters": ("minimize", "parameters"),  # the network's trainable parameters
}
FIRST = ("val_acc", "val_loss")
RANKED = {
    "val_acc": "best mean validation accuracy",
    "val_loss": "lowest mean validation loss (each run's lowest epoch)",
}
DEFAULT = ("val_acc",)


def parse(value: Any) -> tuple[str, ...]:
    """`val_acc` or a list such as `[val_acc, epoch_seconds]`, as a tuple of names: a
    validation measure first, then costs, each once."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        raise UsageError(f"objective must be {_allowed()}, got {shown(value)}")
    for index, name in enumerate(names):
        if not isinstance(name, str) or name not in OBJECTIVES:
            hint = did_you_mean(name, OBJECTIVES)
            raise UsageError(
                f"objective must be one of: {', '.join(OBJECTIVES)}, got {shown(name)}{hint}"
            )
        if name in names[:index]:
            raise UsageError(f"objective lists {name!r} twice: {shown(list(names))}")
        if (index == 0) != (name in FIRST):
            raise UsageError(
                f"objective must be {_allowed()}, got {shown(list(names))}: one validation "
                "measure, first"
            )
    return tuple(names)


def _allowed() -> str:
    costs = [n for n in OBJECTIVES if n not in FIRST]
    return f"{' or '.join(FIRST)}, or a list of one of them and any of {', '.join(costs)}"


def directions(names: Sequence[str]) -> list[Direction]:
    return [OBJECTIVES[name][0] for name in names]


def metric(name: str) -> str:
    return OBJECTIVES[name][1]


def better(name: str, value: float, than: float) -> bool:
    """Whether `value` beats `than` on objective `name` (NaN beats nothing)."""
    if math.isnan(value):
        return False
    return value > than if OBJECTIVES[name][0] == "maximize" else value < than


def text(names: Sequence[str]) -> str:
    """`val_acc`, or `val_acc, epoch_seconds`: as a sweep's settings record it."""
    return ", ".join(names)


def pareto_front(points: Sequence[Sequence[float]], names: Sequence[str]) -> list[int]:
    """The indexes of the points no other point dominates (at least as good on every
    objective, better on one), in their order; points with a NaN are left out."""
    signs = [1 if direction == "maximize" else -1 for direction in directions(names)]
    scored = [
        (index, [s * v for s, v in zip(signs, point, strict=True)])
        for index, point in enumerate(points)
        if not any(math.isnan(v) for v in point)
    ]

    def dominated(mine: list[float]) -> bool:
        return any(
            all(o >= m for o, m in zip(other, mine, strict=True)) and other != mine
            for _, other in scored
        )

    return [index for index, mine in scored if not dominated(mine)]


def registry_rule(names: Sequence[str]) -> str:
    """The rule that ranks a study's configurations and fills its registry, in words: the
    mean of the first objective over the answer seeds (the other objectives register nothing:
    the report's Pareto front shows what they trade)."""
    rule = (
        f"the {RANKED[names[0]]} over the answer seeds (the replicates), registered as the seed "
        "run closest to that mean (of equals, the lowest seed); an activation without "
        "replicates: the grid's best trial"
    )
    if len(names) == 1:
        return rule
    return (
        f"{rule}; of the study's objectives ({text(names)}) the first alone ranks, the others "
        "are traded in the report's Pareto front"
    )


def formatted(name: str, value: float) -> str:
    """A value as the report shows it: accuracy in percent, loss and seconds to 4 significant
    digits, parameters whole."""
    if name == "val_acc":
        return f"{100 * value:.2f}%"
    return f"{value:,.0f}" if name == "parameters" else f"{value:.4g}"
