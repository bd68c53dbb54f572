"""Stage: the statistics of a study's answer. Replicate test accuracies (one per seed) become a
table per activation (mean, spread, Student-t interval of the mean) and a table per pair of
activations (a paired t-interval of their difference); both render as Markdown. Pure: plain values
in, pandas tables and text out. Accuracies are fractions in [0, 1]; the Markdown shows percent."""

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95

# Test accuracies published by the UvA Deep Learning Course, "Tutorial 3: Activation Functions"
# (the same 784-512-256-256-128-10 MLP on Fashion-MNIST, one run each, seed 42): a reference point.
UVA_TEST_ACC = {
    "sigmoid": 0.1000,  # stayed at chance (10 classes)
    "tanh": 0.8759,
    "relu": 0.8862,
    "leakyrelu": 0.8892,
    "elu": 0.8727,
    "swish": 0.8873,
}

SUMMARY_COLUMNS = (
    "activation",
    "seeds",
    "test_acc_mean",
    "test_acc_std",
    "ci95_low",
    "ci95_high",
    "uva_test_acc",
)
PAIRWISE_COLUMNS = (
    "activation_a",
    "activation_b",
    "paired_seeds",
    "paired_diff_mean",
    "paired_diff_ci_low",
    "paired_diff_ci_high",
    "verdict",
)
DISTINGUISHABLE = "distinguishable"
NOT_DISTINGUISHABLE = "not distinguishable at 95%"
TOO_FEW_SEEDS = "too few seeds"
PAIRWISE_NOTE = (
    "a − b: the mean over the seeds both ran of (seed s of a − seed s of b), in percentage "
    "points, with its 95% paired t-interval (n − 1 degrees of freedom), not Welch's unpaired one."
)
SUMMARY_NOTE = (
    "95% CI: Student's t interval of the mean over seeds (n − 1 degrees of freedom). "
    "UvA: the UvA Deep Learning Course's Tutorial 3, one run per activation."
)


def t_interval(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, sample std, CI low, CI high) of `values`, the interval by Student's t with n - 1
    degrees of freedom; std and interval are NaN for a single value, everything for none."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return (math.nan,) * 4
    if len(x) == 1:
        return float(x[0]), math.nan, math.nan, math.nan
    if np.ptp(x) == 0:  # identical values: exactly no spread, not rounding noise around it
        return float(x[0]), 0.0, float(x[0]), float(x[0])
    mean = float(np.mean(x))
    std = float(np.std(x, ddof=1))
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, len(x) - 1)) * std / math.sqrt(len(x))
    return mean, std, mean - half, mean + half


def _checked(activation: str, values) -> list[float]:
    values = [float(v) for v in values]
    wrong = [v for v in values if not 0.0 <= v <= 1.0]  # also catches NaN
    if wrong:
        raise ValueError(
            f"accuracies are fractions in [0, 1]: {activation} has {wrong[0]!r} (percent?)"
        )
    return values


def replicate_summary(acc_by_activation: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """One row per activation, in the given order: how many seeds, their mean test accuracy,
    sample std (ddof=1), the 95% t-interval of the mean, and UvA's published figure (NaN where
    none). With one seed, std and interval are NaN: one run shows no spread."""
    rows = []
    for activation, values in acc_by_activation.items():
        values = _checked(activation, values)
        mean, std, low, high = t_interval(values)
        rows.append(
            (activation, len(values), mean, std, low, high, UVA_TEST_ACC.get(activation, math.nan))
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def paired_difference(
    a: Mapping[int, float], b: Mapping[int, float]
) -> tuple[int, float, float, float, str]:
    """(seeds in common, mean of a[s] - b[s] over them, CI low, CI high, verdict)."""
    common = [seed for seed in a if seed in b]
    mean, _, low, high = t_interval([a[seed] - b[seed] for seed in common])
    if len(common) < 2:
        verdict = TOO_FEW_SEEDS
    elif low > 0 or high < 0:
        verdict = DISTINGUISHABLE
    else:
        verdict = NOT_DISTINGUISHABLE
    return len(common), mean, low, high, verdict


def pairwise_differences(
    acc_by_activation_and_seed: Mapping[str, Mapping[int, float]],
) -> pd.DataFrame:
    """One row per pair of activations (a before b in the given order): a − b in test accuracy,
    its 95% interval and a verdict; "distinguishable" when the interval excludes 0."""
    # Seed s of every activation shares its initial-weight RNG seed and data order, so runs pair
    # by seed: the paired t-interval removes what the seed does to both (Welch's would not).
    checked = {
        activation: dict(zip(by_seed, _checked(activation, by_seed.values()), strict=True))
        for activation, by_seed in acc_by_activation_and_seed.items()
    }
    rows = [(a, b, *paired_difference(checked[a], checked[b])) for a, b in combinations(checked, 2)]
    return pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))


def _percent(value: float, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def _interval(low: float, high: float, signed: bool = False) -> str:
    if math.isnan(low) or math.isnan(high):
        return "–"
    return f"[{_percent(low, signed)}, {_percent(high, signed)}]"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], note: str) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join([*lines, "", note]) + "\n"


def summary_markdown(summary: pd.DataFrame) -> str:
    """`replicate_summary`'s table in GitHub Markdown: percent with 2 decimals, "mean ± std",
    "[low, high]", "–" where a value is missing; a single seed is said to give no interval."""
    rows = []
    for row in summary.itertuples(index=False):
        interval = _interval(row.ci95_low, row.ci95_high)
        if row.seeds == 1:
            interval = "– (one seed: no interval)"
        mean = f"{_percent(row.test_acc_mean)} ± {_percent(row.test_acc_std)}"
        rows.append((row.activation, str(row.seeds), mean, interval, _percent(row.uva_test_acc)))
    headers = ("activation", "seeds", "test acc % (mean ± std)", "95% CI of the mean", "UvA %")
    return _table(headers, rows, SUMMARY_NOTE)


def pairwise_markdown(pairs: pd.DataFrame) -> str:
    """`pairwise_differences`' table in GitHub Markdown, differences in signed percentage points,
    with a note under it naming the interval."""
    rows = [
        (
            row.activation_a,
            row.activation_b,
            str(row.paired_seeds),
            _percent(row.paired_diff_mean, signed=True),
            _interval(row.paired_diff_ci_low, row.paired_diff_ci_high, signed=True),
            row.verdict,
        )
        for row in pairs.itertuples(index=False)
    ]
    headers = ("a", "b", "seeds paired", "a − b (points)", "95% CI (paired t)", "verdict")
    return _table(headers, rows, PAIRWISE_NOTE)
