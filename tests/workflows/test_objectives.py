"""`objective:` in real sweeps on tiny data: a study that minimises the validation loss ranks,
reports and registers by it; a multi-objective study reports its Pareto front, recomputed here
from what MLflow recorded, and registers by its first objective."""

import pandas as pd
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from tests.conftest import client, runs_of
from tests.sweeps import run_sweep, study_of, write_config

pytestmark = pytest.mark.slow  # two sweeps of 4 and 8 trials


def grid_runs(parent_id: str) -> list:
    return [r for r in runs_of(parent_id) if r.data.tags.get("phase") == "grid"]


def test_a_val_loss_study_ranks_reports_and_registers_by_the_lowest_loss(workdir, tiny_data):
    config = write_config(workdir, study="loss", objective="val_loss", replicate_seeds=1)
    assert run_sweep(config, tiny_data) == 0
    study = study_of(config)
    assert study.direction == StudyDirection.MINIMIZE and study.metric_names == ["val_loss"]
    runs = {r.info.run_id: r for r in grid_runs(study.user_attrs["mlflow_parent_run_id"])}
    grid = [t for t in study.trials if t.user_attrs.get("phase", "grid") == "grid"]
    assert len(grid) == 4 and {t.state for t in grid} == {TrialState.COMPLETE}
    for trial in grid:
        run = runs[trial.user_attrs["mlflow_run_id"]]
        losses = client().get_metric_history(run.info.run_id, "val_loss")
        assert trial.value == run.data.metrics["best_val_loss"] == min(m.value for m in losses)
        assert trial.intermediate_values == {m.step: m.value for m in losses}, "pruner's values"
    table = pd.read_csv(workdir / "reports/loss/results.csv")
    for activation in ("relu", "tanh"):
        mine = [t for t in grid if t.params["activation"] == activation]
        lowest = min(mine, key=lambda t: t.value)
        assert table.set_index("activation").loc[activation, "best_lr"] == lowest.params["lr"]
    registry = (workdir / "reports/loss/registry.md").read_text()
    assert "val_loss (rule)" in registry and "lowest mean validation loss" in registry
    model = client().get_registered_model("loss")
    assert model.tags["metric"] == "val_loss"
    champion = client().get_model_version_by_alias("loss", "champion")
    scores = {
        a: float(client().get_model_version_by_alias("loss", a).tags["rule_score"])
        for a in ("relu", "tanh")
    }
    assert float(champion.tags["rule_score"]) == min(scores.values())


def dominated(point: tuple[float, float], by: tuple[float, float]) -> bool:
    """(val_acc up, parameters down)."""
    return by[0] >= point[0] and by[1] <= point[1] and by != point


def test_a_multi_objective_study_reports_its_pareto_front(workdir, tiny_data):
    config = write_config(
        workdir,
        study="trade",
        objective=["val_acc", "parameters"],
        hidden_sizes=[[32, 16], [8]],
    )
    assert run_sweep(config, tiny_data) == 0
    study = study_of(config)
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    parent = study.user_attrs["mlflow_parent_run_id"]
    recorded = {
        r.info.run_id: (r.data.metrics["best_val_acc"], r.data.metrics["parameters"])
        for r in grid_runs(parent)
    }
    assert len(recorded) == 8 and len({p for _, p in recorded.values()}) == 2
    for trial in study.trials:
        assert tuple(trial.values) == recorded[trial.user_attrs["mlflow_run_id"]]
    front = {
        run
        for run, point in recorded.items()
        if not any(dominated(point, o) for o in recorded.values())
    }
    table = pd.read_csv(workdir / "reports/trade/pareto.csv")
    assert set(table["run_id"]) == front
    assert list(table["val_acc"]) == sorted(table["val_acc"], reverse=True)
    markdown = (workdir / "reports/trade/results.md").read_text()
    assert "## The Pareto front: val_acc, parameters" in markdown
    assert f"{len(front)} of the 8 completed grid trials are on the front" in markdown
    artifacts = {a.path for a in client().list_artifacts(parent, "results")}
    assert {"results/pareto.csv", "results/pareto.png"} <= artifacts
    rule = client().get_registered_model("trade").tags["rule"]
    assert "the first alone ranks" in rule
    champion = client().get_model_version_by_alias("trade", "champion")
    assert recorded[champion.run_id][0] == max(acc for acc, _ in recorded.values())


def test_a_scratch_sweep_ranks_and_reports_but_registers_nothing(workdir, tiny_data, capsys):
    """`registry: false`: the report and the parent run as always, no model, no alias."""
    config = write_config(workdir, study="scratch", registry=False)
    assert run_sweep(config, tiny_data) == 0
    out = capsys.readouterr().out
    assert "models: none registered (the sweep file's `registry: false`)" in out
    assert "models:/" not in out
    assert not client().search_registered_models()
    folder = workdir / "reports/scratch"
    assert (folder / "results.md").exists() and not (folder / "registry.md").exists()
