"""The sweep file's `objective:` (core/schema/objectives.py): which lists are accepted, the one
line a wrong one gets, the pruner it rules out, and the Pareto front of generated points."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.process.errors import UsageError
from pipeline.core.schema import objectives
from pipeline.core.schema.sweep_config import SweepConfig

NAMES = list(objectives.OBJECTIVES)


@given(st.lists(st.sampled_from([*NAMES, "val_accuracy", "loss"]), max_size=5))
def test_an_objective_list_is_one_validation_measure_first_then_distinct_costs(names):
    valid = (
        bool(names)
        and names[0] in objectives.FIRST
        and all(n in objectives.OBJECTIVES and n not in objectives.FIRST for n in names[1:])
        and len(set(names)) == len(names)
    )
    try:
        config = SweepConfig.from_mapping({"study": "s", "objective": names})
    except UsageError as error:
        assert not valid, error
        assert "\n" not in str(error)
        assert str(error).startswith(("sweep config: objective", "sweep config: pruner"))
        return
    assert valid and config.objective == tuple(names)
    assert config.pruner == ("median" if len(names) == 1 else "none"), "unset: none for many"


def test_a_wrong_objective_names_the_allowed_ones_and_the_nearest():
    with pytest.raises(
        UsageError, match=r"objective must be one of: .*got 'val_accuracy' \(did you mean 'val_acc'"
    ):
        SweepConfig.from_mapping({"study": "s", "objective": "val_accuracy"})
    with pytest.raises(UsageError, match="one validation measure, first"):
        SweepConfig.from_mapping({"study": "s", "objective": ["parameters", "val_acc"]})


def test_a_pruner_given_with_a_multi_objective_study_is_refused():
    mapping = {"study": "s", "objective": ["val_acc", "epoch_seconds"], "pruner": "hyperband"}
    with pytest.raises(UsageError, match="pruner hyperband does not take a multi-objective"):
        SweepConfig.from_mapping(mapping)
    assert SweepConfig.from_mapping({**mapping, "pruner": "none"}).pruner == "none"
    assert SweepConfig.from_mapping({"study": "s", "objective": "val_loss"}).pruner == "median"


def test_the_objective_is_a_recorded_setting():
    val_loss = SweepConfig(objective="val_loss").recorded_settings()["objective"]
    assert val_loss == "val_loss" and SweepConfig().recorded_settings()["objective"] == "val_acc"


values = st.integers(0, 6).map(float)  # few values: ties and duplicates happen


@given(
    st.lists(st.tuples(values, values, values), max_size=12),
    st.sampled_from([("val_acc", "epoch_seconds", "parameters"), ("val_loss", "parameters")]),
)
def test_the_front_is_every_undominated_point(points, names):
    points = [p[: len(names)] for p in points]
    signs = [1 if d == "maximize" else -1 for d in objectives.directions(names)]

    def dominates(a, b) -> bool:
        a = [s * v for s, v in zip(signs, a, strict=True)]
        b = [s * v for s, v in zip(signs, b, strict=True)]
        return all(x >= y for x, y in zip(a, b, strict=True)) and a != b

    front = objectives.pareto_front(points, names)
    assert front == sorted(front)
    for index, point in enumerate(points):
        beaten = any(dominates(other, point) for other in points)
        assert (index in front) == (not beaten), (index, point)
    if points:
        best = max(range(len(points)), key=lambda i: signs[0] * points[i][0])
        assert any(signs[0] * points[i][0] == signs[0] * points[best][0] for i in front)


def test_nan_points_are_never_on_the_front():
    assert objectives.pareto_front(
        [(0.9, float("nan")), (0.5, 3.0)], ("val_acc", "parameters")
    ) == [1]


def test_better_follows_each_direction():
    for name, (direction, _) in objectives.OBJECTIVES.items():
        low, high = 0.2, 0.8
        assert objectives.better(name, high, low) == (direction == "maximize")
        assert not objectives.better(name, float("nan"), low)
    assert list(itertools.islice(objectives.OBJECTIVES, 2)) == list(objectives.FIRST)
