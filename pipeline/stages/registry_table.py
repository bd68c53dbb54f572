"""Stage: a study's registry as its report states it: each alias, the version it holds, the
configuration and run behind it, its score under the study's rule, and whether it moved."""

from typing import Any

import pandas as pd

from pipeline.core.schema import objectives

COLUMNS = (
    "alias",
    "model_uri",
    "version",
    "activation",
    "configuration",
    "score",
    "basis",
    "run_id",
    "moved",
)


def registry_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The aliases as rows (`Registered.as_row`), in the order they were placed."""
    return pd.DataFrame(rows, columns=list(COLUMNS))


def registry_markdown(
    frame: pd.DataFrame, study: str, objective: tuple[str, ...] = objectives.DEFAULT
) -> str:
    """The registry section: a table and the rule that filled it."""
    lines = [
        f"# Registered models of study {study}",
        "",
        f"| model | version | activation | configuration | {objective[0]} (rule) | basis | run | "
        "this sweep |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in frame.itertuples(index=False):
        what = "moved here" if row.moved else "kept (the new choice did not win)"
        lines.append(
            f"| `{row.model_uri}` | {row.version} | {row.activation} | {row.configuration} | "
            f"{objectives.formatted(objective[0], row.score)} | {row.basis} | "
            f"`{row.run_id}` | {what} |"
        )
    lines += [
        "",
        f"The rule, for ranking and registering alike: {objectives.registry_rule(objective)}. "
        "An alias moves only "
        "when a rerun or extension of this study makes another choice win (ties keep the "
        "holder); no other study moves these aliases. Validation accuracy only: the test set "
        "decides nothing here.",
    ]
    return "\n".join(lines) + "\n"
