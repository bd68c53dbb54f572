"""A grid holds each point once as trials train it: a setting an optimizer does not have
(momentum, Nesterov without SGD) is left out of its points, and the points that then coincide
are one. Generated grids over the optimizers and SGD's settings."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import SGD_ONLY
from pipeline.core.schema.sweep_config import SweepConfig
from tests.conftest import REPO

optimizers = st.lists(st.sampled_from(["sgd", "adam", "adamw"]), min_size=1, unique=True)
momenta = st.lists(st.sampled_from([0.5, 0.8, 0.9, 0.95]), min_size=1, max_size=3, unique=True)


@given(
    optimizers=optimizers,
    momenta=momenta,
    nesterov=st.sampled_from([[False], [False, True]]),
    lrs=st.lists(st.sampled_from([0.001, 0.01, 0.1]), min_size=1, unique=True),
)
def test_a_grid_leaves_out_what_an_optimizer_does_not_have(optimizers, momenta, nesterov, lrs):
    if "sgd" not in optimizers:
        optimizers = [*optimizers, "sgd"]
    values = {"study": "s", "lr": lrs, "optimizer": optimizers, "momentum": momenta}
    values["nesterov"] = nesterov
    config = SweepConfig.from_mapping(values)
    others = len(optimizers) - 1
    per_activation = len(lrs) * (len(momenta) * len(nesterov) + others)
    assert config.points_per_activation == per_activation
    assert len(config.grid) == len(config.activations) * per_activation
    keys = [tuple(sorted(p.items())) for p in config.grid]
    assert len(set(keys)) == len(keys), "each point once"
    for point in config.grid:
        has = point["optimizer"] == "sgd"
        assert all((key in point) == has for key in SGD_ONLY), point


@given(
    optimizers=optimizers.filter(lambda found: "sgd" not in found), key=st.sampled_from(SGD_ONLY)
)
def test_a_setting_no_trial_has_is_not_swept(optimizers, key):
    values = {"study": "s", "lr": [0.01], "optimizer": optimizers}
    values[key] = [0.5, 0.9] if key == "momentum" else [False, True]
    with pytest.raises(UsageError, match=f"{key} is swept, but only SGD has it"):
        SweepConfig.from_mapping(values)


@pytest.mark.parametrize("path", sorted((REPO / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_committed_sweep_file_is_a_valid_space(path):
    config = SweepConfig.load(path)
    assert config.study == path.stem and config.trial_count >= len(config.activations)
