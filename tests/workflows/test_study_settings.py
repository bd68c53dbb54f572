"""A study knows the settings its trials were trained with: a rerun, a worker or `make confirm`
with other values stops in one line naming each changed key, before anything is written;
adding grid points or replicate seeds goes on."""

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli.main import main
from pipeline.core.process.errors import PipelineError
from pipeline.core.schema.settings_changes import default_settings
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.workflows import sweep
from tests.conftest import client, one_line, runs_of
from tests.sweeps import run_sweep, study_of, write_config

ONE_POINT = {"activations": ["relu"], "lr": [0.05]}


def state(workdir: Path, config: Path) -> tuple:
    """What a run would change: the study's trials and attributes, every MLflow run, the
    registered versions and the report's files."""
    study = study_of(config)
    trials = [(t.number, t.state, t.value, t.datetime_complete) for t in study.get_trials()]
    experiment = client().get_experiment_by_name("activation-study").experiment_id
    runs = sorted(
        (r.info.run_id, r.info.status, r.info.end_time) for r in client().search_runs([experiment])
    )
    versions = len(client().search_model_versions())
    reports = {p.name: p.read_bytes() for p in (workdir / "reports/tiny").iterdir()}
    return trials, study.user_attrs, runs, versions, reports


def changed_line(config: Path, changes: str) -> str:
    return (
        f"error: study 'tiny' was trained with other settings than {config} gives ({changes}); "
        f"its trials would not compare with new ones: give `study:` in {config} a new name, "
        f"delete {Path('sweeps/tiny.db')} to start it afresh, or put the old values back\n"
    )


def test_a_changed_setting_stops_sweep_worker_and_confirm_before_they_write(
    workdir, tiny_data, capsys
):
    config = write_config(workdir, **ONE_POINT)
    assert run_sweep(config, tiny_data) == 0
    recorded = json.loads(study_of(config).user_attrs["settings"])
    assert recorded == SweepConfig.load(config).recorded_settings()
    before = state(workdir, config)
    capsys.readouterr()

    write_config(workdir, **ONE_POINT, max_epochs=3, patience=3)
    flags = ["--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]
    expected = changed_line(config, "max_epochs 2 -> 3, patience 2 -> 3")
    for attempt in (
        lambda: run_sweep(config, tiny_data),
        lambda: main(["worker", *flags]),
        lambda: main(["confirm", *flags, "--seeds", "2"]),
    ):
        assert attempt() == 1
        assert one_line(capsys.readouterr().err) == expected
    assert state(workdir, config) == before, "no trial, run, attribute or report written"

    # The ways out: the old values back (nothing left to do), or a study of its own.
    write_config(workdir, **ONE_POINT)
    assert run_sweep(config, tiny_data) == 0
    assert len(study_of(config).get_trials()) == 1
    assert len(runs_of(before[1]["mlflow_parent_run_id"])) == 1
    renamed = write_config(workdir, **ONE_POINT, study="tiny3", max_epochs=3)
    assert run_sweep(renamed, tiny_data) == 0
    [trial] = study_of(renamed).get_trials()
    run = client().get_run(trial.user_attrs["mlflow_run_id"])
    assert run.data.params["max_epochs"] == "3"


def test_added_grid_points_and_replicate_seeds_go_on(workdir, tiny_data):
    """An added lr, an added activation, and more replicate seeds (in the file, or by `make
    confirm --seeds`) are points of the same experiment: queued and trained, the rest kept."""
    budget = {"replicate_seeds": 1, "replicate_max_epochs": 2, "replicate_patience": 2}
    config = write_config(workdir, **ONE_POINT, **budget)
    assert run_sweep(config, tiny_data) == 0
    first = {t.number: t.datetime_complete for t in study_of(config).get_trials()}
    assert len(first) == 2  # the grid's point and its replicate

    write_config(workdir, activations=["relu", "tanh"], lr=[0.05, 0.1], **budget)
    assert run_sweep(config, tiny_data) == 0
    trials = study_of(config).get_trials()
    assert {t.number: t.datetime_complete for t in trials if t.number in first} == first
    grid = sorted(
        (t.params["activation"], t.params["lr"])
        for t in trials
        if t.user_attrs.get("phase", "grid") == "grid"
    )
    assert grid == [("relu", 0.05), ("relu", 0.1), ("tanh", 0.05), ("tanh", 0.1)]

    write_config(workdir, activations=["relu", "tanh"], lr=[0.05, 0.1], **budget | {
        "replicate_seeds": 2})  # fmt: skip
    assert run_sweep(config, tiny_data) == 0
    flags = ["--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]
    assert main(["confirm", *flags, "--seeds", "3"]) == 0
    replicates = [t for t in study_of(config).get_trials() if t.user_attrs.get("phase")]
    seeds = {(t.user_attrs["activation"], t.user_attrs["seed"]) for t in replicates}
    assert {seed for _, seed in seeds} == {43, 44, 45}
    assert {activation for activation, _ in seeds} == {"relu", "tanh"}


def forget_settings(config: Path) -> None:
    """The study as one made before settings were recorded."""
    with sqlite3.connect(config.parent / "sweeps/tiny.db") as db:
        db.execute("delete from study_user_attributes where key = 'settings'")


def test_a_study_made_before_settings_were_recorded_is_checked_by_its_parent_run(
    workdir, tiny_data, capsys
):
    """Its MLflow parent run logged the training keys: a changed one stops it as a recorded one
    would; with the same ones it goes on and records them."""
    config = write_config(workdir, **ONE_POINT)
    assert run_sweep(config, tiny_data) == 0
    forget_settings(config)
    before = state(workdir, config)
    capsys.readouterr()

    write_config(workdir, **ONE_POINT, batch_size=16)
    assert run_sweep(config, tiny_data) == 1
    expected = changed_line(config, "batch_size 32 -> 16")
    assert one_line(capsys.readouterr().err) == expected
    assert state(workdir, config) == before and "settings" not in before[1]

    # The keys the parent run did not log are taken as given, and recorded from then on.
    write_config(workdir, **ONE_POINT, replicate_patience=4)
    assert run_sweep(config, tiny_data) == 0
    recorded = json.loads(study_of(config).user_attrs["settings"])
    assert recorded == SweepConfig.load(config).recorded_settings()
    assert recorded["replicate_patience"] == "4" and len(study_of(config).get_trials()) == 1


class RecordingStudy:
    """A study's attributes, as check_same_settings reads and writes them."""

    def __init__(self, stored: dict | None):
        self.attrs = {} if stored is None else {"settings": json.dumps(stored)}
        self.config, self.url, self.written = SimpleNamespace(study="s"), "sqlite:///s.db", []

    def attr(self, key: str):
        return self.attrs.get(key)

    def set_attr(self, key: str, value: str) -> None:
        self.written.append(key)
        self.attrs[key] = value


KEYS = sorted(default_settings())
VALUES = st.text("abc019.", min_size=1, max_size=4)


@settings(deadline=None, max_examples=200)
@given(
    current=st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1),
    recorded=st.dictionaries(st.sampled_from(KEYS), VALUES),
)
def test_the_line_names_exactly_the_changed_keys(current, recorded):
    recorded = {**current, **recorded}  # the same keys; some values differ
    study = RecordingStudy(recorded)
    job = SimpleNamespace(
        sweep=SimpleNamespace(recorded_settings=lambda: current), config_path=Path("s.yaml")
    )
    changed = {key for key in current if recorded[key] != current[key]}
    try:
        sweep.check_same_settings(study, job)
    except PipelineError as error:
        message = str(error)
        assert "\n" not in message and changed
        listed = message.split(" gives (", 1)[1].split("); its trials", 1)[0].split(", ")
        named = {}
        for item in listed:
            key, old, arrow, new = item.split(" ")
            assert arrow == "->" and (old, new) == (recorded[key], current[key])
            named[key] = item
        assert set(named) == changed and list(named) == sorted(named)
    else:
        assert not changed
    assert study.written == [], "a study with recorded settings is never written to"


def test_a_new_study_records_its_settings_once():
    current = dict(default_settings())
    study = RecordingStudy(None)
    job = SimpleNamespace(
        sweep=SimpleNamespace(recorded_settings=lambda: current), config_path=Path("s.yaml")
    )
    sweep.check_same_settings(study, job)
    assert study.written == ["settings"] and json.loads(study.attrs["settings"]) == current
    sweep.check_same_settings(study, job)
    assert study.written == ["settings"]
