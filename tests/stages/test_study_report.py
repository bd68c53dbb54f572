"""A study's report from its runs alone: the files in its own folder, the replicate summary and
the pairwise differences as the statistics stage computes them, and the Markdown of all three."""

import math

import pandas as pd
import pytest

from pipeline.core.process.errors import PipelineError
from pipeline.stages import statistics, statistics_markdown, study_report
from tests.sweeps import run_row

REPLICATE = {"state": "COMPLETE", "phase": "replicate"}
# Replicate test accuracies (val_acc - 0.01 in run_row) per activation and seed.
TEST_ACC = {
    "relu": {43: 0.889, 44: 0.884, 45: 0.892},
    "tanh": {43: 0.874, 44: 0.871, 45: 0.879},
    "sigmoid": {43: 0.860, 44: 0.858},  # one seed still to come
}


def study_runs() -> pd.DataFrame:
    rows = []
    for activation, lr in (("relu", 0.03), ("tanh", 0.01), ("sigmoid", 0.3)):
        rows.append(run_row(lr, 0.88, 0.9, activation=activation))
        rows.append(run_row(0.001, 0.80, 0.81, activation=activation))
        rows += [
            run_row(lr, acc + 0.01, None, seed=seed, activation=activation, **REPLICATE)
            for seed, acc in TEST_ACC[activation].items()
        ]
    return pd.DataFrame(rows)


def test_the_report_is_the_statistics_of_the_replicates_at_each_best_lr(tmp_path):
    report = study_report.write_report(
        study_runs(), "unit", ("sigmoid", "tanh", "relu"), tmp_path / "unit", design_seeds=(40,)
    )
    heading = "## The grid: each activation's best configuration"
    assert f"{heading}, and the seed's lr\n" in report.markdown
    runs = study_runs()
    without = study_report.build_report(runs[runs["lr"] != 0.001], "unit", ("relu",))
    assert f"{heading}\n" in without.markdown, "no run at the seed's lr: the heading names none"
    summary = report.summary.set_index("activation")
    assert list(summary.index) == ["sigmoid", "tanh", "relu"], "the sweep's order"
    assert summary.loc["relu", "lr"] == 0.03 and summary.loc["sigmoid", "seeds"] == 2
    expected = statistics.replicate_summary(report.answer, statistics.UVA_TEST_ACC)
    for row in expected.itertuples():
        assert summary.loc[row.activation, "test_acc_mean"] == pytest.approx(row.test_acc_mean)
        assert (
            summary.loc[row.activation, "uva_test_acc"] == statistics.UVA_TEST_ACC[row.activation]
        )
    assert math.isnan(summary.loc["sigmoid", "ci95_low"]), "two seeds: no interval"
    pairs = report.pairs.set_index(["activation_a", "activation_b"])
    tanh_relu = pairs.loc[("tanh", "relu")]
    assert tanh_relu["seeds"] == 3
    assert tanh_relu["diff_mean"] == pytest.approx(-(0.015 + 0.013 + 0.013) / 3)
    assert pairs.loc[("sigmoid", "relu"), "verdict"] == statistics.TOO_FEW_SEEDS

    written = sorted(p.name for p in (tmp_path / "unit").iterdir())
    assert written == sorted(
        study_report.TABLES + study_report.LR_FIGURES + study_report.REPLICATE_FIGURES
    )
    assert sorted(p.name for p in report.files) == written
    long = pd.read_csv(tmp_path / "unit/replicates.csv")
    assert list(long.columns) == [
        "activation",
        "lr",
        "lr_schedule",
        "seed",
        "epochs",
        "val_acc",
        "test_acc",
        "run_id",
    ]
    assert len(long) == 8 and list(long["activation"].unique()) == ["sigmoid", "tanh", "relu"]
    assert long.set_index(["activation", "seed"]).loc[("relu", 44), "test_acc"] == 0.884
    markdown = (tmp_path / "unit/results.md").read_text()
    assert markdown == report.markdown
    assert statistics_markdown.pairwise_markdown(report.pairs) in markdown
    assert markdown.index("## The grid") < markdown.index("## Replicates")
    assert (
        "The answer: seeds 43–45 (3), each up to 15 epochs with the lr decayed along a "
        "cosine, at the lr the grid chose" in markdown
    )
    assert "chosen on validation accuracy with seeds 40, which the answer does not use" in markdown
    assert (tmp_path / "unit/verdicts.png").stat().st_size > 10_000
    page = (tmp_path / "unit/test_accuracy.html").read_text()
    assert "sweep unit: test accuracy over 3 seeds" in page


def test_another_dataset_or_network_gets_no_uva_column():
    runs = study_runs()
    for change in ({"dataset": "kmnist"}, {"hidden_sizes": "256,128"}):
        report = study_report.build_report(runs.assign(**change), "unit", ("tanh", "relu"))
        assert not any(column.startswith("uva") for column in report.summary.columns)
        assert "UvA" not in report.markdown
    seed_network = runs.assign(dataset="fashion-mnist", hidden_sizes="512,256,256,128")
    report = study_report.build_report(seed_network, "unit", ("tanh", "relu"))
    assert "uva_pi95_low" in report.summary and "UvA %" in report.markdown


def test_a_sampler_studys_report_says_a_search_chose_not_a_grid():
    report = study_report.build_report(study_runs(), "unit", ("relu",), ("lr",), sampler="tpe")
    assert "## The search (sampler tpe): each activation's best" in report.markdown
    assert "## The grid" not in report.markdown and "the search chose" in report.markdown


def test_the_parent_runs_metrics_hold_each_mean_and_interval():
    report = study_report.build_report(study_runs(), "unit", ("relu", "sigmoid"))
    metrics = study_report.summary_metrics(report.summary)
    relu = report.summary.set_index("activation").loc["relu"]
    assert metrics["replicate_test_acc_mean.relu"] == relu["test_acc_mean"]
    assert metrics["replicate_ci95_low.relu"] == relu["ci95_low"]
    assert metrics["replicate_seeds.sigmoid"] == 2
    assert all(not math.isnan(value) for value in metrics.values())


def test_before_the_replicates_the_report_says_so_and_draws_no_interval(tmp_path):
    grid_only = study_runs()
    grid_only = grid_only[grid_only["phase"] == "grid"]
    report = study_report.write_report(grid_only, "unit", ("relu",), tmp_path)
    assert report.answer.empty
    assert study_report.NO_REPLICATES in report.markdown and report.summary.empty
    off = study_report.build_report(grid_only, "unit", ("relu",), replicate_seeds=0)
    assert study_report.REPLICATES_OFF in off.markdown and "None yet" not in off.markdown
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        study_report.TABLES + study_report.LR_FIGURES
    )


def test_a_study_without_runs_is_one_error_and_writes_nothing(tmp_path):
    with pytest.raises(PipelineError, match="no training runs of sweep 'unit' yet"):
        study_report.write_report(pd.DataFrame(), "unit", ("relu",), tmp_path / "unit")
    assert not (tmp_path / "unit").exists()


def test_each_study_writes_in_its_own_folder():
    assert study_report.report_dir("quick") == study_report.REPORTS_DIR / "quick"
    assert study_report.report_dir("activations") != study_report.report_dir("quick")
