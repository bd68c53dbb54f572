import math
import shutil
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from optuna.trial import TrialState

from pipeline.adapters import studies
from pipeline.cli.main import main
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.stages import statistics, study_report
from pipeline.workflows import trials
from tests.conftest import client, one_line, open_sweep, plotly_data, run_cli, runs_of
from tests.sweeps import run_sweep, study_of, write_config


def plotly_figure(run_id: str, artifact: str, directory: Path) -> tuple[list, dict]:
    """The data and layout of the plotly figure in a run's HTML artifact, which must carry
    plotly.js itself (the UI shows it offline)."""
    html = Path(client().download_artifacts(run_id, artifact, str(directory))).read_text()
    assert 'src="https://cdn.plot.ly' not in html and len(html) > 1_000_000, "plotly.js inline"
    return plotly_data(html)


def test_a_small_sweep_nests_one_run_per_trial(workdir, tiny_data, capsys):
    config = write_config(workdir)
    assert run_sweep(config, tiny_data) == 0
    out = capsys.readouterr().out
    assert "| activation | best lr |" in out
    # Its first line says what it will run, the replicates too where there are any (none here).
    assert out.splitlines()[0] == (
        "plan: study tiny: 2 activations x 2 grid trials, each up to 2 epochs (patience 2, "
        "constant lr)"
    )
    printed = {line.split(":")[1] for line in out.splitlines() if line.startswith("models:/")}
    assert printed == {"/tiny@relu", "/tiny@tanh", "/tiny@champion"}

    study = study_of(config)
    assert study.metric_names == ["val_acc"], "the objective named in optuna-dashboard"
    trials = study.get_trials()
    assert len(trials) == 4 and {t.state for t in trials} == {TrialState.COMPLETE}
    assert sorted((t.params["activation"], t.params["lr"]) for t in trials) == [
        ("relu", 0.02),
        ("relu", 0.1),
        ("tanh", 0.02),
        ("tanh", 0.1),
    ]

    parent_id = study.user_attrs["mlflow_parent_run_id"]
    parent = client().get_run(parent_id)
    assert parent.info.run_name == "sweep-tiny" and parent.info.status == "FINISHED"
    assert parent.data.tags["stage"] == "sweep" and parent.data.tags["sweep"] == "tiny"
    for activation in ("relu", "tanh"):
        assert 0 < parent.data.metrics[f"best_val_acc.{activation}"] <= 1
        assert parent.data.metrics[f"best_lr.{activation}"] in (0.02, 0.1)
    artifacts = {a.path for a in client().list_artifacts(parent_id, "results")}
    # No replicates: no interval figure.
    files = study_report.TABLES + study_report.LR_FIGURES + study_report.REGISTRY_TABLES
    assert artifacts == {f"results/{name}" for name in files}
    assert {p.name for p in (workdir / "reports/tiny").iterdir()} == set(files)
    assert {
        "figures/optimization_history.png",
        "figures/parallel_coordinate.html",
        "figures/slice.html",
    } <= {a.path for a in client().list_artifacts(parent_id, "figures")}
    # The comparison as interactive pages the UI shows inline: lr on a log axis, each activation.
    data, layout = plotly_figure(parent_id, "results/lr_response.html", workdir / "html")
    assert layout["xaxis"]["type"] == "log"
    lines = {trace["name"]: trace for trace in data if trace["mode"] == "lines+markers"}
    assert set(lines) == {"relu", "tanh"} and sorted(lines["relu"]["x"]) == [0.02, 0.1]
    data, layout = plotly_figure(parent_id, "figures/slice.html", workdir / "html")
    assert layout["xaxis"]["title"]["text"] == "activation"
    assert (layout["xaxis2"]["title"]["text"], layout["xaxis2"]["type"]) == ("lr", "log")
    data, layout = plotly_figure(parent_id, "figures/parallel_coordinate.html", workdir / "html")
    assert layout["xaxis"]["ticktext"] == ["best val_acc", "activation", "lr"]
    labels = {a["text"] for a in layout["annotations"]}
    assert {"relu", "tanh", "0.02", "0.1"} <= labels

    children = runs_of(parent_id)
    assert len(children) == 4
    by_trial = {int(r.data.tags["optuna.trial"]): r for r in children}
    assert sorted(by_trial) == [t.number for t in trials]
    for trial in trials:
        run = by_trial[trial.number]
        assert run.info.run_id == trial.user_attrs["mlflow_run_id"]
        assert run.info.run_name == f"train-{trial.params['activation']}-lr{trial.params['lr']:g}"
        assert run.data.tags["stage"] == "train" and run.data.tags["trial_state"] == "COMPLETE"
        assert run.data.params["lr"] == str(trial.params["lr"])
        assert {*TrainConfig().params(), "data_source"} <= set(run.data.params)
        assert run.data.metrics["best_val_acc"] == trial.value
        history = client().get_metric_history(run.info.run_id, "val_acc")
        assert [m.step for m in history] == [1, 2]
        assert "checkpoint" in {a.path for a in client().list_artifacts(run.info.run_id)}

    registered = client().get_registered_model("tiny")
    assert set(registered.aliases) == {"relu", "tanh", "champion"}
    champion = client().get_model_version_by_alias("tiny", "champion")
    best = max((t for t in trials), key=lambda t: t.value)
    assert champion.run_id == best.user_attrs["mlflow_run_id"]


REPLICATED = {
    "replicate_seeds": 2,
    "design_seeds": [44],  # the answer skips it: seeds 43 and 45
    "replicate_max_epochs": 3,
    "replicate_patience": 3,
    "replicate_lr_schedule": "cosine",
    "pruner": "median",
    "pruner_warmup_epochs": 0,
    "reference_lr": None,
}


def replicate_runs(parent_id: str) -> dict[tuple[str, int], object]:
    """{(activation, seed): run} of the sweep's replicates."""
    return {
        (r.data.params["activation"], int(r.data.params["seed"])): r
        for r in runs_of(parent_id)
        if r.data.tags.get("phase") == "replicate"
    }


@pytest.mark.slow
def test_the_replicates_train_each_best_lr_with_more_seeds_and_the_report_says_what_is_known(
    workdir, tiny_data
):
    config = write_config(workdir, **REPLICATED)
    assert run_sweep(config, tiny_data) == 0
    study = study_of(config)
    grid = [t for t in study.get_trials() if t.user_attrs.get("phase", "grid") == "grid"]
    replicates = [t for t in study.get_trials() if t.user_attrs.get("phase") == "replicate"]
    best = {}
    for t in sorted((t for t in grid if t.state == TrialState.COMPLETE), key=lambda t: t.value):
        best[t.params["activation"]] = t.params["lr"]
    assert len(grid) == 4 and set(best) == {"relu", "tanh"}
    assert sorted(studies.replicate_key(t) for t in replicates) == sorted(
        (a, best[a], seed) for a in best for seed in (43, 45)
    ), "each activation's best lr, the same two seeds, never the design seed"
    assert {t.state for t in replicates} == {TrialState.COMPLETE}
    assert min(t.datetime_start for t in replicates) >= max(t.datetime_complete for t in grid)

    parent_id = study.user_attrs["mlflow_parent_run_id"]
    runs = replicate_runs(parent_id)
    assert len(runs_of(parent_id)) == 8 and len(runs) == 4
    for (activation, seed), run in runs.items():
        assert run.info.run_name == f"replicate-{activation}-lr{best[activation]:g}-seed{seed}"
        assert run.data.params["max_epochs"] == "3" and run.data.params["patience"] == "3"
        assert run.data.params["lr_schedule"] == "cosine", "the replicates' own schedule"
        assert run.data.tags["stage"] == "train" and run.info.status == "FINISHED"
        history = client().get_metric_history(run.info.run_id, "val_acc")
        assert [m.step for m in history] == [1, 2, 3], "its own budget, never pruned"

    # The report, in the study's own folder: every answer run, per activation, every pair.
    folder = workdir / "reports/tiny"
    assert not (workdir / "reports/results.md").exists()
    long = pd.read_csv(folder / "replicates.csv")
    assert len(long) == 4 and set(long["seed"]) == {43, 45}
    for row in long.itertuples():
        run = runs[(row.activation, row.seed)]
        assert row.run_id == run.info.run_id and row.lr == best[row.activation]
        assert row.test_acc == run.data.metrics["test_acc"]
        assert row.val_acc == run.data.metrics["best_val_acc"] and row.epochs == 3
    summary = pd.read_csv(folder / "summary.csv").set_index("activation")
    for activation in ("relu", "tanh"):
        accs = long[long["activation"] == activation]["test_acc"]
        row = summary.loc[activation]
        assert row["seeds"] == 2 and row["lr"] == best[activation]
        assert row["test_acc_mean"] == pytest.approx(accs.mean())
        assert (
            math.isnan(row["ci95_low"]) and row["interval_note"] == "2 seeds: an interval needs 3"
        )
    # UvA's figures are of the seed's network: a 32-16 one is compared with nothing
    assert not any(column.startswith("uva") for column in summary.columns)
    [pair] = pd.read_csv(folder / "pairwise.csv").itertuples()
    assert (pair.activation_a, pair.activation_b, pair.seeds) == ("relu", "tanh", 2)
    assert pair.verdict == statistics.TOO_FEW_SEEDS
    markdown = (folder / "results.md").read_text()
    assert "## Replicates" in markdown and "| relu | tanh | 2 |" in markdown
    assert "with seeds 44, which the answer does not use" in markdown and "UvA" not in markdown
    assert (folder / "verdicts.png").stat().st_size > 10_000
    parent = client().get_run(parent_id)
    assert parent.data.tags["replicate_seeds"] == "43,45"
    assert parent.data.tags["replicate_lr_schedule"] == "cosine"
    grid_runs = [r for r in runs_of(parent_id) if r.data.tags.get("phase") == "grid"]
    assert {r.data.params["lr_schedule"] for r in grid_runs} == {"constant"}, "the seed's"
    assert parent.data.metrics["replicate_test_acc_mean.relu"] == pytest.approx(
        summary.loc["relu", "test_acc_mean"]
    )
    artifacts = {a.path for a in client().list_artifacts(parent_id, "results")}
    assert {"results/verdicts.png", "results/pairwise.csv", "results/replicates.csv"} <= artifacts
    # @champion: a typical answer run of the activation with the best mean validation accuracy.
    champion = client().get_model_version_by_alias("tiny", "champion")
    assert champion.run_id in {t.user_attrs["mlflow_run_id"] for t in replicates}
    registry = pd.read_csv(workdir / "reports/tiny/registry.csv").set_index("alias")
    assert registry.loc["champion", "run_id"] == champion.run_id
    assert "results/registry.md" in artifacts

    # A rerun adds nothing; `make confirm --seeds 3` adds the third seed to each activation.
    assert run_sweep(config, tiny_data) == 0
    assert len(study_of(config).get_trials()) == 8 and len(runs_of(parent_id)) == 8
    confirm = ["confirm", "--config", str(config), "--seeds", "3", "--data-dir", str(tiny_data)]
    assert main([*confirm, "--no-progress"]) == 0
    assert sorted(replicate_runs(parent_id)) == sorted((a, s) for a in best for s in (43, 45, 46))
    assert set(pd.read_csv(folder / "summary.csv")["seeds"]) == {3}
    [pair] = pd.read_csv(folder / "pairwise.csv").itertuples()
    assert pair.seeds == 3 and not math.isnan(pair.p_adjusted), "three seeds: tested"
    assert client().get_run(parent_id).data.tags["replicate_seeds"] == "43,45,46"


@pytest.mark.slow
def test_rerunning_a_finished_sweep_adds_nothing_and_new_points_only_run_once(workdir, tiny_data):
    config = write_config(workdir)
    assert run_sweep(config, tiny_data) == 0
    first = {t.number: (t.datetime_complete, t.value) for t in study_of(config).get_trials()}
    parent_id = study_of(config).user_attrs["mlflow_parent_run_id"]

    assert run_sweep(config, tiny_data) == 0
    assert {
        t.number: (t.datetime_complete, t.value) for t in study_of(config).get_trials()
    } == first
    assert len(runs_of(parent_id)) == 4

    write_config(workdir, lr=[0.02, 0.1, 0.05])
    assert run_sweep(config, tiny_data) == 0
    trials = study_of(config).get_trials()
    assert len(trials) == 6
    assert {(t.number, t.datetime_complete, t.value) for t in trials if t.number in first} == {
        (n, *v) for n, v in first.items()
    }
    assert sorted(
        (t.params["activation"], t.params["lr"]) for t in trials if t.number not in first
    ) == [("relu", 0.05), ("tanh", 0.05)]
    assert len(runs_of(parent_id)) == 6
    # The parent's parallel coordinates, drawn again: lr 0.05 sits where a log axis puts it
    # between 0.02 (bottom) and 0.1 (top), at 0.57 (a linear one would put it at 0.375).
    data, layout = plotly_figure(parent_id, "figures/parallel_coordinate.html", workdir / "html")
    lr_ticks = {a["text"]: a["y"] for a in layout["annotations"] if a["x"] == 2}
    assert lr_ticks["0.02"] == 0 and lr_ticks["0.1"] == 1
    heights = {line["customdata"][2][1]: line["y"][2] for line in data if "customdata" in line}
    assert heights["0.05"] == pytest.approx(math.log(0.05 / 0.02) / math.log(0.1 / 0.02))


@pytest.mark.slow
def test_a_study_run_against_another_mlflow_store_stops_and_names_the_ways_out(
    bare_workdir, tiny_data, monkeypatch, capsys
):
    """The study keeps its parent run's id; in a store without that run (another
    MLFLOW_TRACKING_URI, or the store deleted) `make sweep` and `make worker` stop in one line
    before writing anything, and each way out the line names works."""
    config = write_config(bare_workdir, activations=["relu"], lr=[0.05])
    assert run_sweep(config, tiny_data) == 0
    first_parent = study_of(config).user_attrs["mlflow_parent_run_id"]
    first_store = f"sqlite:///{bare_workdir}/mlflow.db"
    assert study_of(config).user_attrs["mlflow_tracking_uri"] == first_store
    capsys.readouterr()

    other = bare_workdir / "elsewhere"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}/mlflow.db")
    worker = ["worker", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]
    for attempt in (lambda: run_sweep(config, tiny_data), lambda: main(worker)):
        assert attempt() == 1
        err = one_line(capsys.readouterr().err)
        assert f"parent run {first_parent} in {first_store}" in err
        assert f"MLFLOW_TRACKING_URI={first_store}" in err
        assert f"delete {Path('sweeps/tiny.db')}" in err and "a new name" in err
    assert not other.exists(), "nothing is written to the other store"

    # Way out 1: back to the store the study logs to; it carries on (here: nothing left to do).
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert run_sweep(config, tiny_data) == 0
    assert len(runs_of(first_parent)) == 1

    # The store deleted: the same URI, without the run. (Fresh processes from here: MLflow
    # keeps a store's database open per URI within a process, as a user's next command would not.)
    shutil.rmtree(bare_workdir / "mlruns")
    (bare_workdir / "mlflow.db").unlink()
    sweep = ["sweep", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]
    result = run_cli(*sweep, cwd=bare_workdir)
    assert result.returncode == 1
    assert f"parent run {first_parent}, but experiment 'activation-study' of" in result.stderr
    assert not (bare_workdir / "mlflow.db").exists()

    # Way out 2: the study afresh, in this store.
    (bare_workdir / "sweeps/tiny.db").unlink()
    out = run_cli(*sweep, cwd=bare_workdir, check=True).stdout
    parent = study_of(config).user_attrs["mlflow_parent_run_id"]
    assert parent != first_parent and f"parent_run_id={parent}" in out
    with sqlite3.connect(bare_workdir / "mlflow.db") as db:
        runs = dict(db.execute("select run_uuid, status from runs").fetchall())
    assert runs.pop(parent) == "FINISHED" and list(runs.values()) == ["FINISHED"]


def test_diverging_and_pruned_trials_end_with_their_reason_and_keep_what_they_reached(
    workdir, tiny_data, capsys
):
    """lr 50 diverges in its first epoch: PRUNED as `diverged`, no weights worth keeping. lr 1e-4
    is pruned after its first epoch (below the median of relu's completed trial there): its best
    epoch is kept as a checkpoint, which `make evaluate` reloads. The sweep goes on."""
    config = write_config(
        workdir,
        activations=["relu"],
        lr=[0.05, 50.0, 0.0001],
        hidden_sizes=[512, 256, 256, 128],
        pruner="median",
        pruner_warmup_epochs=0,
        reference_lr=None,
    )
    assert run_sweep(config, tiny_data) == 0
    trials = {t.params["lr"]: t for t in study_of(config).get_trials()}
    assert trials[50.0].state == TrialState.PRUNED
    assert trials[50.0].user_attrs["stop_reason"] == "diverged"
    assert trials[0.05].state == TrialState.COMPLETE
    run = client().get_run(trials[50.0].user_attrs["mlflow_run_id"])
    assert run.data.tags["stop_reason"] == "diverged" and run.data.tags["trial_state"] == "PRUNED"
    assert run.data.tags["diverged_at"].startswith("epoch 1, step")
    assert "checkpoint" not in {a.path for a in client().list_artifacts(run.info.run_id)}

    pruned = trials[0.0001]
    assert pruned.state == TrialState.PRUNED
    assert pruned.user_attrs["stop_reason"] == "pruned at epoch 1"
    run_id = pruned.user_attrs["mlflow_run_id"]
    run = client().get_run(run_id)
    assert run.data.tags["trial_state"] == "PRUNED" and "test_acc" not in run.data.metrics
    assert "checkpoint" in {a.path for a in client().list_artifacts(run_id)}
    capsys.readouterr()
    uri = f"runs:/{run_id}/checkpoint"
    assert main(["evaluate", "--model-uri", uri, "--data-dir", str(tiny_data)]) == 0
    assert capsys.readouterr().out.startswith("test_acc=")


def test_a_trial_left_running_by_a_dead_worker_is_failed_and_retried(workdir, tiny_data):
    config_path = write_config(workdir, activations=["relu"], lr=[0.05], heartbeat_interval=1)
    handle = open_sweep(config_path, create=True)
    # A worker claims the trial, opens its MLflow run, then dies: no more heartbeats.
    [claimed] = studies.claim(handle.study)
    with studies.heartbeat(handle.study, claimed):
        pass  # one heartbeat, then none
    orphan = handle.tracker.start_run(
        "train-relu-lr0.05",
        "train",
        {},
        {},
        "a run whose worker died",
        parent_run_id=handle.parent_run_id,
    )
    handle.study.set_run_id(claimed, orphan)
    time.sleep(3)  # past the grace period of 2 heartbeat intervals

    assert run_sweep(config_path, tiny_data) == 0
    trials = study_of(config_path).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].system_attrs["failed_trial"] == trials[0].number
    killed = client().get_run(orphan)
    assert killed.info.status == "KILLED"
    assert killed.data.tags["stop_reason"].startswith("orphaned")


# Stacked and lone runs round differently (bmm against linear): equal at these tolerances,
# at learning rates where rounding does not grow chaotically (docs: lr <= 0.01).
CLOSE = {"rel": 1e-4, "abs": 1e-6}


def sweep_outcome(workdir: Path, tiny_data: Path, study: str, **values) -> tuple[dict, dict]:
    """{(activation, lr): (state, stop_reason, value, per-epoch values)} and {run name:
    (params, metrics)} of a sweep."""
    config = write_config(
        workdir, study=study, lr=[0.005, 0.01, 50.0], max_epochs=2,
        hidden_sizes=[512, 256, 256, 128], **values,
    )  # fmt: skip
    assert run_sweep(config, tiny_data) == 0
    trials = {
        (t.params["activation"], t.params["lr"]): (
            t.state, t.user_attrs["stop_reason"], t.value, t.intermediate_values
        )
        for t in study_of(config).get_trials()
    }  # fmt: skip
    parent = study_of(config).user_attrs["mlflow_parent_run_id"]
    runs = {
        r.info.run_name: (
            {k: v for k, v in r.data.params.items() if k != "threads"},
            # Timings aside; system metrics are sampled in time, and a stack's machine load is
            # one: only the stack's first run carries them.
            {
                name: value
                for name, value in r.data.metrics.items()
                if not name.startswith("system/")
                and name not in ("train_time_s", "time_to_best_s", "epoch_time_s", "epoch_seconds")
            },
        )
        for r in runs_of(parent)
    }
    return trials, runs


def assert_alike(stacked, alone, where: str = "") -> None:
    """Equal, numbers within CLOSE (NaN where the other is NaN), recursively."""
    if isinstance(alone, dict):
        assert stacked.keys() == alone.keys(), where
        for key in alone:
            assert_alike(stacked[key], alone[key], f"{where}/{key}")
    elif isinstance(alone, tuple):
        assert len(stacked) == len(alone), where
        for index, (a, b) in enumerate(zip(stacked, alone, strict=True)):
            assert_alike(a, b, f"{where}[{index}]")
    elif isinstance(alone, float) and not isinstance(alone, bool):
        assert stacked == pytest.approx(alone, nan_ok=True, **CLOSE), where
    else:
        assert stacked == alone, where


@pytest.mark.slow
def test_a_stacked_sweep_gives_the_same_trials_and_runs_as_one_at_a_time(
    workdir, tiny_data, capsys
):
    """Without pruning (whose peers depend on which trials ran first), a stack of all six trials
    and one trial at a time end every trial alike, with the same values each epoch, and log the
    same runs: names, params, and every metric's value."""
    alone_trials, alone_runs = sweep_outcome(workdir, tiny_data, "alone", stack=1)
    capsys.readouterr()
    stacked_trials, stacked_runs = sweep_outcome(workdir, tiny_data, "stacked", stack=6, workers=2)
    # One stack holds the grid: a second worker would only split it.
    assert "note: 1 of 2 workers: stacks of 6 cover the grid's 6 trials" in capsys.readouterr().out
    assert not list(workdir.glob("sweeps/logs/stacked-worker*.log")), "no worker process started"
    assert_alike(stacked_trials, alone_trials, "trials")
    assert alone_trials[("relu", 50.0)][:2] == (TrialState.PRUNED, "diverged")
    assert {state for state, *_ in alone_trials.values()} == {
        TrialState.COMPLETE,
        TrialState.PRUNED,
    }
    assert_alike(stacked_runs, alone_runs, "runs")
    learned = alone_runs["train-relu-lr0.01"][1]
    assert {"val_loss", "test_acc", "grad_norm.fc1", "best_epoch"} <= set(learned)
    tags = {r.data.tags["stack_size"] for r in runs_of(study_of(workdir / "stacked.yaml")
            .user_attrs["mlflow_parent_run_id"])}  # fmt: skip
    assert tags == {"6"}


@pytest.mark.parametrize(
    ("device", "stack", "asked", "expected"),
    [
        ("cpu", None, 2, 2),  # CPU_STACK trials at a time: as many workers as asked
        ("cuda", None, 2, 1),  # the whole grid in one stack
        ("cpu", 3, 4, 2),  # six trials in stacks of three
        ("cuda", 1, 3, 3),
    ],
)
def test_a_sweep_starts_no_worker_without_a_stack_to_train(device, stack, asked, expected):
    config = SweepConfig(study="s", activations=["relu", "tanh"], lrs=[0.01, 0.1, 0.3], stack=stack)
    assert trials.worker_count(config, torch.device(device), asked) == expected


@pytest.mark.slow
def test_a_reference_lr_with_a_protocol_of_its_own_is_the_seeds_table_not_a_candidate(
    workdir, tiny_data
):
    """The default study's grid trains under the answer's protocol and its seed's lr under the
    seed's: the reference trials run at their own budget, are never the grid's choice, and fill
    the @1e-3 columns."""
    config = write_config(
        workdir,
        lr=[0.001, 0.1],
        reference_lr=0.001,
        reference_max_epochs=3,
        reference_patience=3,
        reference_lr_schedule="constant",
        lr_schedule="cosine",
    )
    assert run_sweep(config, tiny_data) == 0
    study = study_of(config)
    reference = [t for t in study.get_trials() if t.user_attrs.get("phase") == "reference"]
    assert sorted(t.params["activation"] for t in reference) == ["relu", "tanh"]
    assert {t.params["lr"] for t in reference} == {0.001}
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    runs = {r.info.run_name: r for r in runs_of(parent_id)}
    seed_table = runs["reference-relu-lr0.001-seed42"]
    assert seed_table.data.tags["phase"] == "reference"
    assert seed_table.data.params["max_epochs"] == "3"
    assert seed_table.data.params["lr_schedule"] == "constant"
    grid = runs["train-relu-lr0.1"]
    assert (grid.data.params["max_epochs"], grid.data.params["lr_schedule"]) == ("2", "cosine")
    history = client().get_metric_history(seed_table.info.run_id, "val_acc")
    assert [m.step for m in history] == [1, 2, 3], "its own budget"
    table = pd.read_csv(workdir / "reports/tiny/results.csv").set_index("activation")
    assert set(table["best_lr"]) == {0.1}, "the grid's choice, never the reference trial"
    assert table.loc["relu", "seed_lr_test_acc"] == seed_table.data.metrics["test_acc"]
    assert table.loc["relu", "trials"] == 2
    markdown = (workdir / "reports/tiny/results.md").read_text()
    assert "The @1e-3 columns: the seed's lr trained as the seed trained it (up to 3 " in markdown
