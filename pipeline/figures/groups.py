"""What the static and the interactive response figures share, without their plotting
libraries: the shape that stands for each value of a swept categorical setting."""

from collections.abc import Mapping, Sequence
from typing import Any


def group_shapes(
    points: Mapping[str, Sequence[tuple[Any, ...]]], shapes: Sequence[str]
) -> dict[str, str]:
    """Each group the points hold (their 4th field), in sorted order, with its shape."""
    groups = sorted({row[3] for rows in points.values() for row in rows})
    return {group: shapes[index % len(shapes)] for index, group in enumerate(groups)}
