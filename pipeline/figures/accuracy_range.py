"""The accuracy range that both figures of accuracy intervals show.

It spans the seeds' values and intervals; a reference (a published figure) widens it only where it
lies near them. One far off, like UvA's sigmoid at chance beside a sigmoid that trained, is drawn at
the edge with its value written, rather than squashing every interval into a few pixels.
"""

import math
from collections.abc import Iterable

REFERENCE_REACH = 0.03  # a reference within 3 points of the replicates widens the range
MIN_PADDING = 0.005


def accuracy_range(values: Iterable[float], references: Iterable[float]) -> tuple[float, float]:
    """(bottom, top) of the accuracy axis for these values (NaN ignored) and references."""
    finite = [v for v in values if math.isfinite(v)]
    references = [r for r in references if math.isfinite(r)]
    if not finite:
        finite = references or [0.0, 1.0]
    low, high = min(finite), max(finite)
    near = [r for r in references if low - REFERENCE_REACH <= r <= high + REFERENCE_REACH]
    low, high = min([low, *near]), max([high, *near])
    padding = max(MIN_PADDING, 0.08 * (high - low))
    return low - padding, high + padding
