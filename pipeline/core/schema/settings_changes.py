"""How a rerun's settings compare with those a study recorded when it was made
(SweepConfig.recorded_settings): the keys that changed, said in one line."""

import functools

from pipeline.core.schema.sweep_config import SweepConfig


@functools.cache
def default_settings() -> dict[str, str]:
    return SweepConfig().recorded_settings()


def changed_settings(
    recorded: dict[str, str], current: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """{key: (recorded, current)} of each current setting whose value differs. A key the record
    lacks counts as its default: the code added it after the study was made (its default keeps
    what trials did before), or the study's optimizer did not use it (momentum under Adam). A
    key the current config lacks (unused by its optimizer, or no longer in the code) is not
    compared: nothing trains with it."""
    defaults = default_settings()
    changed = {}
    for key, value in current.items():
        old = recorded.get(key, defaults.get(key, "unset"))
        if old != value:
            changed[key] = (old, value)
    return changed


def describe_changes(changed: dict[str, tuple[str, str]]) -> str:
    """`max_epochs 2 -> 3, patience 2 -> 4`, in key order."""
    return ", ".join(f"{key} {old} -> {new}" for key, (old, new) in sorted(changed.items()))
