"""A study's report from its runs alone: the files in its own folder, the replicate summary and
the pairwise differences as the statistics stage computes them, and the Markdown of all three."""

import math

import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.stages import statistics, study_report
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
        study_runs(), "unit", ("sigmoid", "tanh", "relu"), tmp_path / "unit"
    )
    summary = report.summary.set_index("activation")
    assert list(summary.index) == ["sigmoid", "tanh", "relu"], "the sweep's order"
    assert summary.loc["relu", "lr"] == 0.03 and summary.loc["sigmoid", "seeds"] == 2
    expected = statistics.replicate_summary({a: list(v.values()) for a, v in TEST_ACC.items()})
    for row in expected.itertuples():
        assert summary.loc[row.activation, "test_acc_mean"] == pytest.approx(row.test_acc_mean)
        assert summary.loc[row.activation, "ci95_high"] == pytest.approx(row.ci95_high)
        assert (
            summary.loc[row.activation, "uva_test_acc"] == statistics.UVA_TEST_ACC[row.activation]
        )
    pairs = report.pairs.set_index(["activation_a", "activation_b"])
    relu_tanh = pairs.loc[("tanh", "relu")]
    assert relu_tanh["paired_seeds"] == 3
    assert relu_tanh["paired_diff_mean"] == pytest.approx(-(0.015 + 0.013 + 0.013) / 3)
    assert pairs.loc[("sigmoid", "relu"), "paired_seeds"] == 2, "only the seeds both ran"

    written = sorted(p.name for p in (tmp_path / "unit").iterdir())
    assert written == sorted(
        study_report.TABLES + study_report.LR_FIGURES + study_report.REPLICATE_FIGURES
    )
    assert sorted(p.name for p in report.files) == written
    csv = pd.read_csv(tmp_path / "unit/replicates.csv")
    assert list(csv.columns) == ["activation", "lr", *statistics.SUMMARY_COLUMNS[1:]]
    markdown = (tmp_path / "unit/results.md").read_text()
    assert markdown == report.markdown
    assert statistics.summary_markdown(report.summary) in markdown
    assert statistics.pairwise_markdown(report.pairs) in markdown
    assert markdown.index("## The grid") < markdown.index("## Replicates")
    assert (
        "Seeds 43, 44, 45, each up to 15 epochs with the lr decayed along a cosine, at the lr "
        "the grid chose" in markdown
    )
    assert (tmp_path / "unit/test_accuracy.png").stat().st_size > 10_000
    page = (tmp_path / "unit/test_accuracy.html").read_text()
    assert "sweep unit: test accuracy over 3 seeds" in page


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
    assert study_report.NO_REPLICATES in report.markdown and report.summary.empty
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
