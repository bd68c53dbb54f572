"""The statistics of a study's answer as GitHub Markdown: the per-activation table, the pairwise
table, the notes naming their methods and what the intervals cover, and the headline, which
says only what survives the correction. Accuracies in percent, differences in points."""

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from pipeline.stages.statistics import (
    A_AHEAD,
    ALPHA,
    B_AHEAD,
    EQUIVALENT,
    MARGIN,
    MIN_SEEDS,
    TOO_FEW_SEEDS,
    leader,
)

CONFIDENCE_PERCENT = f"{100 * (1 - ALPHA):g}%"


def percent(value: float | None, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def interval(low: float, high: float, signed: bool = False, why: str = "") -> str:
    if math.isnan(low) or math.isnan(high):
        return f"– ({why})" if why else "–"
    return f"[{percent(low, signed)}, {percent(high, signed)}]"


def p_text(value: float) -> str:
    if math.isnan(value):
        return "–"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join([*lines, "", *notes]) + "\n"


def summary_markdown(summary: pd.DataFrame, test_images: int | None = None) -> str:
    """The per-activation table: seeds, mean validation accuracy, test accuracy mean ± std, the
    interval of the mean (or why there is none), and where published runs are compared, the
    interval one new run would fall in, the Holm-adjusted p and the verdict."""
    reference = "uva_test_acc" in summary
    headers = ["activation", "seeds", "val acc % (mean)", "test acc % (mean ± std)"]
    headers += [f"{CONFIDENCE_PERCENT} CI of the mean"]
    if reference:
        headers += ["UvA %", f"one new run, {CONFIDENCE_PERCENT} PI", "p (Holm)", "vs UvA"]
    rows = []
    for row in summary.itertuples(index=False):
        cells = [row.activation, str(row.seeds), percent(row.val_acc_mean)]
        cells += [f"{percent(row.test_acc_mean)} ± {percent(row.test_acc_std)}"]
        cells += [interval(row.ci95_low, row.ci95_high, why=row.interval_note)]
        if reference:
            why = "" if math.isnan(row.uva_p_value) else "leaves [0, 100]"
            cells += [
                percent(row.uva_test_acc),
                interval(row.uva_pi95_low, row.uva_pi95_high, why=why),
            ]
            cells += [p_text(row.uva_p_adjusted), row.uva_verdict or "–"]
        rows.append(cells)
    return _table(headers, rows, summary_notes(summary, reference, test_images))


def summary_notes(summary: pd.DataFrame, reference: bool, test_images: int | None) -> list[str]:
    notes = [
        f"{CONFIDENCE_PERCENT} CI: Student's t interval of the mean over seeds (n − 1 degrees "
        f"of freedom); none from fewer than {MIN_SEEDS} seeds. "
        + coverage_note(summary, test_images)
    ]
    if reference:
        compared = int(summary["uva_p_value"].notna().sum())
        notes += [
            "",
            "UvA: the UvA Deep Learning Course's Tutorial 3, the same network on Fashion-MNIST, "
            "one run per activation of another protocol (up to 50 epochs at a held lr). Each "
            "published run is compared with the interval one new run of ours would fall in, "
            "mean ± t·s·√(1 + 1/n) (PI), not with the interval of our mean; its p-value is "
            f"Holm-adjusted over the {plural(compared, 'compared run')} (a run that stayed at "
            "chance is not compared).",
        ]
    return notes


def coverage_note(summary: pd.DataFrame, test_images: int | None) -> str:
    """What the intervals cover: training randomness, not the test set's own sampling."""
    text = (
        "The intervals cover training randomness (initial weights, validation split, data "
        "order) on one fixed test set"
    )
    if not test_images:
        return text + ", whose own sampling error they do not include."
    accuracy = float(summary["test_acc_mean"].max())
    error = math.sqrt(accuracy * (1 - accuracy) / test_images)
    return (
        f"{text} of {test_images:,} images, whose own sampling error (a standard error of "
        f"{100 * error:.2f} points at {100 * accuracy:.1f}%) they do not include."
    )


def pair_verdict(row: Any) -> str:
    """The verdict with the activations' names; an ahead pair within ±MARGIN says so."""
    if row.verdict == A_AHEAD or row.verdict == B_AHEAD:
        ahead = row.activation_a if row.verdict == A_AHEAD else row.activation_b
        within = row.p_equivalence_adjusted < ALPHA
        return f"{ahead} ahead" + (f" (by less than {100 * MARGIN:g} points)" if within else "")
    return str(row.verdict)


def pairwise_markdown(pairs: pd.DataFrame) -> str:
    """Every pair: seeds paired, a − b in points with its interval, raw and Holm-adjusted
    p-values, the equivalence test's adjusted p, P(a beats b) with its interval, the verdict."""
    headers = ["a", "b", "seeds", "a − b (points)", f"{CONFIDENCE_PERCENT} CI", "p", "p (Holm)"]
    headers += [f"TOST ±{100 * MARGIN:g} p (Holm)", "P(a beats b)", "verdict"]
    rows = []
    for row in pairs.itertuples(index=False):
        why = f"{row.seeds} seeds" if row.verdict == TOO_FEW_SEEDS else ""
        share = "–" if math.isnan(row.p_a_beats_b) else f"{row.p_a_beats_b:.2f}"
        if not math.isnan(row.p_a_beats_b_low):
            share += f" [{row.p_a_beats_b_low:.2f}, {row.p_a_beats_b_high:.2f}]"
        names = (row.activation_a, row.activation_b, str(row.seeds))
        difference = (
            percent(row.diff_mean, True),
            interval(row.diff_ci_low, row.diff_ci_high, True, why),
        )
        p_values = (p_text(row.p_value), p_text(row.p_adjusted), p_text(row.p_equivalence_adjusted))
        rows.append((*names, *difference, *p_values, share, pair_verdict(row)))
    return _table(headers, rows, [pairwise_note(pairs)])


def pairwise_note(pairs: pd.DataFrame) -> str:
    tested = int(pairs["p_value"].notna().sum())
    return (
        "a − b: the mean over the seeds both ran of (seed s of a − seed s of b) in test accuracy, "
        f"with its {CONFIDENCE_PERCENT} paired t-interval. p: the paired t-test (chosen before "
        f"the runs); p (Holm): adjusted by Holm's method over the {plural(tested, 'pair')} "
        f'tested, so the chance of any false "ahead" among them stays under {ALPHA:g}. TOST: '
        "two one-sided "
        f"paired t-tests that the difference lies within ±{100 * MARGIN:g} points, the smallest "
        f'difference of interest, Holm-adjusted over the same pairs; "{EQUIVALENT}" only when '
        "it shows that. P(a beats b): the share of seeds where a's test accuracy is higher (a tie "
        f"counts half), with its {CONFIDENCE_PERCENT} Wilson interval. No test from fewer than "
        f"{MIN_SEEDS} seeds."
    )


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def headline(summary: pd.DataFrame, pairs: pd.DataFrame) -> str:
    """What holds after correction, in a few sentences: the leader on validation, who is shown
    ahead of whom, which pairs are shown within the margin, how many stay undecided."""
    top = leader(summary)
    if top is None:
        return ""
    by_name = summary.set_index("activation")
    lines = [
        f"On validation accuracy (the pick made without the test set) {top} leads, "
        f"{percent(by_name.loc[top, 'val_acc_mean'])}% mean over {by_name.loc[top, 'seeds']} "
        "seeds."
    ]
    tested = [row for row in pairs.itertuples() if not math.isnan(row.p_value)]
    ahead = [row for row in tested if row.verdict in (A_AHEAD, B_AHEAD)]
    same = [f"{r.activation_a}–{r.activation_b}" for r in tested if r.verdict == EQUIVALENT]
    correction = f"After Holm's correction over {plural(len(tested), 'pair')}"
    if ahead:
        lines.append(f"{correction}, in test accuracy (points, 95% CI): {_ahead_text(ahead)}.")
    elif tested:
        lines.append(f"{correction}, no activation is shown ahead of another in test accuracy.")
    if same:
        margin = f"±{100 * MARGIN:g} points"
        lines.append(f"Shown within {margin} (no practical difference): {', '.join(same)}.")
    if undecided := len(tested) - len(ahead) - len(same):
        lines.append(
            f"{plural(undecided, 'pair')} of {len(tested)} not shown different: neither ahead "
            "nor within the margin."
        )
    return " ".join(lines) + "\n"


def _ahead_text(rows: Iterable[Any]) -> str:
    """`relu is ahead of tanh by 0.48 points [0.22, 0.74] and of sigmoid by …; elu is …`,
    each activation that is ahead once, with the ones it beats."""
    beaten: dict[str, list[str]] = {}
    for row in rows:
        first, second, sign = row.activation_a, row.activation_b, 1
        if row.verdict == B_AHEAD:
            first, second, sign = second, first, -1
        low, high = sorted((sign * row.diff_ci_low, sign * row.diff_ci_high))
        gap = f"{percent(sign * row.diff_mean)} [{percent(low)}, {percent(high)}]"
        beaten.setdefault(first, []).append(f"{second} by {gap}")
    return "; ".join(f"{a} is ahead of {', '.join(b)}" for a, b in beaten.items())
