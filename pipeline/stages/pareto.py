"""Stage: a multi-objective study's Pareto front, from its sweep's runs: the completed grid
trials that no other beats on every objective (core/schema/objectives.py), as a table, its Markdown
and a figure of the first two objectives. The front is reported; it registers nothing."""

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pipeline.core.schema import objectives
from pipeline.core.schema.vocabulary import Phase, TrialEnd
from pipeline.figures import pareto as pareto_figure
from pipeline.stages.results import of_phase

FILES = ("pareto.md", "pareto.csv", "pareto.png")


def candidates(runs: pd.DataFrame, objective: tuple[str, ...]) -> pd.DataFrame:
    """The completed grid trials with every objective's metric, in trial order."""
    trials = of_phase(runs, Phase.GRID)
    trials = trials[(trials["status"] == "FINISHED") & (trials["state"] == TrialEnd.COMPLETE)]
    metrics = [objectives.metric(name) for name in objective]
    if trials.empty or any(m not in trials for m in metrics):
        return trials.iloc[0:0]
    return trials.dropna(subset=metrics).sort_values("trial", kind="stable")


def front(
    runs: pd.DataFrame, objective: tuple[str, ...], settings: tuple[str, ...]
) -> pd.DataFrame:
    """The front's trials: activation, trial, the swept settings, each objective's value (named
    as the objective) and the run; best first on the first objective."""
    found = candidates(runs, objective)
    metrics = [objectives.metric(name) for name in objective]
    kept = objectives.pareto_front(found[metrics].astype(float).values.tolist(), objective)
    table = found.iloc[kept].rename(columns=dict(zip(metrics, objective, strict=True)))
    keys = [key for key in dict.fromkeys(("lr", *settings)) if key in table]
    table = table[["activation", "trial", *keys, *objective, "run_id"]]
    ascending = objectives.directions(objective)[0] == "minimize"
    return table.sort_values(objective[0], ascending=ascending, kind="stable").reset_index(
        drop=True
    )


def markdown(table: pd.DataFrame, objective: tuple[str, ...], candidates_count: int) -> str:
    """The report's section: the front as a table, and what it is."""
    lines = [
        f"## The Pareto front: {objectives.text(objective)}\n",
        f"{len(table)} of the {candidates_count} completed grid trials are on the front: no other "
        "trial is at least as good on every objective and better on one. The front is "
        "reported, not registered: the registry ranks by the first objective alone.\n",
        "| " + " | ".join(table.columns) + " |",
        "|" + "|".join("---" for _ in table.columns) + "|",
    ]
    for row in table.itertuples(index=False):
        cells = [_cell(column, value) for column, value in zip(table.columns, row, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(column: str, value: Any) -> str:
    if column in objectives.OBJECTIVES:
        return objectives.formatted(column, float(value))
    if column == "run_id":
        return f"`{value}`"
    if column == "trial":
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def figure(
    runs: pd.DataFrame, table: pd.DataFrame, objective: tuple[str, ...], study: str
) -> Figure:
    """Every candidate on the first two objectives, the front's members filled."""
    found = candidates(runs, objective)
    on_front = set(table["run_id"])
    y, x = (objectives.metric(name) for name in objective[:2])
    points = {
        activation: [(r[x], r[y], r["run_id"] in on_front) for _, r in mine.iterrows()]
        for activation, mine in found.groupby("activation", sort=False)
    }
    title = f"sweep {study}: {objective[0]} against {objective[1]}, the Pareto front filled"
    return pareto_figure.pareto_front(points, (objective[0], objective[1]), title)
