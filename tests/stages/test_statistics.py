"""The answer's statistics against other libraries' own implementations (scipy's t-tests,
statsmodels' Holm, TOST and Wilson interval), the verdicts at their boundaries, the small-sample
rules, and properties over generated accuracies."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ttost_paired

from pipeline.stages.statistics import (
    A_AHEAD,
    ABOVE,
    B_AHEAD,
    EQUIVALENT,
    MARGIN,
    NOT_SHOWN,
    PAIRWISE_COLUMNS,
    REFERENCE_COLUMNS,
    SUMMARY_COLUMNS,
    TOO_FEW_SEEDS,
    UVA_TEST_ACC,
    holm,
    leader,
    pairwise_differences,
    replicate_summary,
    wilson,
)


def answer(test_acc: dict[str, dict[int, float]], val_gap: float = 0.005) -> pd.DataFrame:
    """The long form the report passes: a row per (activation, seed)."""
    rows = [
        (activation, seed, min(1.0, value + val_gap), value)
        for activation, by_seed in test_acc.items()
        for seed, value in by_seed.items()
    ]
    return pd.DataFrame(rows, columns=["activation", "seed", "val_acc", "test_acc"])


def row(table, activation):
    (found,) = table[table["activation"] == activation].itertuples(index=False)
    return found


def pair(table, a, b):
    (found,) = table[(table["activation_a"] == a) & (table["activation_b"] == b)].itertuples()
    return found


RELU = {1: 0.885, 2: 0.887, 3: 0.889, 4: 0.884, 5: 0.890}
TANH = {1: 0.875, 2: 0.878, 3: 0.872, 4: 0.876, 5: 0.879}

# --- per activation -------------------------------------------------------------------------


def test_the_interval_of_the_mean_is_scipys_one_sample_t_interval():
    summary = replicate_summary(answer({"relu": RELU}))
    relu = row(summary, "relu")
    expected = stats.ttest_1samp(list(RELU.values()), 0.0).confidence_interval(0.95)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert relu.seeds == 5 and relu.interval_note == ""
    assert relu.test_acc_mean == pytest.approx(np.mean(list(RELU.values())))
    assert relu.test_acc_std == pytest.approx(np.std(list(RELU.values()), ddof=1))
    assert (relu.ci95_low, relu.ci95_high) == pytest.approx((expected.low, expected.high))
    assert relu.val_acc_mean == pytest.approx(relu.test_acc_mean + 0.005)


@pytest.mark.parametrize("seeds", [1, 2])
def test_fewer_than_three_seeds_give_no_interval_and_say_why(seeds):
    summary = replicate_summary(answer({"tanh": dict(list(TANH.items())[:seeds])}))
    tanh = row(summary, "tanh")
    assert math.isnan(tanh.ci95_low) and math.isnan(tanh.ci95_high)
    assert tanh.interval_note == f"{seeds} seed{'s' if seeds > 1 else ''}: an interval needs 3"
    assert tanh.seeds == seeds and not math.isnan(tanh.test_acc_mean)


def test_an_interval_that_would_leave_0_to_100_is_not_given():
    # mean 0.5, s 0.5: the t-interval of 3 seeds spans ±1.24
    spread = row(replicate_summary(answer({"x": {1: 0.0, 2: 0.5, 3: 1.0}})), "x")
    assert math.isnan(spread.ci95_low) and "leaves [0, 100]" in spread.interval_note


def test_identical_values_give_an_interval_of_zero_width_at_that_value():
    elu = row(replicate_summary(answer({"elu": dict.fromkeys(range(7), 0.8759)})), "elu")
    assert (elu.test_acc_mean, elu.test_acc_std, elu.ci95_low, elu.ci95_high) == (
        0.8759,
        0.0,
        0.8759,
        0.8759,
    )


@pytest.mark.parametrize("bad", [88.6, -0.01, math.nan])
def test_accuracies_outside_0_to_1_are_refused(bad):
    with pytest.raises(ValueError, match="fractions"):
        replicate_summary(answer({"relu": {1: 0.88, 2: bad}}, val_gap=0))
    with pytest.raises(ValueError, match="fractions"):
        pairwise_differences(answer({"relu": {1: 0.88, 2: bad}, "tanh": {1: 0.87, 2: 0.86}}))


# --- against a published single run ---------------------------------------------------------


def test_a_published_run_is_compared_with_where_one_new_run_would_fall():
    values = {1: 0.8931, 2: 0.8950, 3: 0.8902, 4: 0.8921}
    summary = replicate_summary(answer({"relu": values, "tanh": TANH}), UVA_TEST_ACC)
    relu = row(summary, "relu")
    x = np.array(list(values.values()))
    n, mean, s = len(x), x.mean(), x.std(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * s * math.sqrt(1 + 1 / n)
    assert list(summary.columns) == [*SUMMARY_COLUMNS, *REFERENCE_COLUMNS]
    assert (relu.uva_pi95_low, relu.uva_pi95_high) == pytest.approx((mean - half, mean + half))
    t = (UVA_TEST_ACC["relu"] - mean) / (s * math.sqrt(1 + 1 / n))
    assert relu.uva_p_value == pytest.approx(2 * stats.t.sf(abs(t), n - 1))
    # the prediction interval is wider than the interval of the mean by sqrt(n + 1)
    assert relu.uva_pi95_high - relu.uva_pi95_low == pytest.approx(
        (relu.ci95_high - relu.ci95_low) * math.sqrt(n + 1)
    )
    p_values = [relu.uva_p_value, row(summary, "tanh").uva_p_value]
    adjusted = multipletests(p_values, method="holm")[1]
    assert [relu.uva_p_adjusted, row(summary, "tanh").uva_p_adjusted] == pytest.approx(adjusted)
    assert relu.uva_verdict == (ABOVE if relu.uva_p_adjusted < 0.05 else NOT_SHOWN)


def test_a_published_run_at_chance_is_not_compared_nor_counted_in_the_family():
    summary = replicate_summary(answer({"sigmoid": RELU, "relu": RELU, "gelu": RELU}), UVA_TEST_ACC)
    sigmoid, gelu = row(summary, "sigmoid"), row(summary, "gelu")
    assert sigmoid.uva_test_acc == pytest.approx(0.10) and math.isnan(sigmoid.uva_p_value)
    assert "stayed at chance" in sigmoid.uva_verdict
    assert math.isnan(gelu.uva_test_acc) and gelu.uva_verdict == ""
    assert row(summary, "relu").uva_p_adjusted == pytest.approx(row(summary, "relu").uva_p_value)


def test_the_published_figures_are_the_uva_tutorials_in_fractions():
    published_percent = {
        "sigmoid": 10.00,
        "tanh": 87.59,
        "relu": 88.62,
        "leakyrelu": 88.92,
        "elu": 87.27,
        "swish": 88.73,
    }
    assert {name: 100 * acc for name, acc in UVA_TEST_ACC.items()} == pytest.approx(
        published_percent
    )


# --- between activations --------------------------------------------------------------------


def test_each_pair_is_scipys_paired_t_test_adjusted_by_statsmodels_holm():
    elu = {seed: value - 0.0002 * seed for seed, value in RELU.items()}
    table = pairwise_differences(answer({"relu": RELU, "tanh": TANH, "elu": elu}))
    assert list(table.columns) == list(PAIRWISE_COLUMNS)
    raw = []
    for a, b, x, y in (("relu", "tanh", RELU, TANH), ("relu", "elu", RELU, elu)):
        test = stats.ttest_rel(list(x.values()), list(y.values()))
        found = pair(table, a, b)
        assert found.seeds == 5 and found.p_value == pytest.approx(test.pvalue)
        ci = test.confidence_interval()
        assert (found.diff_ci_low, found.diff_ci_high) == pytest.approx((ci.low, ci.high))
        raw.append(test.pvalue)
    raw.append(pair(table, "tanh", "elu").p_value)
    assert list(table["p_adjusted"]) == pytest.approx(multipletests(raw, method="holm")[1])


def test_the_equivalence_p_is_statsmodels_paired_tost():
    near = {seed: value + 0.0004 * (-1) ** seed for seed, value in RELU.items()}
    found = pair(pairwise_differences(answer({"relu": RELU, "near": near})), "relu", "near")
    p, _, _ = ttost_paired(
        np.array(list(RELU.values())), np.array(list(near.values())), -MARGIN, MARGIN
    )
    assert found.p_equivalence == pytest.approx(p)
    assert found.verdict == EQUIVALENT


def test_p_a_beats_b_counts_wins_and_half_ties_with_statsmodels_wilson_interval():
    b = {1: 0.80, 2: 0.81, 3: 0.82, 4: 0.83}
    a = {1: 0.81, 2: 0.81, 3: 0.80, 4: 0.84}  # wins, tie, loss, win
    found = pair(pairwise_differences(answer({"a": a, "b": b})), "a", "b")
    assert found.p_a_beats_b == pytest.approx(2.5 / 4)
    low, high = proportion_confint(2.5, 4, alpha=0.05, method="wilson")
    assert (found.p_a_beats_b_low, found.p_a_beats_b_high) == pytest.approx((low, high))


def test_only_seeds_both_ran_are_paired():
    relu = {**RELU, 7: 0.10}  # seed 7 has no tanh partner
    tanh = {**TANH, 9: 0.99}
    found = pair(pairwise_differences(answer({"relu": relu, "tanh": tanh})), "relu", "tanh")
    assert found.seeds == 5
    assert found.p_value == pytest.approx(
        stats.ttest_rel(list(RELU.values()), list(TANH.values())).pvalue
    )


@pytest.mark.parametrize(
    ("gaps", "expected"),
    [
        ((0.010, 0.012, 0.014, 0.011), A_AHEAD),  # t = 11.3, 3 degrees of freedom
        ((-0.014, -0.012, -0.010, -0.013), B_AHEAD),
        ((0.0002, -0.0003, 0.0001, 0.0), EQUIVALENT),  # tight around 0: inside ±0.3 points
        ((0.010, -0.006, 0.004, -0.002), NOT_SHOWN),  # wide: neither shown
    ],
)
def test_the_verdict_follows_the_adjusted_tests(gaps, expected):
    b = {1: 0.80, 2: 0.81, 3: 0.82, 4: 0.83}  # one pair only: Holm changes nothing
    a = {seed: b[seed] + d for seed, d in zip(b, gaps, strict=True)}
    found = pair(pairwise_differences(answer({"a": a, "b": b})), "a", "b")
    assert found.p_adjusted == found.p_value and found.verdict == expected


def test_holm_keeps_a_verdict_that_one_pair_alone_would_give_from_many():
    # p about 0.01 on one pair: "ahead" alone; with 14 more pairs of no difference, not shown
    b = {1: 0.80, 2: 0.81, 3: 0.82}
    a = {1: 0.806, 2: 0.813, 3: 0.8262}
    alone = pair(pairwise_differences(answer({"a": a, "b": b})), "a", "b")
    assert alone.p_value < 0.05 and alone.verdict == A_AHEAD
    others = {f"x{i}": dict(b) for i in range(4)}
    crowd = pair(pairwise_differences(answer({"a": a, "b": b, **others})), "a", "b")
    assert crowd.p_value == pytest.approx(alone.p_value)
    assert crowd.p_adjusted > 0.05 and crowd.verdict != A_AHEAD


@pytest.mark.parametrize("common", [0, 1, 2])
def test_fewer_than_three_common_seeds_are_too_few_to_test(common):
    a = {1: 0.8, 2: 0.81, 3: 0.82}
    b = {seed + 3 - common: value - 0.01 for seed, value in a.items()}
    found = pair(pairwise_differences(answer({"a": a, "b": b})), "a", "b")
    assert found.seeds == common and found.verdict == TOO_FEW_SEEDS
    assert math.isnan(found.p_value) and math.isnan(found.p_adjusted)
    assert math.isnan(found.diff_ci_low) and math.isnan(found.p_a_beats_b_low)


def test_every_pair_is_listed_once_in_the_given_order():
    pairs = pairwise_differences(answer({name: RELU for name in ("relu", "tanh", "elu")}))
    assert list(zip(pairs["activation_a"], pairs["activation_b"], strict=True)) == [
        ("relu", "tanh"),
        ("relu", "elu"),
        ("tanh", "elu"),
    ]


def test_the_leader_is_picked_on_validation_not_test_accuracy():
    frame = answer({"relu": RELU, "tanh": TANH})
    frame.loc[frame["activation"] == "tanh", "val_acc"] = 0.95  # tanh best on validation only
    assert leader(replicate_summary(frame)) == "tanh"


# --- properties -----------------------------------------------------------------------------

# No subnormal floats: once a test has trained, this process flushes them (core/process/device.py).
accuracies = st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False)
by_seed = st.dictionaries(st.integers(0, 12), accuracies, min_size=1, max_size=12)


def same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-9)


@given(by_seed, by_seed)
def test_b_against_a_mirrors_a_against_b(a, b):
    ab = pair(pairwise_differences(answer({"a": a, "b": b}, 0)), "a", "b")
    ba = pair(pairwise_differences(answer({"b": b, "a": a}, 0)), "b", "a")
    mirrored = {A_AHEAD: B_AHEAD, B_AHEAD: A_AHEAD}
    assert ab.seeds == ba.seeds and mirrored.get(ab.verdict, ab.verdict) == ba.verdict
    assert same(ab.diff_mean, -ba.diff_mean) and same(ab.diff_ci_low, -ba.diff_ci_high)
    assert same(ab.p_value, ba.p_value) and same(ab.p_equivalence, ba.p_equivalence)
    assert same(ab.p_a_beats_b, 1 - ba.p_a_beats_b)
    assert same(ab.p_a_beats_b_low, 1 - ba.p_a_beats_b_high)


@settings(deadline=None, max_examples=20)  # statsmodels' multipletests takes ~40 ms a call
@given(st.lists(st.one_of(st.floats(0, 1, allow_subnormal=False), st.just(math.nan)), max_size=20))
def test_holm_matches_statsmodels_and_never_lowers_a_p_value(p_values):
    adjusted = holm(p_values)
    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    assert all(math.isnan(adjusted[i]) for i in range(len(p_values)) if i not in tested)
    if tested:
        expected = multipletests([p_values[i] for i in tested], method="holm")[1]
        assert [adjusted[i] for i in tested] == pytest.approx(list(expected), abs=1e-12)
        assert all(p_values[i] <= adjusted[i] + 1e-15 <= 1 + 1e-15 for i in tested)


@given(st.integers(3, 60), st.data())
def test_the_wilson_interval_is_statsmodels_and_holds_the_share(n, data):
    wins = data.draw(st.integers(0, 2 * n)) / 2
    low, high = wilson(wins, n)
    assert (low, high) == pytest.approx(proportion_confint(wins, n, method="wilson"), abs=1e-12)
    assert 0 <= low <= wins / n <= high <= 1


middling = st.dictionaries(
    st.integers(0, 12), st.floats(0.1, 0.9, allow_subnormal=False), min_size=1, max_size=12
)


@given(middling, middling, st.floats(-0.1, 0.1, allow_subnormal=False))
def test_shifting_one_activation_shifts_the_difference_and_its_interval(a, b, d):
    before = pair(pairwise_differences(answer({"a": a, "b": b}, 0)), "a", "b")
    shifted = {seed: value + d for seed, value in a.items()}
    after = pair(pairwise_differences(answer({"a": shifted, "b": b}, 0)), "a", "b")
    for column in ("diff_mean", "diff_ci_low", "diff_ci_high"):
        assert same(getattr(after, column), getattr(before, column) + d)


@given(st.lists(accuracies, min_size=0, max_size=12))
def test_every_interval_shown_lies_in_0_to_1_and_holds_the_mean(values):
    summary = replicate_summary(answer({"x": dict(enumerate(values))}, 0))
    if values:
        x = row(summary, "x")
        if math.isnan(x.ci95_low):
            assert x.interval_note
        else:
            assert 0 <= x.ci95_low <= x.test_acc_mean <= x.ci95_high <= 1
