"""`make test` installs what the suite needs besides .venv, the way `make sweep` installs the data:
as root with apt-get, otherwise one line saying what to install. The test-packages recipe is run
for real here, as an unprivileged user, so it never installs anything."""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from tests.services import NotInstalled, ServiceFailed, postgres_bin_dir, throwaway_postgres

NOTE = "note: run 'sudo apt-get install{}' (tests that need them skip until then)\n"


@pytest.fixture
def make_unprivileged() -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """`make -s ARGS` as `nobody` (as the user itself when not root) on a copy of the Makefile
    that user can read, so the recipe takes its no-root branch and installs nothing."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv (util-linux) to drop to nobody")
        nobody = pwd.getpwnam("nobody")
        prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}"]
        prefix.append("--clear-groups")
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)
        shutil.copy(REPO / "Makefile", directory)

        def make(*args: str) -> subprocess.CompletedProcess:
            command = [*prefix, "make", "-s", *args]
            return subprocess.run(command, cwd=directory, capture_output=True, text=True)

        yield make


def test_make_test_installs_chromium_and_postgresql_before_pytest():
    result = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    recipe = result.stdout
    probe = recipe.index("for entry in chromium:chromium postgresql:initdb; do")
    install = recipe.index("apt-get install -y -q$missing", probe)
    assert probe < install < recipe.index("-m pytest")


def test_without_root_a_missing_package_is_one_line_naming_it(make_unprivileged):
    packages = "TEST_PACKAGES=browser-pkg:no-such-command shell-pkg:sh"
    result = make_unprivileged("test-packages", packages)
    assert result.returncode == 0, result.stderr
    assert result.stdout == NOTE.format(" browser-pkg"), "names only what is missing"


def test_the_makefile_finds_the_tools_where_the_tests_look(make_unprivileged):
    """On this machine it asks for exactly the packages whose tests would skip: nothing when
    Chromium and PostgreSQL are there, so `make test` runs the browser and PostgreSQL tests."""
    missing = "" if shutil.which("chromium") else " chromium"
    try:
        postgres_bin_dir()
    except NotInstalled:
        missing += " postgresql"
    result = make_unprivileged("test-packages")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (NOTE.format(missing) if missing else "")


def test_an_installed_service_that_does_not_start_fails_rather_than_skips(monkeypatch):
    """Only a package that is not installed skips its tests; PostgreSQL that is installed but
    does not start (here an initdb that fails) is a ServiceFailed, which the fixtures let through
    as an error."""
    with tempfile.TemporaryDirectory() as directory:  # readable by the user initdb runs as
        os.chmod(directory, 0o755)
        initdb = Path(directory) / "initdb"
        initdb.write_text("#!/bin/sh\necho 'initdb: cannot create the cluster' >&2\nexit 1\n")
        initdb.chmod(0o755)
        monkeypatch.setattr("tests.services.postgres_bin_dir", lambda: Path(directory))
        failed = pytest.raises(ServiceFailed, match="initdb failed: initdb: cannot create the")
        with failed, throwaway_postgres(("optuna",)):
            pass
    assert not issubclass(ServiceFailed, NotInstalled)


ARGV = "#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"
# What a shell user types as a make variable: any printable text but `$`, which make expands.
VALUES = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="$"),
    min_size=1,
    max_size=20,
).filter(lambda text: text.strip() == text and text)


@settings(max_examples=10, deadline=None)  # each example runs make 5 times
@given(VALUES, VALUES, VALUES)
def test_make_variables_reach_the_command_line_intact(experiment, activation, reason):
    """`make train EXPERIMENT='my exp'` and the like: each variable is one argument, as typed
    (spaces, quotes, non-ASCII), never split or interpreted by the shell."""
    with tempfile.TemporaryDirectory() as directory:
        printer = Path(directory) / "argv"
        printer.write_text(ARGV)
        printer.chmod(0o755)

        def argv(*args: str) -> list[str]:
            command = ["make", "-s", "-o", "install", "-o", "dataset-package", f"PY={printer}"]
            result = subprocess.run([*command, *args], cwd=REPO, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout.splitlines()[-1])

        trained = argv("train", f"EXPERIMENT={experiment}", f"ACT={activation}")
        assert trained[:3] == ["-m", "pipeline", "train"]
        assert trained[3:7] == ["--experiment", experiment, "--activation", activation]
        worker = argv("worker", f"SWEEP={experiment}", f"THREADS={activation}", f"WORKERS={reason}")
        assert worker[3:] == [
            *("--config", experiment, "--threads", activation, "--workers", reason)
        ]
        assert argv("status", f"SWEEP={experiment}")[3:] == ["--config", experiment]
        assert argv("drain", f"SWEEP={experiment}")[2:] == ["drain", "--config", experiment]
        promoted = argv("promote", f"MODEL={activation}", f"TO={experiment}", f"REASON={reason}")
        assert promoted[3:] == ["--model-uri", activation, "--to", experiment, "--reason", reason]
