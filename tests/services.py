"""Throwaway services on loopback for the scale-out, model, UI and dashboard tests and the storage
benchmark.

A PostgreSQL cluster (initdb into a temporary directory, as an unprivileged user, on a free port,
trust authentication), an MLflow tracking server backed by it, and the project's own servers (a
model's scoring server, the MLflow UI, optuna-dashboard: `serving`). Each is started as a child
process in its own process group, and stopped by that process id; `leftover_processes` tells
whether anything of a group outlived it.
"""

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.adapters import servers


class ServiceUnavailable(Exception):
    """A service cannot be started on this machine (the reason says why)."""


class NotInstalled(ServiceUnavailable):
    """The service's package is not installed here: the one reason its tests may skip."""


class ServiceFailed(ServiceUnavailable):
    """The service is installed but did not start: its tests fail (`make test` installs it,
    so a skip would hide a broken service)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port something listens on while the block runs."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def postgres_bin_dir() -> Path:
    """Debian's versioned directory (the newest), else `initdb` on the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    initdb = found[-1] if found else shutil.which("initdb")
    if not initdb:
        raise NotInstalled("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(initdb).parent


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except ValueError:
        return 0.0


def _unprivileged_user() -> str | None:
    """initdb and postgres refuse to run as root: as root, use `postgres` (Debian's) or `nobody`."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServiceFailed("running as root and no unprivileged user (postgres, nobody) exists")


def leftover_processes(group_ids: list[int]) -> list[int]:
    """Live processes whose process group is one of `group_ids` (read from /proc)."""
    left = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")".
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) in group_ids:
                left.append(int(Path(stat).parent.name))
    return left


def stop_process(process: subprocess.Popen, stop_signal: int, timeout: float = 30) -> list[int]:
    """Signal the process group led by `process` (our child, by its pid) and reap the leader;
    the processes of the group that outlived `stop_signal` by `timeout` s, killed (SIGKILL)."""
    forced = []
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            forced.append(process.pid)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    # Helpers the leader started (PostgreSQL's background workers, uvicorn's) go with the group.
    deadline = time.monotonic() + timeout
    while leftover_processes([process.pid]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in leftover_processes([process.pid]):
        forced.append(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return forced


# --- PostgreSQL ---------------------------------------------------------------------------


@dataclass
class Postgres:
    port: int
    process: subprocess.Popen
    # The command that starts it again on the same data and port, as whom, and its log.
    command: list | None = None
    as_user: dict | None = None
    log: Path | None = None

    def url(self, database: str, password: str | None = None) -> str:
        """A plain `postgresql://` URL, as a user would write it (trust auth ignores a password)."""
        login = f"postgres:{password}" if password else "postgres"
        return f"postgresql://{login}@127.0.0.1:{self.port}/{database}"

    def restart(self, down_s: float = 0.0) -> None:
        """Stop it (a fast shutdown: sessions are cut), stay down `down_s` seconds, start it
        again, and return once it answers."""
        stop_process(self.process, signal.SIGINT)
        time.sleep(down_s)
        self.process = _start_postgres(self.command, self.as_user or {}, self.log)
        _wait_for_postgres(self, deadline=time.monotonic() + 60).close()


@contextlib.contextmanager
def throwaway_postgres(databases: tuple[str, ...]) -> Iterator[Postgres]:
    """A new cluster in a temporary directory, listening on 127.0.0.1 only, with `databases`."""
    bin_dir = postgres_bin_dir()
    user = _unprivileged_user()
    home = Path(tempfile.mkdtemp(prefix="throwaway-pg-"))
    data_dir = home / "data"
    as_user = {"user": user, "group": _group_of(user), "extra_groups": []} if user else {}
    try:
        if user:
            shutil.chown(home, user, _group_of(user))
        initdb_command = [
            *(bin_dir / "initdb", "--pgdata", data_dir, "--username", "postgres"),
            *("--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"),
        ]
        initdb = subprocess.run(
            initdb_command,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=120,
            **as_user,
        )
        if initdb.returncode != 0:
            raise ServiceFailed(f"initdb failed: {_last_line(initdb.stderr)}")
        port = free_port()
        settings = {
            "port": port,
            "listen_addresses": "127.0.0.1",  # loopback only
            "unix_socket_directories": home,  # not /var/run/postgresql, which is the system's
            "fsync": "off",  # a throwaway cluster need not survive a power cut
            "full_page_writes": "off",
            # Each in-process study holds a pool of connections until it is collected; a test
            # module that opens many would exhaust the default 100.
            "max_connections": 400,
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        command = [bin_dir / "postgres", "-D", data_dir, *options]
        log = home / "postgres.log"
        server = Postgres(port, _start_postgres(command, as_user, log), command, as_user, log)
        try:
            _create_databases(server, databases)
            yield server
        finally:
            stop_process(server.process, signal.SIGINT)  # SIGINT: PostgreSQL's "fast" shutdown
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _start_postgres(command: list, as_user: dict, log: Path) -> subprocess.Popen:
    with log.open("a") as output:
        return subprocess.Popen(
            command,
            cwd=log.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
            process_group=0,
            **as_user,
        )


def _group_of(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


def _create_databases(server: Postgres, databases: tuple[str, ...]) -> None:

    with _wait_for_postgres(server, deadline=time.monotonic() + 60) as db:
        for name in databases:
            db.execute(f'CREATE DATABASE "{name}"')


def _wait_for_postgres(server: Postgres, deadline: float):
    """A connection to the server's `postgres` database once it answers (close it, or use it
    in a `with`)."""
    import psycopg

    while True:
        if server.process.poll() is not None:
            raise ServiceFailed(f"postgres exited: {_last_line(server.log.read_text())}")
        try:
            return psycopg.connect(server.url("postgres"), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise ServiceFailed(f"postgres does not answer: {error}") from None
            time.sleep(0.2)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no output)"


# --- the MLflow tracking server -----------------------------------------------------------


@dataclass
class MlflowServer:
    url: str
    artifacts: Path
    process: subprocess.Popen
    start: Callable[[], subprocess.Popen]  # the same server again, on the same port

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server, leave it down `down_s` seconds, start it again; back once /health
        answers."""
        stop_process(self.process, signal.SIGTERM)
        time.sleep(down_s)
        self.process = self.start()


@contextlib.contextmanager
def mlflow_server(
    backend_store_uri: str, directory: Path, workers: int = 1, admin_password: str | None = None
) -> Iterator[MlflowServer]:
    """`mlflow server` on 127.0.0.1 with a database backend and a proxied artifact store; with
    `admin_password`, MLflow's login app (`--app-name basic-auth`), its users in directory."""
    mlflow = Path(sys.executable).with_name("mlflow")
    artifacts = directory / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # The GenAI job runners (seven huey processes) have nothing to do for training runs.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [
        *(mlflow, "server", "--backend-store-uri", backend_store_uri),
        *("--artifacts-destination", str(artifacts), "--host", "127.0.0.1"),
        *("--port", str(port), "--workers", str(workers)),
    ]
    if admin_password is not None:
        command += ["--app-name", "basic-auth"]
        env.update(_login_settings(directory, admin_password))
    log_path, url = directory / "mlflow-server.log", f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen:
        with log_path.open("a") as log:
            process = subprocess.Popen(
                command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT,
                process_group=0,
            )  # fmt: skip
        try:  # the server first migrates its database; /health answers once it serves
            wait_for_http(process, f"{url}/health", log_path, timeout=120)
        except BaseException:
            stop_process(process, signal.SIGTERM)
            raise
        return process

    server = MlflowServer(url, artifacts, start(), start)
    try:
        yield server
    finally:
        stop_process(server.process, signal.SIGTERM)


def _login_settings(directory: Path, admin_password: str) -> dict[str, str]:
    """The login app's environment: its users' database in `directory`, the admin's password,
    and the key its forms are signed with (it refuses to start without one)."""
    config = directory / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{directory / 'basic_auth.db'}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Each request's password check is a PBKDF2 hash (~0.1 s); a sweep makes hundreds.
        "auth_cache_ttl_seconds = 60\n"
    )
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "a-key-for-the-test-server-only",
    }


def wait_for_http(process: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    """Poll `url` until it answers 200 (a server started by `process`, writing to `log`);
    raise with the end of its log if it exits first or stays silent for `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{url}: the server exited with {process.returncode}:\n" + log.read_text()[-3000:]
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s:\n" + log.read_text()[-3000:])


# --- the project's servers: a model's scoring server, the MLflow UI, optuna-dashboard ----------

SERVE_DEADLINE_S = 180  # the scoring server imports torch and loads the model: ~10-40 s here


class Served(NamedTuple):
    port: int
    pid: int  # the process started, leader of its own process group


@contextlib.contextmanager
def serving(
    command: list[str],
    cwd: Path,
    env: dict,
    log: Path,
    health: str = "/ping",
    deadline: float = SERVE_DEADLINE_S,
) -> Iterator[Served]:
    """A server started by `command` + a free port, in a process group of its own; yields once
    its `health` path answers, and leaves nothing of the group running after."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, str(port)],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(process, f"http://127.0.0.1:{port}{health}", log, deadline)
        yield Served(port, process.pid)
    finally:
        forced = stop_process(process, signal.SIGTERM)
    assert not forced, f"processes {forced} of the server outlived SIGTERM"
    assert servers.port_is_free("127.0.0.1", port), "the server's port is still taken"


def invoke(port: int, body: dict) -> tuple[int, dict]:
    """POST `body` as JSON to the scoring server's /invocations: its status and JSON answer
    (an error's too)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
