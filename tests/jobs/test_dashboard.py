"""`make dashboard`: optuna-dashboard on a sweep's study, watched live in the same headless
Chromium as the MLflow UI's tests (tests/test_ui.py), and its bad inputs."""

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from pipeline.cli.main import main

# `page` is test_ui's fixture: the same headless Chromium, driven by Playwright.
from tests.browser import needs_browser
from tests.conftest import isolate, one_line
from tests.services import free_port, leftover_processes, serving, taken_port
from tests.sweeps import run_sweep, write_config

PIPELINE = [sys.executable, "-m", "pipeline"]
DASHBOARD_DEADLINE_S = 90  # imports (ours, then the dashboard's) take ~15 s on two busy cores


@dataclass
class Study:
    """A finished tiny sweep (2 activations x 2 lrs) in its own directory."""

    directory: Path
    config: Path
    name: str

    def load(self) -> optuna.Study:
        storage = f"sqlite:///{self.directory}/sweeps/{self.name}.db"
        return optuna.load_study(study_name=self.name, storage=storage)


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_data) -> Study:
    directory = tmp_path_factory.mktemp("dashboard-study")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, directory)
        config = write_config(directory, study="watched", lr=[0.001, 0.003])
        assert run_sweep(config, tiny_data) == 0
    return Study(directory, config, "watched")


@pytest.fixture
def in_study(study, monkeypatch) -> Study:
    monkeypatch.chdir(study.directory)
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    return study


def exec_stub(monkeypatch) -> list[list[str]]:
    started: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append([path, *argv]))
    return started


# --- `python -m pipeline dashboard`, without a browser ----------------------------------------


def test_dashboard_execs_the_venvs_optuna_dashboard_on_the_sweeps_storage(
    in_study, monkeypatch, capsys
):
    started = exec_stub(monkeypatch)
    port = free_port()
    assert main(["dashboard", "--config", str(in_study.config), "--port", str(port)]) == 0
    [[path, *argv]] = started
    program = str(Path(sys.executable).parent / "optuna-dashboard")
    assert path == argv[0] == program, "the venv's command, found without activating the venv"
    assert argv[1] == "sqlite:///sweeps/watched.db", "the URL `make sweep` writes to"
    options = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert options == {"--host": "127.0.0.1", "--port": str(port), "--server": "wsgiref"}
    out = capsys.readouterr().out
    assert f"url=http://127.0.0.1:{port}/dashboard/studies/1\n" in out, "the study's own page"
    assert "study 'watched' in sqlite:///sweeps/watched.db" in out


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        (
            "postgresql://study:secret@db.example:5432/optuna",
            ["postgresql+psycopg://study:secret@db.example:5432/optuna"],
        ),
        ("journal://sweeps/watched.journal", ["sweeps/watched.journal", "--storage-class"]),
    ],
)
def test_dashboard_reads_OPTUNA_STORAGE_as_the_sweep_does(
    in_study, monkeypatch, capsys, storage, expected
):
    monkeypatch.setenv("OPTUNA_STORAGE", storage)
    (in_study.directory / "sweeps/watched.journal").touch()
    started = exec_stub(monkeypatch)
    assert main(["dashboard", "--config", str(in_study.config), "--port", str(free_port())]) == 0
    assert started[0][2 : 2 + len(expected)] == expected
    out = capsys.readouterr().out
    assert "secret" not in out, "the printed storage hides its password"


def test_dashboard_on_another_host_says_anyone_there_can_change_the_study(
    in_study, monkeypatch, capsys
):
    started = exec_stub(monkeypatch)
    argv = ["dashboard", "--config", str(in_study.config), "--port", str(free_port())]
    assert main([*argv, "--host", "0.0.0.0"]) == 0
    assert started[0][started[0].index("--host") + 1] == "0.0.0.0"
    assert "no login" in capsys.readouterr().err


def test_dashboard_before_make_sweep_says_to_run_it_first(workdir, capsys, monkeypatch):
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("started a dashboard"))
    config = write_config(workdir, study="later")
    assert main(["dashboard", "--config", str(config)]) == 1
    err = one_line(capsys.readouterr().err)
    assert "study 'later' has no storage yet (sweeps/later.db does not exist)" in err
    assert f"run `make sweep SWEEP={config}` first" in err
    assert not (workdir / "sweeps").exists(), "a refused start creates no storage"


def test_dashboard_on_a_taken_port_says_so_and_names_a_free_one(in_study, monkeypatch, capsys):
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("started a dashboard"))
    with taken_port() as port:
        assert main(["dashboard", "--config", str(in_study.config), "--port", str(port)]) == 1
    err = one_line(capsys.readouterr().err)
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert re.search(r"make dashboard PORT=(\d+) or --port \1$", err.strip()), err


def test_dashboard_without_optuna_dashboard_installed_says_how(in_study, monkeypatch, capsys):
    monkeypatch.setattr(sys, "executable", str(in_study.directory / "bin/python"))
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("started a dashboard"))
    assert main(["dashboard", "--config", str(in_study.config)]) == 1
    err = one_line(capsys.readouterr().err)
    assert f"optuna-dashboard is not installed in {in_study.directory / 'bin'}" in err
    assert "make install" in err


@pytest.mark.parametrize("port", ["0", "web"])
def test_dashboard_rejects_a_bad_port(in_study, capsys, port):
    assert main(["dashboard", "--config", str(in_study.config), "--port", port]) == 2
    assert "port must be an integer" in one_line(capsys.readouterr().err)


# --- the dashboard in a browser ---------------------------------------------------------------


@pytest.fixture
def served(study, tmp_path) -> Iterator[str]:
    """`python -m pipeline dashboard` on a free loopback port; yields the URL it printed.
    Stopped by its PID, and nothing of it may be left running."""
    log = tmp_path / "dashboard.log"
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    command = [*PIPELINE, "dashboard", "--config", str(study.config), "--port"]
    env = {**env, "PYTHONUNBUFFERED": "1"}
    api = "/api/studies"
    with serving(command, study.directory, env, log, api, DASHBOARD_DEADLINE_S) as (_, pid):
        # execve: the PID we started is the dashboard itself, and it is the only process.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert Path(cmdline[1].decode()).name == "optuna-dashboard", cmdline
        assert leftover_processes([pid]) == [pid]
        yield re.search(r"^url=(\S+)$", log.read_text(), re.M).group(1)


@pytest.mark.slow
@needs_browser
def test_watching_the_sweep_live_in_the_dashboard(study, served, page, tmp_path):
    from playwright.sync_api import expect

    trials = study.load().trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4

    # The URL `make dashboard` prints opens the study's own page, with its best trial.
    assert served.endswith("/dashboard/studies/1")
    page.goto(served, wait_until="domcontentloaded")
    expect(page.get_by_text(f"{study.name} (id=1)", exact=True)).to_be_visible()
    best = max(trials, key=lambda t: t.value)
    expect(page.get_by_text(f"Best Trial (number={best.number})")).to_be_visible()
    expect(page.get_by_text(repr(best.value), exact=True).first).to_be_visible()
    params = ", ".join(f"{name}: {value}" for name, value in best.params.items())
    expect(page.get_by_text(f"Params = [{params}]")).to_be_visible()
    page.screenshot(path=tmp_path / "1-study.png")

    # Its trials, each with its state; the first one's values and parameters.
    page.get_by_role("link", name="Trials (List)").click()
    expect(page.get_by_text("4 Trials", exact=True)).to_be_visible()
    for trial in trials:
        expect(page.get_by_text(f"Trial {trial.number}", exact=True).first).to_be_visible()
    expect(page.get_by_text("Trial 0 (trial_id=1)")).to_be_visible()
    expect(page.get_by_text(repr(trials[0].value), exact=True).first).to_be_visible()
    activation = page.get_by_text(f"activation {trials[0].params['activation']}", exact=True)
    expect(activation.first).to_be_visible()
    page.screenshot(path=tmp_path / "2-trials.png")

    # Live: a trial a worker finishes now shows up without reloading the page.
    added = optuna.trial.create_trial(
        params=trials[0].params, distributions=trials[0].distributions, value=0.123456
    )
    study.load().add_trial(added)
    expect(page.get_by_text("5 Trials", exact=True)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Trial 4", exact=True).first).to_be_visible()
    page.screenshot(path=tmp_path / "3-live.png")
