"""Stage: the statistics of a study's answer, from each answer run's accuracy (one per activation
and seed). Per activation: the mean, its Student-t interval, and where a published single run
exists, the interval one new run would fall in with a test against it. Per pair of activations:
the paired t-test over the seeds both ran, Holm-corrected for the number of pairs, an
equivalence test (TOST) against the smallest difference of interest, and the share of seeds
where one beats the other. Pure: plain values in, pandas tables out; fractions in [0, 1].

The design is fixed before any run: the paired t-test (at n = 3 Wilcoxon's signed-rank test can
never reject at 5%), Holm's correction over every pair with enough seeds, MARGIN as the
smallest difference of interest, and no interval or test from fewer than MIN_SEEDS seeds."""

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05  # family-wise error rate of each family of tests
CONFIDENCE = 1 - ALPHA
MIN_SEEDS = 3  # fewer give no interval and no test: two seeds' t-interval spans ±12.7 s
MARGIN = 0.003  # the smallest difference of interest: 0.3 points of accuracy

# Test accuracies published by the UvA Deep Learning Course, "Tutorial 3: Activation Functions"
# (the same 784-512-256-256-128-10 MLP on Fashion-MNIST, one run each, up to 50 epochs at a held
# lr): single runs of another protocol, compared with where one new run would fall.
UVA_TEST_ACC = {
    "sigmoid": 0.1000,  # stayed at chance (10 classes): no trained model to compare with
    "tanh": 0.8759,
    "relu": 0.8862,
    "leakyrelu": 0.8892,
    "elu": 0.8727,
    "swish": 0.8873,
}
UVA_CHANCE = 0.15  # a published figure at or below this learned nothing: not compared

SUMMARY_COLUMNS = (
    "activation",
    "seeds",
    "val_acc_mean",
    "test_acc_mean",
    "test_acc_std",
    "ci95_low",
    "ci95_high",
    "interval_note",
)
REFERENCE_COLUMNS = (
    "uva_test_acc",
    "uva_pi95_low",
    "uva_pi95_high",
    "uva_p_value",
    "uva_p_adjusted",
    "uva_verdict",
)
PAIRWISE_COLUMNS = (
    "activation_a",
    "activation_b",
    "seeds",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "p_adjusted",
    "p_equivalence",
    "p_equivalence_adjusted",
    "p_a_beats_b",
    "p_a_beats_b_low",
    "p_a_beats_b_high",
    "verdict",
)
A_AHEAD, B_AHEAD = "a ahead", "b ahead"
EQUIVALENT = "no practical difference"
NOT_SHOWN = "not shown different"
TOO_FEW_SEEDS = "too few seeds"
ABOVE, BELOW = "ours above the published run", "ours below the published run"


def checked(activation: str, values: Sequence[float]) -> list[float]:
    """The values as floats, each a fraction in [0, 1] (a ValueError naming the first that is
    not, NaN included: percent passed by mistake)."""
    values = [float(v) for v in values]
    wrong = [v for v in values if not 0.0 <= v <= 1.0]
    if wrong:
        raise ValueError(
            f"accuracies are fractions in [0, 1]: {activation} has {wrong[0]!r} (percent?)"
        )
    return values


def t_interval(values: Sequence[float], widen: float = 0.0) -> tuple[float, float, float, float]:
    """(mean, sample std, low, high): the 95% Student-t interval of the mean (n - 1 degrees of
    freedom); with `widen` 1, the interval one more value would fall in (mean ± t·s·√(1 + 1/n)).
    NaN interval from fewer than MIN_SEEDS values; zero width for identical values."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return (math.nan,) * 4
    mean = float(x[0]) if np.ptp(x) == 0 else float(np.mean(x))  # no rounding around a constant
    std = math.nan if len(x) < 2 else (0.0 if np.ptp(x) == 0 else float(np.std(x, ddof=1)))
    if len(x) < MIN_SEEDS:
        return mean, std, math.nan, math.nan
    half = float(stats.t.ppf(1 - ALPHA / 2, len(x) - 1)) * std * math.sqrt(widen + 1 / len(x))
    return mean, std, mean - half, mean + half


def t_test(
    differences: Sequence[float],
    null: float = 0.0,
    side: Literal["two-sided", "less", "greater"] = "two-sided",
) -> float:
    """The one-sample t-test's p-value of mean(differences) against `null` (the paired test
    when they are paired differences); identical values give 0 or 1, which t cannot."""
    d = np.asarray(differences, dtype=float)
    if np.ptp(d) == 0:
        gap = float(d[0]) - null
        below, above = gap < 0, gap > 0
        return float({"two-sided": gap == 0, "less": not below, "greater": not above}[side])
    return float(stats.ttest_1samp(d, null, alternative=side).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted as a test)."""
    p = np.asarray(p_values, dtype=float)
    tested = np.flatnonzero(~np.isnan(p))
    adjusted = np.full(len(p), np.nan)
    running = 0.0
    for rank, index in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (len(tested) - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def wilson(successes: float, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion successes / n (NaN below MIN_SEEDS)."""
    if n < MIN_SEEDS:
        return math.nan, math.nan
    z, share = stats.norm.ppf(1 - ALPHA / 2), successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    # at a share of 0 or 1 the bound is exactly 0 or 1: rounding must not move it off
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    return low, 1.0 if successes == n else min(1.0, centre + half)


def interval_note(seeds: int, low: float, high: float) -> str:
    """Why an accuracy interval is not shown, or '' when it is."""
    if seeds < MIN_SEEDS:
        return f"{seeds} seed{'s' if seeds != 1 else ''}: an interval needs {MIN_SEEDS}"
    if low < 0 or high > 1:
        return "the t-interval leaves [0, 100]: the seeds spread too far to bound it"
    return ""


def _by_activation(answer: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The answer runs of each activation, in the order activations first appear."""
    order = dict.fromkeys(answer["activation"])
    return {a: answer[answer["activation"] == a].sort_values("seed") for a in order}


def replicate_summary(
    answer: pd.DataFrame, reference: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per activation of `answer` (a row per run: activation, seed, val_acc, test_acc):
    its seeds, mean validation accuracy, mean and sample std of test accuracy and the 95%
    t-interval of that mean (NaN, with `interval_note` saying why, from fewer than MIN_SEEDS
    seeds or where it would leave [0, 1]). With `reference` (published single runs), the
    REFERENCE_COLUMNS too: see against_reference."""
    rows = []
    for activation, runs in _by_activation(answer).items():
        test = checked(activation, runs["test_acc"])
        val = checked(activation, runs["val_acc"])
        mean, std, low, high = t_interval(test)
        note = interval_note(len(test), low, high)
        if note:
            low = high = math.nan
        rows.append((activation, len(test), float(np.mean(val)), mean, std, low, high, note))
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return summary if reference is None else against_reference(summary, answer, reference)


def against_reference(
    summary: pd.DataFrame, answer: pd.DataFrame, reference: Mapping[str, float]
) -> pd.DataFrame:
    """Each published single run (above UVA_CHANCE) against the interval one new run of ours
    would fall in, mean ± t·s·√(1 + 1/n): its two-sided p-value, Holm-adjusted over these
    comparisons as a family of their own, and a verdict."""
    columns: dict[str, list[Any]] = {key: [] for key in REFERENCE_COLUMNS}
    runs = _by_activation(answer)
    for activation in summary["activation"]:
        value = reference.get(activation, math.nan)
        test = [float(v) for v in runs[activation]["test_acc"]]
        compared = value > UVA_CHANCE and len(test) >= MIN_SEEDS
        _, _, low, high = t_interval(test, widen=1.0) if compared else (math.nan,) * 4
        if interval_note(len(test), low, high):
            low = high = math.nan
        p = _single_run_p(test, value) if compared else math.nan
        columns["uva_test_acc"].append(value)
        columns["uva_pi95_low"].append(low)
        columns["uva_pi95_high"].append(high)
        columns["uva_p_value"].append(p)
    columns["uva_p_adjusted"] = holm(columns["uva_p_value"])
    columns["uva_verdict"] = [
        _reference_verdict(columns["uva_test_acc"][i], mean, columns["uva_p_adjusted"][i], n)
        for i, (mean, n) in enumerate(zip(summary["test_acc_mean"], summary["seeds"], strict=True))
    ]
    return summary.assign(**columns)


def _single_run_p(values: Sequence[float], single: float) -> float:
    """Two-sided p of one run at `single` beside `values`: t = (single − mean) / (s·√(1 + 1/n))
    with n − 1 degrees of freedom."""
    n, mean = len(values), float(np.mean(values))
    std = float(np.std(values, ddof=1)) if np.ptp(values) > 0 else 0.0
    if std == 0:
        return float(single == mean)
    t = (single - mean) / (std * math.sqrt(1 + 1 / n))
    return float(2 * stats.t.sf(abs(t), n - 1))


def _reference_verdict(value: float, mean: float, p_adjusted: float, seeds: int) -> str:
    if math.isnan(value):
        return ""
    if value <= UVA_CHANCE:
        return "not compared: the published run stayed at chance"
    if seeds < MIN_SEEDS:
        return TOO_FEW_SEEDS
    if p_adjusted < ALPHA:
        return ABOVE if mean > value else BELOW
    return NOT_SHOWN


def pairwise_differences(answer: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of activations (a before b in their order in `answer`): over the seeds
    both ran, a − b in test accuracy, its 95% paired t-interval, the paired t-test's p-value
    and Holm's adjustment over every pair with MIN_SEEDS seeds, the TOST equivalence p-value
    for a difference within ±MARGIN (Holm-adjusted as a family of its own), the share of seeds
    where a beats b (a tie counts half) with its Wilson interval, and a verdict."""
    # Seed s of every activation shares its initial-weight RNG seed, data order and validation
    # split, so runs pair by seed: the paired test removes what the seed does to both.
    by_seed = {
        activation: dict(zip(runs["seed"], checked(activation, runs["test_acc"]), strict=True))
        for activation, runs in _by_activation(answer).items()
    }
    rows = [_pair(a, b, by_seed[a], by_seed[b]) for a, b in combinations(by_seed, 2)]
    table = pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS[:-1]))
    table["p_adjusted"] = holm(table["p_value"])
    table["p_equivalence_adjusted"] = holm(table["p_equivalence"])
    table["verdict"] = [
        verdict(r.seeds, r.diff_mean, r.p_adjusted, r.p_equivalence_adjusted)
        for r in table.itertuples()
    ]
    return table


def _pair(
    a: str, b: str, of_a: Mapping[int, float], of_b: Mapping[int, float]
) -> tuple[str | float, ...]:
    """A pair's row before the adjustments."""
    d = [of_a[seed] - of_b[seed] for seed in sorted(of_a) if seed in of_b]
    mean, _, low, high = t_interval(d)
    p = p_eq = math.nan
    if len(d) >= MIN_SEEDS:
        p = t_test(d)
        # TOST: the difference is above −MARGIN and below +MARGIN, each one-sided
        p_eq = max(t_test(d, -MARGIN, "greater"), t_test(d, MARGIN, "less"))
    wins = sum(x > 0 for x in d) + 0.5 * sum(x == 0 for x in d)
    share = wins / len(d) if d else math.nan
    low_share, high_share = wilson(wins, len(d))
    adjusted = math.nan  # filled in over the whole table
    return (
        a,
        b,
        len(d),
        mean,
        low,
        high,
        p,
        adjusted,
        p_eq,
        adjusted,
        share,
        low_share,
        high_share,
    )


def verdict(seeds: int, diff: float, p_adjusted: float, p_equivalence_adjusted: float) -> str:
    """What a pair's adjusted tests show: one ahead, no practical difference (within ±MARGIN),
    neither (not shown different), or too few seeds to test."""
    if seeds < MIN_SEEDS:
        return TOO_FEW_SEEDS
    if p_adjusted < ALPHA:
        return A_AHEAD if diff > 0 else B_AHEAD
    if p_equivalence_adjusted < ALPHA:
        return EQUIVALENT
    return NOT_SHOWN


def leader(summary: pd.DataFrame) -> str | None:
    """The activation with the best mean validation accuracy over its answer seeds (of equals,
    the first): the study's pick, made without the test set."""
    if summary.empty:
        return None
    return str(summary.loc[summary["val_acc_mean"].idxmax(), "activation"])
