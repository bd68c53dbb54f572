"""Names a config allows are matched without regard to case, and a near miss is answered with
the nearest allowed name: for every Literal field of the training and sweep configs."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.fields import choices
from pipeline.core.schema.foreign_specs import check_native
from pipeline.core.schema.sweep_config import SweepConfig

NAMED = [
    (model, key, value)
    for model in (TrainConfig, SweepConfig)
    for key, field in model.model_fields.items()
    for value in choices(field.annotation)
    if isinstance(value, str)
]


def build(model, key: str, value: str):
    if model is SweepConfig:
        space = {"lr": {"low": 0.001, "high": 0.1}}  # a range: any sampler can draw from it
        return SweepConfig.from_mapping({"study": "s", **space, key: value})
    return TrainConfig(**{key: value})


def test_the_configs_have_named_choices():
    keys = {key for _, key, _ in NAMED}
    assert {"optimizer", "lr_schedule", "init", "sampler", "pruner"} <= keys


@given(case=st.sampled_from(NAMED), flips=st.lists(st.booleans(), min_size=12, max_size=12))
def test_any_case_of_an_allowed_name_is_that_name(case, flips):
    model, key, value = case
    written = "".join(c.upper() if flip else c for c, flip in zip(value, flips, strict=False))
    written += value[len(flips) :]
    assert getattr(build(model, key, written), key) == value


@given(case=st.sampled_from(NAMED), data=st.data())
def test_a_name_one_letter_off_is_answered_with_the_nearest(case, data):
    model, key, value = case
    allowed = {v for m, k, v in NAMED if (m, k) == (model, key)}
    if len(value) < 4:
        return  # too short for one letter to leave it recognisable
    at = data.draw(st.integers(0, len(value) - 1))
    typo = value[:at] + value[at + 1 :]  # one letter dropped
    if typo.lower() in {a.lower() for a in allowed}:
        return
    with pytest.raises(UsageError) as raised:
        build(model, key, typo)
    message = str(raised.value)
    assert f"{key} must be one of:" in message and f"got {typo!r} (did you mean '" in message
    suggested = message.split("(did you mean '")[1].split("'")[0]
    assert suggested in allowed


@given(low=st.floats(1e-6, 1e-2), high=st.floats(0.02, 1.0), log=st.booleans())
def test_a_wandb_range_is_refused_with_this_files_equivalent(low, high, log):
    spec = {"distribution": "log_uniform_values" if log else "uniform", "min": low, "max": high}
    with pytest.raises(UsageError) as raised:
        check_native({"lr": spec}, "f.yaml")
    native = f"`lr: {{low: {low}, high: {high}{', log: true' if log else ''}}}`"
    assert str(raised.value).endswith(f"is W&B's form; here write {native}")
