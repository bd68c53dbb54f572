"""A sweep's space in the study: a grid of several settings, and a sampler's points drawn at
claim time from each activation's own trials, the same number of trials per activation."""

from collections import Counter

import pytest
from optuna.trial import TrialState

from pipeline.adapters import studies
from pipeline.core.process.errors import PipelineError
from pipeline.core.schema.sweep_config import SweepConfig

from .conftest import STORAGES

SPACE = {
    "activations": ["relu", "tanh"],
    "lr": {"low": 1e-3, "high": 0.3},
    "momentum": {"low": 0.5, "high": 0.95},
    "optimizer": ["sgd", "adam"],
    "batch_size": [32, 64],
    "trials_per_activation": 6,
}


def open_study(tmp_path, orphans=None, kind="sqlite", create=True, **values) -> studies.Study:
    config = SweepConfig.from_mapping(
        {"study": "unit", "storage": STORAGES[kind].format(tmp_path), **values}
    )
    return studies.Study(config, create, lambda run_id, why: None)


def run_all(study: studies.Study, others=(), value=lambda point: 0.5) -> list[dict]:
    """Claim until the queue is empty, alternating between `study` and `others` (workers
    each with its own handle), keeping two trials running at once; every trial completes with
    `value(point)`. The points, in the order they were drawn."""
    handles, running, points = [study, *others], [], []
    for turn in range(1000):
        handle = handles[turn % len(handles)]
        claimed = studies.claim(handle)
        for trial in claimed:
            points.append(trial.point)
            handle.set_run_id(trial, f"run-{trial.number}")
            running.append((handle, trial))
        if len(running) >= 2 or (not claimed and running):
            holder, trial = running.pop(0)  # the handle that claimed it tells it
            holder.tell(trial, "COMPLETE", value(trial.point))
        if not claimed and not running:
            return points
    raise AssertionError("the queue never emptied")


def key(point: dict) -> tuple:
    return tuple(sorted(point.items()))


@pytest.mark.parametrize("sampler", ["random", "tpe", "gp"])
def test_a_sampler_gives_every_activation_the_same_trials_inside_the_space(tmp_path, sampler):
    study = open_study(tmp_path, sampler=sampler, **SPACE)
    studies.queue_missing(study)
    studies.queue_missing(study)  # a rerun's preparation adds nothing
    queued = studies.trials(study, TrialState.WAITING)
    assert Counter(t.user_attrs["activation"] for t in queued) == {"relu": 6, "tanh": 6}
    assert [t.user_attrs["activation"] for t in queued[:4]] == ["relu", "tanh"] * 2, "in turns"
    points = run_all(study, value=lambda p: 0.9 - abs(p["lr"] - 0.05))
    assert Counter(p["activation"] for p in points) == {"relu": 6, "tanh": 6}
    for point in points:
        assert 1e-3 <= point["lr"] <= 0.3 and 0.5 <= point.get("momentum", 0.5) <= 0.95
        assert point["optimizer"] in ("sgd", "adam") and point["batch_size"] in (32, 64)
        assert ("momentum" in point) == (point["optimizer"] == "sgd"), "Adam has no momentum"
    assert len({key(p) for p in points}) == 12, "no point twice"
    assert studies.open_points(study) == [] and studies.grid_finished(study)
    studies.queue_missing(study)
    assert studies.trials(study, TrialState.WAITING) == [], "an Adam point is a whole point"
    best = studies.best_trials(study)
    assert set(best) == {"relu", "tanh"}
    momentum = {"momentum"} if best["relu"].params["optimizer"] == "sgd" else set()
    assert set(best["relu"].params) == {"lr", "optimizer", "batch_size", *momentum}


def test_tpe_with_two_workers_never_runs_a_point_twice(tmp_path):
    """Two handles on one study claim in turns while the other's trial still runs (constant
    liar): on a small categorical space every point of an activation comes up once."""
    small = {"activations": ["relu", "tanh"], "lr": [0.01, 0.03, 0.1], "batch_size": [32, 64]}
    study = open_study(tmp_path, sampler="tpe", trials_per_activation=6, **small)
    other = open_study(tmp_path, create=False, sampler="tpe", trials_per_activation=6, **small)
    studies.queue_missing(study)
    points = run_all(study, [other], value=lambda p: p["lr"])
    assert len(points) == 12 and len({key(p) for p in points}) == 12


def test_a_sampler_learns_within_each_activation_from_its_own_trials(tmp_path):
    """A sampler's draw for one activation never sees another's trials: the first draws of
    tanh are the same whatever relu's trials scored."""
    firsts = []
    for scale in (0.1, 0.9):
        folder = tmp_path / str(scale)
        folder.mkdir()
        study = open_study(folder, sampler="tpe", **SPACE)
        studies.queue_missing(study)
        points = run_all(study, value=lambda p, s=scale: s if p["activation"] == "relu" else 0.5)
        firsts.append([p for p in points if p["activation"] == "tanh"][:2])
    assert firsts[0] == firsts[1]


def test_a_grid_of_several_settings_queues_their_product_and_stacks_by_shape(tmp_path):
    values = {"activations": ["relu", "tanh"], "lr": [0.01, 0.1], "batch_size": [32, 64]}
    study = open_study(tmp_path, stack=8, **values)
    studies.queue_missing(study)
    assert len(studies.trials(study, TrialState.WAITING)) == 8
    first = studies.claim(study, 8)
    points = [t.point for t in first]
    assert len(first) == 4 and len({p["batch_size"] for p in points}) == 1, "one shape a stack"
    assert {t.config.batch_size for t in first} == {points[0]["batch_size"]}


def test_a_stack_holds_one_optimizer_family(tmp_path):
    values = {"activations": ["relu"], "lr": [0.01, 0.1], "optimizer": ["sgd", "adam", "adamw"]}
    study = open_study(tmp_path, stack=6, **values)
    studies.queue_missing(study)
    stacks = [studies.claim(study, 6) for _ in range(2)]
    kinds = [{t.point["optimizer"] for t in stack} for stack in stacks]
    assert sorted(map(sorted, kinds)) == [["adam", "adamw"], ["sgd"]]


def test_a_sweep_file_sweeping_precision_stacks_each_precision_apart(tmp_path):
    """`precision: [fp32, bf16-mixed]` in a sweep file is a dimension like optimizer: its grid
    points queue, a stack holds one precision (one autocast region), and each trial trains in
    its own."""
    path = tmp_path / "precision.yaml"
    path.write_text(
        "study: unit\nactivations: [relu]\nlr: [0.01, 0.1]\nprecision: [fp32, bf16-mixed]\n"
        f"storage: {STORAGES['sqlite'].format(tmp_path)}\nstack: 4\n"
    )
    config = SweepConfig.load(path)
    assert [d.key for d in config.dimensions] == ["lr", "precision"]
    study = studies.Study(config, True, lambda run_id, why: None)
    studies.queue_missing(study)
    stacks = [studies.claim(study, 4) for _ in range(2)]
    precisions = [{t.point["precision"] for t in stack} for stack in stacks]
    assert sorted(map(sorted, precisions)) == [["bf16-mixed"], ["fp32"]]
    for stack, [precision] in zip(stacks, precisions, strict=True):
        assert len(stack) == 2 and {t.config.precision for t in stack} == {precision}


def test_a_study_whose_settings_change_kind_is_refused(tmp_path):
    study = open_study(tmp_path, activations=["relu"], lr=[0.01], batch_size=[32, 64])
    studies.queue_missing(study)
    studies.claim(study)  # its point recorded as it is claimed
    with pytest.raises(
        PipelineError, match="was made with lr as a log range; it cannot become a choice"
    ):
        open_study(
            tmp_path,
            activations=["relu"],
            lr=[0.01],
            batch_size=[32, 64],
            sampler="random",
            trials_per_activation=2,
        )
