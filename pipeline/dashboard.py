"""`make dashboard`: optuna-dashboard on a sweep's study storage, to watch the study live.

It reads the storage the sweep writes (`sweep.storage_url`: `OPTUNA_STORAGE`, else the config's
`storage`, else `sqlite:///sweeps/<study>.db`) and shows trials as workers report them. The
`optuna-dashboard` command is the one installed next to this Python (the venv's bin/, so it works
without activating the venv), and it replaces this process: one PID to stop. Like `make ui` it
listens on this machine only unless told otherwise; it has no login either.
"""

import os
import sys
from pathlib import Path

from pipeline import sweep
from pipeline.config import SweepConfig
from pipeline.errors import PipelineError
from pipeline.tracking import free_port_after, port_is_free, ui_base_url
from pipeline.urls import redact, sqlalchemy_url

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def executable() -> Path:
    """`optuna-dashboard` beside the running Python, which is the venv's when run by make."""
    return Path(sys.executable).parent / "optuna-dashboard"


def command(url: str, host: str, port: int) -> list[str]:
    """The dashboard's command line for one of the sweep's storage URLs."""
    program = executable()
    if not program.is_file():
        raise PipelineError(
            f"optuna-dashboard is not installed in {program.parent}: `make install` installs it "
            "(in a .venv built before: .venv/bin/pip install -e .)"
        )
    if sweep.storage_kind(url) == "journal":
        storage = [str(sweep.storage_file(url)), "--storage-class", "JournalFileStorage"]
    else:
        storage = [sqlalchemy_url(url)]  # psycopg 3 for a plain postgresql://, as the sweep
    # wsgiref: one threaded process. With gunicorn installed (MLflow brings it) the dashboard
    # would pick it: a master and a worker, and a control socket in ~/.gunicorn that the next
    # dashboard takes over.
    return [str(program), *storage, "--host", host, "--port", str(port), "--server", "wsgiref"]


def serve(config_path: str, host: str, port: int) -> int:
    """Check the storage and the port, print the URL, and exec the dashboard."""
    config = SweepConfig.load(Path(config_path))
    url = sweep.storage_url(config)
    local_file = sweep.storage_file(url)  # a URL of an unknown kind is a UsageError here
    if local_file is not None and not local_file.exists():
        raise PipelineError(
            f"study {config.study!r} has no storage yet ({local_file} does not exist): "
            f"run `make sweep SWEEP={config_path}` first"
        )
    argv = command(url, host, port)
    if not port_is_free(host, port):
        free = free_port_after(host, port)
        hint = f"make dashboard PORT={free} or --port {free}" if free else "--port <port>"
        raise PipelineError(f"port {port} on {host} is already in use; choose a free one: {hint}")
    if host not in LOOPBACK:
        print(
            f"note: --host {host} makes the dashboard reachable from other machines, and it has "
            "no login: anyone there can read, annotate and delete the study",
            file=sys.stderr,
        )
    base = ui_base_url(host, port)
    print(
        f"Optuna dashboard on {base} for study {config.study!r} in {redact(url)} (Ctrl-C stops it)"
    )
    print(f"url={base}/dashboard/", flush=True)
    sys.stderr.flush()
    os.execve(argv[0], argv, dict(os.environ))  # the dashboard replaces this process
    return 0  # reached only where execve is stubbed out, as in the tests
