"""The default study's published answer (reports/activations/), recomputed from its committed
runs (replicates.csv, one row per answer run) with scipy and statsmodels, not with the
project's own formulas: every number of summary.csv and pairwise.csv, and each verdict."""

import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ttost_paired

FOLDER = Path(__file__).parents[2] / "reports/activations"
ALPHA, MARGIN = 0.05, 0.003  # as the report's notes state them
UVA = {"tanh": 0.8759, "relu": 0.8862, "leakyrelu": 0.8892, "elu": 0.8727, "swish": 0.8873}


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return pd.read_csv(FOLDER / "replicates.csv")


@pytest.fixture(scope="module")
def by_activation(runs) -> dict[str, pd.DataFrame]:
    return {a: group.set_index("seed") for a, group in runs.groupby("activation", sort=False)}


def test_the_answer_has_ten_seeds_each_disjoint_from_the_design_seeds(runs, by_activation):
    assert set(by_activation) == {"sigmoid", "tanh", "relu", "leakyrelu", "elu", "swish"}
    assert all(len(group) >= 10 for group in by_activation.values())
    assert not {43, 44, 45} & set(runs["seed"]), "the seeds the protocol was designed on"
    assert runs["run_id"].is_unique


def test_each_activations_row_is_scipys_interval_and_prediction_interval(by_activation):
    summary = pd.read_csv(FOLDER / "summary.csv").set_index("activation")
    for activation, group in by_activation.items():
        x, row = group["test_acc"].to_numpy(), summary.loc[activation]
        n, mean, s = len(x), x.mean(), x.std(ddof=1)
        ci = stats.ttest_1samp(x, 0.0).confidence_interval(1 - ALPHA)
        assert (row["seeds"], row["test_acc_mean"], row["test_acc_std"]) == pytest.approx(
            (n, mean, s)
        )
        assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((ci.low, ci.high))
        assert row["val_acc_mean"] == pytest.approx(group["val_acc"].mean())
        if activation in UVA:
            half = stats.t.ppf(1 - ALPHA / 2, n - 1) * s * math.sqrt(1 + 1 / n)
            assert (row["uva_pi95_low"], row["uva_pi95_high"]) == pytest.approx(
                (mean - half, mean + half)
            )
            t = (UVA[activation] - mean) / (s * math.sqrt(1 + 1 / n))
            assert row["uva_p_value"] == pytest.approx(2 * stats.t.sf(abs(t), n - 1))
    compared = list(UVA)
    adjusted = multipletests(summary.loc[compared, "uva_p_value"], method="holm")[1]
    assert list(summary.loc[compared, "uva_p_adjusted"]) == pytest.approx(list(adjusted))
    assert math.isnan(summary.loc["sigmoid", "uva_p_value"]), "UvA's sigmoid stayed at chance"


def test_each_pair_is_scipys_paired_test_with_statsmodels_holm_tost_and_wilson(by_activation):
    pairs = pd.read_csv(FOLDER / "pairwise.csv")
    expected = []
    for a, b in combinations(by_activation, 2):
        seeds = sorted(set(by_activation[a].index) & set(by_activation[b].index))
        x = by_activation[a].loc[seeds, "test_acc"].to_numpy()
        y = by_activation[b].loc[seeds, "test_acc"].to_numpy()
        test = stats.ttest_rel(x, y)
        ci = test.confidence_interval(1 - ALPHA)
        p_equivalence = ttost_paired(x, y, -MARGIN, MARGIN)[0]
        wins = float(np.sum(x > y) + 0.5 * np.sum(x == y))
        low, high = proportion_confint(wins, len(seeds), alpha=ALPHA, method="wilson")
        values = (len(seeds), (x - y).mean(), ci.low, ci.high, test.pvalue, p_equivalence)
        expected.append((a, b, *values, wins / len(seeds), low, high))
    columns = ["activation_a", "activation_b", "seeds", "diff_mean", "diff_ci_low"]
    columns += ["diff_ci_high", "p_value", "p_equivalence", "p_a_beats_b"]
    columns += ["p_a_beats_b_low", "p_a_beats_b_high"]
    found = pairs[columns]
    assert list(found[columns[:2]].itertuples(index=False, name=None)) == [e[:2] for e in expected]
    assert found[columns[2:]].to_numpy() == pytest.approx(np.array([e[2:] for e in expected]))
    holm = multipletests(pairs["p_value"], method="holm")[1]
    holm_equivalence = multipletests(pairs["p_equivalence"], method="holm")[1]
    assert list(pairs["p_adjusted"]) == pytest.approx(list(holm))
    assert list(pairs["p_equivalence_adjusted"]) == pytest.approx(list(holm_equivalence))
    for row, p, p_eq in zip(pairs.itertuples(), holm, holm_equivalence, strict=True):
        ahead = "a ahead" if row.diff_mean > 0 else "b ahead"
        verdict = ahead if p < ALPHA else ("no practical difference" if p_eq < ALPHA else None)
        assert row.verdict == (verdict or "not shown different")
