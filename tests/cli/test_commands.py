"""The table of commands: each one reaches a job that takes the command's config class, through
an import the import-graph test sees. (That `--help` imports none of the jobs' libraries is
checked in test_cli.py.)"""

import inspect
import typing

import pytest

from pipeline.cli.commands import STAGES
from tests.test_architecture import import_graph


@pytest.mark.parametrize("name", list(STAGES))
def test_every_command_reaches_a_job_that_takes_its_config(name):
    stage = STAGES[name]
    job = stage.load_job()
    assert callable(job), name
    (parameter,) = inspect.signature(job).parameters
    hints = typing.get_type_hints(job)
    assert hints[parameter] is stage.config and hints["return"] is int, (name, hints)


def test_the_import_graph_sees_every_command_reach_its_job():
    reached = import_graph()["pipeline.cli.commands"]
    jobs = {STAGES[name].load_job().__module__ for name in STAGES}
    assert jobs <= reached, sorted(jobs - reached)


def test_each_command_has_a_job_module_of_its_own():
    """One module per command, so a job's module names the command it serves."""
    modules = [stage.load_job().__module__ for stage in STAGES.values()]
    assert modules == [f"pipeline.jobs.{name}" for name in STAGES]
