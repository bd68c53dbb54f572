import math

import mlflow
import pandas as pd
import pytest

from pipeline.adapters import tracking
from pipeline.cli.main import main
from pipeline.core.schema.config import DEFAULT_TRACKING_URI
from pipeline.stages import results, statistics, study_report
from tests.conftest import one_line
from tests.sweeps import run_row, run_sweep, write_config


def runs_frame() -> pd.DataFrame:
    tracker = tracking.Tracker("activation-study", DEFAULT_TRACKING_URI)
    return tracking.search_runs(tracker, "tags.sweep = 'tiny'")


def test_the_report_rebuilds_the_seed_table_from_mlflow(workdir, tiny_data, capsys):
    config = write_config(workdir, lr=[0.001, 0.05])
    assert run_sweep(config, tiny_data) == 0
    capsys.readouterr()
    assert main(["report", "--config", str(config)]) == 0
    assert "| activation | best lr | train acc % |" in capsys.readouterr().out

    table = pd.read_csv(workdir / "reports/tiny/results.csv")
    assert list(table["activation"]) == ["relu", "tanh"]
    assert {
        "best_lr",
        "train_acc",
        "val_acc",
        "test_acc",
        "time_to_best_s",
        "train_time_s",
        "best_epoch",
        "trials",
        "seed_lr_val_acc",
        "seed_lr_test_acc",
        "seed_lr_best_epoch",
    } <= set(table.columns)
    runs = runs_frame()
    client = mlflow.MlflowClient(tracking.resolve_uri(DEFAULT_TRACKING_URI))
    for _, row in table.iterrows():
        mine = runs[
            (runs["params.activation"] == row["activation"]) & (runs["tags.stage"] == "train")
        ]
        best = mine.loc[mine["metrics.best_val_acc"].idxmax()]
        assert row["best_lr"] == float(best["params.lr"])
        assert row["val_acc"] == best["metrics.best_val_acc"]
        assert row["test_acc"] == best["metrics.test_acc"]
        assert row["best_epoch"] == best["metrics.best_epoch"]
        assert row["time_to_best_s"] == pytest.approx(best["metrics.time_to_best_s"])
        train_acc = [
            m.value
            for m in client.get_metric_history(best["run_id"], "train_acc")
            if m.step == int(best["metrics.best_epoch"])
        ]
        assert row["train_acc"] == train_acc[0]
        at_seed_lr = mine[mine["params.lr"] == "0.001"].iloc[0]
        assert row["seed_lr_test_acc"] == at_seed_lr["metrics.test_acc"]
        assert row["seed_lr_at_chance"] == (at_seed_lr["tags.at_chance"] == "true")
        assert row["trials"] == 2
    markdown = (workdir / "reports/tiny/results.md").read_text()
    assert "## The grid: each activation's best configuration, and the seed's lr\n" in markdown
    header, grid = markdown.split("## The grid")
    assert header.split("\n\n")[1] == "Dataset: Fashion-MNIST, 10 classes: T-shirt/top, " + (
        "Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot."
    )
    grid = grid.split("## Replicates")[0]
    rows, _, note = grid.partition("\n\n")[2].strip("\n").partition("\n\n")
    assert rows.count("\n") == 3 and f"{100 * table['test_acc'][0]:.2f}" in rows
    marked = table["at_chance"].any() or table["seed_lr_at_chance"].any()
    assert note == (results.CHANCE_NOTE if marked else "")
    assert study_report.REPLICATES_OFF in markdown, "the file's replicate_seeds is 0"
    assert (workdir / "reports/tiny/lr_response.png").stat().st_size > 10_000
    assert sorted(p.name for p in (workdir / "reports").iterdir()) == ["tiny"]


def test_markdown_cells_show_percent_and_blanks():
    table = pd.DataFrame(
        [
            {
                "activation": "relu",
                "best_lr": 0.03,
                "test_acc": 0.87654,
                "best_epoch": 9.0,
                "seed_lr_test_acc": math.nan,
            }
        ]
    )
    lines = results.to_markdown(table).splitlines()
    assert lines[0] == "| activation | best lr | test acc % | best epoch | test acc % @1e-3 |"
    assert lines[2] == "| relu | 0.03 | 87.65 | 9 | – |"


def test_accuracies_of_a_run_that_learned_nothing_are_marked_with_a_note():
    """sigmoid at the seed's lr ends at chance (10%): its cells say so, a note under the table
    says what the mark means; the CSV keeps the flags as columns."""
    table = pd.DataFrame(
        [
            {
                "activation": "sigmoid",
                "val_acc": 0.87,
                "test_acc": 0.86,
                "seed_lr_val_acc": 0.101,
                "seed_lr_test_acc": 0.1,
                "at_chance": False,
                "seed_lr_at_chance": True,
            },
            {"activation": "relu", "val_acc": 0.89, "at_chance": False},
        ]
    )
    lines = results.to_markdown(table).splitlines()
    headers = "| activation | val acc % | test acc % | val acc % @1e-3 | test acc % @1e-3 |"
    assert lines[0] == headers
    assert lines[2] == "| sigmoid | 87.00 | 86.00 | 10.10 † | 10.00 † |"
    assert lines[3] == "| relu | 89.00 | – | – | – |"
    assert lines[4:] == ["", results.CHANCE_NOTE] and "at_chance=true" in results.CHANCE_NOTE
    unmarked = results.to_markdown(table.assign(seed_lr_at_chance=False))
    assert "†" not in unmarked and unmarked.count("\n") == 4


def test_a_report_before_any_trial_has_run_says_so_in_one_line(workdir, capsys):
    """A sweep stopped before its first trial has a parent run and nothing else."""
    config = write_config(workdir)
    tracker = tracking.Tracker("activation-study", DEFAULT_TRACKING_URI)
    tracker.start_run("tiny", "sweep", {}, {"sweep": "tiny"}, "a sweep with no trial yet")
    assert main(["report", "--config", str(config)]) == 1
    err = one_line(capsys.readouterr().err)
    assert "no training runs of sweep 'tiny' yet; run `make sweep` first" in err
    assert not (workdir / "reports").exists()


def test_the_grid_and_the_answer_choose_on_validation_where_test_ranks_otherwise():
    """Test accuracy ranks every choice the other way round: the lr chosen, the replicates kept
    and the study's leader all follow validation."""
    replicate = {"state": "COMPLETE", "phase": "replicate"}
    rows = [
        run_row(0.01, 0.90, 0.9, test_acc=0.70),
        run_row(0.1, 0.85, 0.9, test_acc=0.95),
        run_row(0.01, 0.80, 0.8, activation="tanh", test_acc=0.99),
        *(run_row(0.01, 0.90, None, seed=s, test_acc=0.70, **replicate) for s in (43, 44, 45)),
        *(run_row(0.1, 0.85, None, seed=s, test_acc=0.99, **replicate) for s in (43, 44, 45)),
    ]
    rows += [
        run_row(0.01, 0.80, None, seed=s, activation="tanh", test_acc=0.99, **replicate)
        for s in (43, 44, 45)
    ]
    runs = pd.DataFrame(rows)
    table = results.results_table(runs, ("relu", "tanh")).set_index("activation")
    assert table.loc["relu", "best_lr"] == 0.01 and table.loc["relu", "test_acc"] == 0.70
    best = {a: {"lr": table.loc[a, "best_lr"]} for a in ("relu", "tanh")}
    answer = results.answer_runs(results.replicate_runs(runs, best), ("relu", "tanh"), ("lr",))
    assert set(answer.loc[answer["activation"] == "relu", "test_acc"]) == {0.70}
    summary = statistics.replicate_summary(answer, None)
    assert statistics.leader(summary) == "relu", "tanh tests higher, validates lower"


def test_the_table_is_built_from_the_runs_frame_alone():
    """No store. The grid's columns come from its trials alone; the replicates at the best lr
    (seeds 43, 44) give mean, std, count and mean best epoch; one at another lr, or
    without a test accuracy, is left out."""
    replicate = {"state": "COMPLETE", "phase": "replicate"}
    runs = pd.DataFrame(
        [
            run_row(0.001, 0.80, 0.81),
            run_row(0.05, 0.88, 0.90),
            run_row(0.05, 0.91, None, seed=43, **replicate),
            run_row(0.05, 0.89, None, seed=44, **replicate),
            run_row(0.001, 0.95, None, seed=43, **replicate),  # an lr the grid no longer picks
            {**run_row(0.05, 0.5, None, seed=45, **replicate), "test_acc": math.nan},  # diverged
        ]
    )
    [row] = results.results_table(runs, ("relu", "tanh")).to_dict("records")
    assert row["best_lr"] == 0.05 and row["train_acc"] == 0.90 and row["val_acc"] == 0.88
    assert row["seed_lr_train_acc"] == 0.81 and row["seed_lr_state"] == "COMPLETE"
    assert row["trials"] == 2 and row["replicate_seeds"] == 2
    assert row["replicate_test_acc_mean"] == pytest.approx(0.89)
    assert row["replicate_test_acc_std"] == pytest.approx(math.sqrt(2) * 0.01)
    assert row["replicate_best_epoch"] == 20.5
    header = results.to_markdown(pd.DataFrame([row])).splitlines()[0]
    assert "| replicates: test acc % mean | ± std | seeds | best epoch (mean) |" in header


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_an_answer_without_sgds_momentum_is_its_configurations_answer(optimizer):
    """A configuration whose optimizer has no momentum (blank in the table) takes the
    replicates that have none; an SGD run at the same lr is another configuration."""
    nan = float("nan")
    rows = [
        {"momentum": nan, "optimizer": optimizer, "seed": 46},
        {"momentum": nan, "optimizer": optimizer, "seed": 47},
        {"momentum": 0.9, "optimizer": "sgd", "seed": 46},
    ]
    runs = pd.DataFrame(
        [
            {"activation": "tanh", "lr": 0.001, "stage": "train", "phase": "replicate",
             "status": "FINISHED",
             "test_acc": 0.88, **row}
            for row in rows
        ]
    )  # fmt: skip
    best = {"tanh": {"lr": 0.001, "optimizer": optimizer, "momentum": nan}}
    kept = results.replicate_runs(runs, best)
    assert kept["seed"].tolist() == [46, 47] and set(kept["optimizer"]) == {optimizer}
    sgd = {"tanh": {"lr": 0.001, "optimizer": "sgd", "momentum": 0.9}}
    assert results.replicate_runs(runs, sgd)["seed"].tolist() == [46]
