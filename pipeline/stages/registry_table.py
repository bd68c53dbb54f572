"""Stage: a study's registry as its report states it: each alias, the version it holds, the
configuration and run behind it, its score under the study's rule, and whether it moved."""

import pandas as pd

from pipeline.core.config import REGISTRY_RULE

COLUMNS = (
    "alias",
    "model_uri",
    "version",
    "activation",
    "configuration",
    "val_acc_mean",
    "basis",
    "run_id",
    "moved",
)


def registry_frame(rows: list[dict]) -> pd.DataFrame:
    """The aliases as rows (`Registered.as_row`), in the order they were placed."""
    return pd.DataFrame(rows, columns=list(COLUMNS))


def registry_markdown(frame: pd.DataFrame, study: str) -> str:
    """The registry section: a table and the rule that filled it."""
    lines = [
        f"# Registered models of study {study}",
        "",
        "| model | version | activation | configuration | val acc % (rule) | basis | run | "
        "this sweep |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in frame.itertuples(index=False):
        what = "moved here" if row.moved else "kept (the new choice did not win)"
        lines.append(
            f"| `{row.model_uri}` | {row.version} | {row.activation} | {row.configuration} | "
            f"{100 * row.val_acc_mean:.2f} | {row.basis} | `{row.run_id}` | {what} |"
        )
    lines += [
        "",
        f"The rule, for ranking and registering alike: {REGISTRY_RULE}. An alias moves only "
        "when a rerun or extension of this study makes another choice win (ties keep the "
        "holder); no other study moves these aliases. Validation accuracy only: the test set "
        "decides nothing here.",
    ]
    return "\n".join(lines) + "\n"
