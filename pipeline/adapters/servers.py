"""Local servers this project starts (the MLflow UI, a model's scoring server, the Optuna
dashboard): ports, the URL a browser uses, and handing the process over to the server."""

import os
import socket
import sys

from pipeline.core.process.errors import PipelineError, UsageError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server bound to `host`."""
    host = _WILDCARDS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def port_is_free(host: str, port: int) -> bool:
    """Nothing listens on `host`:`port` (a wildcard host is probed on loopback)."""
    try:
        addresses = socket.getaddrinfo(_WILDCARDS.get(host, host), port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UsageError(f"host {host!r} is not a known host name or address") from None
    family, _, _, _, address = addresses[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex(address) != 0


def free_port_after(host: str, port: int, tries: int = 50) -> int | None:
    candidates = range(port + 1, min(port + 1 + tries, 65536))
    return next((p for p in candidates if port_is_free(host, p)), None)


def check_port(host: str, port: int, target: str, what: str) -> None:
    """One line naming a free port to use instead, if `port` is taken."""
    if port_is_free(host, port):
        return
    free = free_port_after(host, port)
    hint = f"make {target} PORT={free} or --port {free}" if free else f"make {target} PORT=<port>"
    raise PipelineError(
        f"port {port} on {host} is already in use (another {what}?); choose a free one: {hint}"
    )


def warn_if_shared(host: str, what: str) -> None:
    if host not in LOOPBACK:
        print(
            f"note: --host {host} makes the {what} reachable from other machines, "
            "and it has no login",
            file=sys.stderr,
        )


def venv_tool(name: str) -> str:
    """A console script of this environment, found without activating it."""
    return os.path.join(os.path.dirname(sys.executable), name)


def exec_server(command: list[str], environment: dict[str, str]) -> int:
    """Replace this process with the server, so there is one PID to stop."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, environment)
    return 0  # reached only where execve is stubbed out, as in the tests
