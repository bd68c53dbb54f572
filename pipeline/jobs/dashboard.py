"""`make dashboard`: optuna-dashboard on a sweep's study storage, to watch the study live.

It reads the storage the sweep writes (`sweep.storage_url`: `OPTUNA_STORAGE`, else the config's
`storage`, else `sqlite:///sweeps/<study>.db`) and shows trials as workers report them. The
`optuna-dashboard` command is the one installed next to this Python (the venv's bin/, so it works
without activating the venv), and it replaces this process: one PID to stop. Like `make ui` it
listens on this machine only unless told otherwise; it has no login either.
"""

from pathlib import Path

from pipeline.adapters import servers, studies
from pipeline.core.process import environment
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.urls import redact, sqlalchemy_url
from pipeline.core.schema.job_config import DashboardConfig


def executable() -> Path:
    """`optuna-dashboard` beside the running Python, which is the venv's when run by make."""
    return Path(servers.venv_tool("optuna-dashboard"))


def command(url: str, host: str, port: int) -> list[str]:
    """The dashboard's command line for one of the sweep's storage URLs."""
    program = executable()
    if not program.is_file():
        raise PipelineError(
            f"optuna-dashboard is not installed in {program.parent}: `make install` installs it "
            "(in a .venv built before: .venv/bin/pip install -e .)"
        )
    if studies.storage_kind(url) == "journal":
        storage = [str(studies.storage_file(url)), "--storage-class", "JournalFileStorage"]
    else:
        storage = [sqlalchemy_url(url)]  # psycopg 3 for a plain postgresql://, as the sweep
    # wsgiref: one threaded process. With gunicorn installed (MLflow brings it) the dashboard
    # would pick it: a master and a worker, and a control socket in ~/.gunicorn that the next
    # dashboard takes over.
    return [str(program), *storage, "--host", host, "--port", str(port), "--server", "wsgiref"]


def run(job: DashboardConfig) -> int:
    """Check the storage and the port, print the URL, and exec the dashboard."""
    config, host, port = job.sweep, job.host, job.port
    url = studies.storage_url(config)
    local_file = studies.storage_file(url)  # a URL of an unknown kind is a UsageError here
    if local_file is not None and not local_file.exists():
        raise PipelineError(
            f"study {config.study!r} has no storage yet ({local_file} does not exist): "
            f"run `make sweep SWEEP={job.config_path}` first"
        )
    argv = command(url, host, port)
    servers.check_port(host, port, "dashboard", "dashboard")
    servers.warn_if_shared(host, "dashboard")
    base = servers.base_url(host, port)
    print(
        f"Optuna dashboard on {base} for study {config.study!r} in {redact(url)} (Ctrl-C stops it)"
    )
    study_id = studies.local_study_id(url, config.study)
    page = f"studies/{study_id}" if study_id is not None else ""
    print(f"url={base}/dashboard/{page}", flush=True)
    return servers.exec_server(argv, environment.child_environment())
