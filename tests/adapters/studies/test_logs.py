"""Optuna's log level is set by the program's entry point, never by importing the adapter."""

import subprocess
import sys

import optuna

from pipeline.adapters import studies
from pipeline.cli import main as cli
from pipeline.jobs import worker
from tests.conftest import REPO

# Importing the adapter in a fresh interpreter, with Optuna's verbosity set beforehand.
IMPORT_ONLY = """
import warnings
import optuna

optuna.logging.set_verbosity(optuna.logging.DEBUG)
import pipeline.adapters.studies

assert optuna.logging.get_verbosity() == optuna.logging.DEBUG, optuna.logging.get_verbosity()
experimental = [f for f in warnings.filters if f[2] is optuna.exceptions.ExperimentalWarning]
assert not experimental, experimental
"""

# A usage error answered by the CLI, in a fresh interpreter.
USAGE_ERROR_ONLY = """
import sys
from pipeline.cli.main import main

assert main(["no-such-stage"]) == 2
assert "optuna" not in sys.modules
"""


def test_configure_logging_sets_optunas_verbosity_to_warning():
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        studies.configure_logging()
        assert optuna.logging.get_verbosity() == optuna.logging.WARNING
    finally:
        optuna.logging.set_verbosity(before)


def test_importing_the_adapter_changes_neither_the_verbosity_nor_the_warning_filters():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ONLY], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


def test_a_stage_runs_after_the_cli_configured_optunas_logging(monkeypatch):
    calls = []
    monkeypatch.setattr(studies, "configure_logging", lambda: calls.append("logging"))
    monkeypatch.setattr(worker, "run", lambda config: calls.append("job") or 0)
    assert cli.run_stage("worker", None) == 0
    assert calls == ["logging", "job"]


def test_help_and_bad_flags_import_no_optuna():
    """The CLI configures Optuna only for a stage that runs: answering `--help` stays quick."""
    result = subprocess.run(
        [sys.executable, "-c", USAGE_ERROR_ONLY], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
