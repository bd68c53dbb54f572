import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import PathCollection
from matplotlib.container import ErrorbarContainer
from scipy import stats

from pipeline.figures import interactive, static
from pipeline.figures.accuracy_range import accuracy_range
from pipeline.stages.statistics import (
    DISTINGUISHABLE,
    NOT_DISTINGUISHABLE,
    PAIRWISE_COLUMNS,
    SUMMARY_COLUMNS,
    TOO_FEW_SEEDS,
    UVA_TEST_ACC,
    pairwise_differences,
    pairwise_markdown,
    replicate_summary,
    summary_markdown,
)

T_975_DF2 = 4.3027  # Student's t, 97.5th percentile, 2 degrees of freedom (printed tables)


def row(table, activation):
    (found,) = table[table["activation"] == activation].itertuples(index=False)
    return found


def pair(table, a, b):
    rows = table[(table["activation_a"] == a) & (table["activation_b"] == b)]
    (found,) = rows.itertuples(index=False)
    return found


# --- per activation -------------------------------------------------------------------------


def test_the_interval_of_the_mean_matches_one_computed_by_hand():
    # mean 0.87, deviations -0.02, 0, +0.02: s = sqrt(0.0008 / 2) = 0.02
    summary = replicate_summary({"relu": [0.85, 0.87, 0.89]})
    relu = row(summary, "relu")
    half = T_975_DF2 * 0.02 / math.sqrt(3)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert relu.seeds == 3
    assert relu.test_acc_mean == pytest.approx(0.87)
    assert relu.test_acc_std == pytest.approx(0.02)
    assert relu.ci95_low == pytest.approx(0.87 - half, abs=1e-5)
    assert relu.ci95_high == pytest.approx(0.87 + half, abs=1e-5)
    assert relu.uva_test_acc == pytest.approx(0.8862)


def test_the_interval_of_the_mean_matches_scipys_one_sample_t_test():
    values = [0.8812, 0.8791, 0.8840, 0.8779, 0.8825]
    expected = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    relu = row(replicate_summary({"relu": values}), "relu")
    assert (relu.ci95_low, relu.ci95_high) == pytest.approx((expected.low, expected.high))
    assert relu.test_acc_std == pytest.approx(np.std(values, ddof=1))


def test_one_seed_has_a_mean_but_no_spread_and_the_table_says_so():
    summary = replicate_summary({"tanh": [0.8759], "relu": [0.88, 0.89]})
    tanh = row(summary, "tanh")
    assert tanh.seeds == 1 and tanh.test_acc_mean == pytest.approx(0.8759)
    assert math.isnan(tanh.test_acc_std)
    assert math.isnan(tanh.ci95_low) and math.isnan(tanh.ci95_high)
    assert "| tanh | 1 | 87.59 ± – | – (one seed: no interval) | 87.59 |" in summary_markdown(
        summary
    )


@pytest.mark.parametrize("values", [[0.87] * 3, [0.8759] * 7])  # 7 x 0.8759 averages off by 1 ulp
def test_identical_values_give_an_interval_of_zero_width_at_that_value(values):
    elu = row(replicate_summary({"elu": values}), "elu")
    assert (elu.test_acc_mean, elu.test_acc_std) == (values[0], 0.0)
    assert (elu.ci95_low, elu.ci95_high) == (values[0], values[0])


def test_activations_without_a_published_figure_get_nan_and_the_order_is_kept():
    summary = replicate_summary({"gelu": [0.88, 0.89], "sigmoid": [0.85, 0.86]})
    assert list(summary["activation"]) == ["gelu", "sigmoid"]
    assert math.isnan(row(summary, "gelu").uva_test_acc)
    assert row(summary, "sigmoid").uva_test_acc == pytest.approx(0.10)


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


@pytest.mark.parametrize("bad", [88.6, -0.01, math.nan])
def test_accuracies_outside_0_to_1_are_refused(bad):
    with pytest.raises(ValueError, match="fractions"):
        replicate_summary({"relu": [0.88, bad]})
    with pytest.raises(ValueError, match="fractions"):
        pairwise_differences({"relu": {1: 0.88, 2: bad}, "tanh": {1: 0.87, 2: 0.86}})


# --- between activations --------------------------------------------------------------------


def test_the_paired_interval_matches_scipys_related_samples_test():
    relu = {1: 0.885, 2: 0.887, 3: 0.889, 4: 0.884}
    tanh = {1: 0.875, 2: 0.878, 3: 0.872, 4: 0.876}
    expected = stats.ttest_rel(list(relu.values()), list(tanh.values())).confidence_interval()
    pairs = pairwise_differences({"relu": relu, "tanh": tanh})
    found = pair(pairs, "relu", "tanh")
    assert list(pairs.columns) == list(PAIRWISE_COLUMNS)
    assert found.paired_seeds == 4
    assert found.paired_diff_mean == pytest.approx(0.01100)
    assert (found.paired_diff_ci_low, found.paired_diff_ci_high) == pytest.approx(
        (expected.low, expected.high)
    )
    assert found.verdict == DISTINGUISHABLE


def test_only_seeds_present_in_both_are_paired():
    relu = {1: 0.885, 2: 0.887, 3: 0.889, 7: 0.10}  # seed 7 has no tanh partner
    tanh = {3: 0.872, 1: 0.875, 2: 0.878, 9: 0.99}
    found = pair(pairwise_differences({"relu": relu, "tanh": tanh}), "relu", "tanh")
    expected = stats.ttest_rel([0.885, 0.887, 0.889], [0.875, 0.878, 0.872]).confidence_interval()
    assert found.paired_seeds == 3
    assert found.paired_diff_ci_low == pytest.approx(expected.low)
    assert found.paired_diff_ci_high == pytest.approx(expected.high)


def test_shared_seeds_make_the_paired_interval_narrower_than_welchs():
    # Each seed moves both activations alike: a paired interval sees a steady 1-point lead,
    # Welch's unpaired one is drowned by the spread between seeds.
    tanh = {1: 0.850, 2: 0.870, 3: 0.890, 4: 0.860}
    relu = {seed: value + 0.010 + 0.001 * (seed % 2) for seed, value in tanh.items()}
    welch = stats.ttest_ind(list(relu.values()), list(tanh.values()), equal_var=False)
    assert welch.confidence_interval().low < 0 < welch.confidence_interval().high
    assert pair(pairwise_differences({"relu": relu, "tanh": tanh}), "relu", "tanh").verdict == (
        DISTINGUISHABLE
    )


@pytest.mark.parametrize(
    ("shift", "verdict"),
    [(0.0, DISTINGUISHABLE), (-0.008, NOT_DISTINGUISHABLE), (-0.024, DISTINGUISHABLE)],
)
def test_the_verdict_flips_when_the_interval_crosses_zero(shift, verdict):
    # differences 0.010, 0.012, 0.014 (+ shift): half-width 4.3027 * 0.002 / sqrt(3) = 0.0050
    b = {1: 0.80, 2: 0.81, 3: 0.82}
    a = {seed: b[seed] + d + shift for seed, d in zip(b, (0.010, 0.012, 0.014), strict=True)}
    found = pair(pairwise_differences({"a": a, "b": b}), "a", "b")
    assert found.paired_diff_mean == pytest.approx(0.012 + shift)
    assert found.verdict == verdict


def test_a_difference_of_exactly_zero_is_not_distinguishable_and_a_steady_one_is():
    b = {1: 0.80, 2: 0.81, 3: 0.82}
    same = pair(pairwise_differences({"a": dict(b), "b": b}), "a", "b")
    assert (same.paired_diff_ci_low, same.paired_diff_ci_high) == (0.0, 0.0)
    assert same.verdict == NOT_DISTINGUISHABLE
    steady = pair(pairwise_differences({"a": {s: v + 0.1 for s, v in b.items()}, "b": b}), "a", "b")
    assert steady.verdict == DISTINGUISHABLE


@pytest.mark.parametrize(
    ("a", "b", "seeds"),
    [({1: 0.8, 2: 0.81}, {3: 0.7, 4: 0.71}, 0), ({1: 0.8, 2: 0.81}, {2: 0.7, 4: 0.71}, 1)],
)
def test_fewer_than_two_common_seeds_are_too_few(a, b, seeds):
    found = pair(pairwise_differences({"a": a, "b": b}), "a", "b")
    assert found.paired_seeds == seeds and found.verdict == TOO_FEW_SEEDS
    assert math.isnan(found.paired_diff_ci_low) and math.isnan(found.paired_diff_ci_high)
    assert math.isnan(found.paired_diff_mean) == (seeds == 0)


def test_every_pair_is_listed_once_in_the_given_order():
    by_seed = {name: {1: 0.8, 2: 0.81} for name in ("relu", "tanh", "elu")}
    pairs = pairwise_differences(by_seed)
    assert list(zip(pairs["activation_a"], pairs["activation_b"], strict=True)) == [
        ("relu", "tanh"),
        ("relu", "elu"),
        ("tanh", "elu"),
    ]


# --- Markdown -------------------------------------------------------------------------------


def test_the_summary_markdown_shows_percent_mean_std_interval_and_uva():
    text = summary_markdown(replicate_summary({"relu": [0.85, 0.87, 0.89], "gelu": [0.9, 0.9]}))
    lines = text.splitlines()
    assert lines[0] == (
        "| activation | seeds | test acc % (mean ± std) | 95% CI of the mean | UvA % |"
    )
    assert "| relu | 3 | 87.00 ± 2.00 | [82.03, 91.97] | 88.62 |" in lines
    assert "| gelu | 2 | 90.00 ± 0.00 | [90.00, 90.00] | – |" in lines


def test_the_pairwise_markdown_shows_signed_points_and_names_its_interval():
    b = {1: 0.80, 2: 0.81, 3: 0.82}
    a = {seed: b[seed] + d for seed, d in zip(b, (0.010, 0.012, 0.014), strict=True)}
    text = pairwise_markdown(pairwise_differences({"a": a, "b": b, "c": {9: 0.5}}))
    lines = text.splitlines()
    assert "| a | b | 3 | +1.20 | [+0.70, +1.70] | distinguishable |" in lines
    assert "| a | c | 0 | – | – | too few seeds |" in lines
    assert "paired t-interval" in lines[-1] and "not Welch" in lines[-1]


# --- properties -----------------------------------------------------------------------------

# No subnormal floats: once a test has trained, this process flushes them (core/device.py).
accuracies = st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False)
samples = st.lists(accuracies, min_size=2, max_size=30)
by_seed = st.dictionaries(st.integers(0, 12), accuracies, max_size=12)


@given(samples)
def test_the_interval_contains_the_mean(values):
    found = row(replicate_summary({"relu": values}), "relu")
    assert found.ci95_low <= found.test_acc_mean <= found.ci95_high


@given(samples)
def test_repeating_the_values_narrows_the_interval(values):
    once = row(replicate_summary({"relu": values}), "relu")
    twice = row(replicate_summary({"relu": values + values}), "relu")
    width_once, width_twice = once.ci95_high - once.ci95_low, twice.ci95_high - twice.ci95_low
    assert width_twice <= width_once
    if width_once > 0:
        assert width_twice < width_once


def same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-12)


@given(by_seed, by_seed)
def test_b_against_a_mirrors_a_against_b(a, b):
    ab = pair(pairwise_differences({"a": a, "b": b}), "a", "b")
    ba = pair(pairwise_differences({"b": b, "a": a}), "b", "a")
    assert ab.paired_seeds == ba.paired_seeds and ab.verdict == ba.verdict
    assert same(ab.paired_diff_mean, -ba.paired_diff_mean)
    assert same(ab.paired_diff_ci_low, -ba.paired_diff_ci_high)
    assert same(ab.paired_diff_ci_high, -ba.paired_diff_ci_low)


middling = st.dictionaries(
    st.integers(0, 12), st.floats(0.1, 0.9, allow_subnormal=False), max_size=12
)


@given(middling, middling, st.floats(-0.1, 0.1, allow_subnormal=False))
def test_shifting_one_activation_shifts_every_difference(a, b, d):
    before = pair(pairwise_differences({"a": a, "b": b}), "a", "b")
    shifted = {seed: value + d for seed, value in a.items()}
    after = pair(pairwise_differences({"a": shifted, "b": b}), "a", "b")
    for column in ("paired_diff_mean", "paired_diff_ci_low", "paired_diff_ci_high"):
        expected = getattr(before, column) + d
        found = getattr(after, column)
        assert (math.isnan(expected) and math.isnan(found)) or found == pytest.approx(
            expected, abs=1e-9
        )


# --- figures --------------------------------------------------------------------------------

VALUES = {
    "sigmoid": {1: 0.851, 2: 0.848, 3: 0.853},
    "tanh": {1: 0.875, 2: 0.878, 3: 0.872},
    "relu": {1: 0.885, 2: 0.887, 3: 0.889},
    "leakyrelu": {1: 0.889},
}


def figure_inputs():
    summary = replicate_summary({name: list(v.values()) for name, v in VALUES.items()})
    means = dict(zip(summary["activation"], summary["test_acc_mean"], strict=True))
    intervals = {r.activation: (r.ci95_low, r.ci95_high) for r in summary.itertuples()}
    return VALUES, means, intervals


def test_the_static_figure_has_one_interval_per_activation_and_a_dot_per_seed():
    values, means, intervals = figure_inputs()
    fig = static.accuracy_intervals(values, means, intervals, UVA_TEST_ACC)
    try:
        (ax,) = fig.axes
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == len(VALUES)
        assert sum(bar.has_yerr for bar in bars) == 3  # leakyrelu: one seed, no interval
        dots = [c for c in ax.collections if isinstance(c, PathCollection)]  # scatter
        points = sum(len(c.get_offsets()) for c in dots)
        assert points == sum(len(v) for v in VALUES.values()) + len(VALUES)  # seeds + UvA
        assert [t.get_text() for t in ax.get_xticklabels()] == list(VALUES)
        # UvA's sigmoid (10%) lies far below the replicates: marked at the edge, value written
        assert ax.get_ylim()[0] > 0.5
        assert [t.get_text() for t in ax.texts] == ["10.00% (off scale)"]
    finally:
        static.close(fig)


def test_a_reference_near_the_replicates_widens_the_range_and_a_far_one_does_not():
    assert accuracy_range([0.88, 0.89], [0.86])[0] < 0.86
    assert accuracy_range([0.88, 0.89], [0.10])[0] > 0.8
    assert accuracy_range([math.nan], [])[0] < 0 < 1 < accuracy_range([math.nan], [])[1]


def plotly_data(html: str) -> list:
    rest = html[html.index("Plotly.newPlot(") + len("Plotly.newPlot(") :]
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(rest.lstrip())  # the element id
    data, _ = decoder.raw_decode(rest.lstrip()[end:].lstrip().removeprefix(",").lstrip())
    return data


def test_the_interactive_page_is_self_contained_and_hovers_mean_interval_n_and_seeds():
    values, means, intervals = figure_inputs()
    html = interactive.accuracy_intervals(values, means, intervals, UVA_TEST_ACC)
    assert 'src="https://cdn.plot.ly' not in html and len(html) > 1_000_000  # plotly.js inline
    assert all(name in html for name in VALUES)
    hovers = [trace.get("hovertemplate", "") for trace in plotly_data(html)]
    relu = next(h for h in hovers if h.startswith("<b>relu</b>"))
    assert "mean 88.70%" in relu and "95% CI [" in relu and "n = 3" in relu
    assert all(f"seed {seed}: " in relu for seed in VALUES["relu"])
    leaky = next(h for h in hovers if h.startswith("<b>leakyrelu</b>"))
    assert "no interval (one seed)" in leaky and "n = 1" in leaky
    assert sum("UvA" in h for h in hovers) == 1


@settings(deadline=None, max_examples=5)
@given(st.lists(accuracies, min_size=0, max_size=4))
def test_the_static_figure_draws_any_number_of_seeds(seeds):
    values = {"relu": dict(enumerate(seeds))}
    summary = replicate_summary({"relu": seeds})
    means = {"relu": float(summary["test_acc_mean"][0])}
    intervals = {"relu": (float(summary["ci95_low"][0]), float(summary["ci95_high"][0]))}
    static.close(static.accuracy_intervals(values, means, intervals))
