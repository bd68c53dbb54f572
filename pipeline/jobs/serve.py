"""`make serve`: MLflow's scoring server for a logged or registered model, on loopback.

The port and the model are checked first, so a taken port or a model that does not exist is one
line and nothing is started; then this process becomes `mlflow models serve` (one PID to stop).
"""

import os
import sys

from pipeline.adapters import servers, tracking
from pipeline.core.process import environment
from pipeline.core.process.urls import redact
from pipeline.core.schema.job_config import ServeConfig

# Defaults for the server's environment; the user's own settings win.
_SERVE_ENVIRONMENT = {
    # The logged models are torch.export programs: nothing in them needs unpickling.
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    # They were exported on the CPU and cannot move to a GPU; MLflow would try one if present.
    "MLFLOW_DEFAULT_PREDICTION_DEVICE": "cpu",
    # MLflow starts a uvicorn worker (and a copy of torch) per core otherwise.
    "MLFLOW_MODELS_WORKERS": "1",
}


def serve_command(
    model_uri: str, tracking_uri: str, host: str, port: int
) -> tuple[list[str], dict[str, str]]:
    """`mlflow models serve` in this environment, and the environment it needs: the project's
    store, and this venv's bin/ on PATH, where MLflow looks `uvicorn` up."""
    command = [servers.venv_tool("mlflow"), "models", "serve", "-m", model_uri]
    command += ["-h", host, "-p", str(port), "--env-manager", "local"]
    bin_dir = os.path.dirname(servers.venv_tool("mlflow"))
    store = {environment.TRACKING_URI: tracking.resolve_uri(tracking_uri)}
    env = environment.child_environment(_SERVE_ENVIRONMENT, store)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    return command, env


def run(config: ServeConfig) -> int:
    servers.check_port(config.host, config.port, "serve", "server")
    what = tracking.servable(config.model_uri, config.tracking_uri)
    classes = tracking.model_classes(config.model_uri, config.tracking_uri)
    servers.warn_if_shared(config.host, "model server")
    url = f"{servers.base_url(config.host, config.port)}/invocations"
    print(f"MLflow scoring server for {config.model_uri} ({what}); Ctrl-C stops it")
    print(f"loaded: {tracking.provenance(config.model_uri, config.tracking_uri)}")
    print(
        'POST {"inputs": <raw pixels, integers 0-255, nested (N, 28, 28)>} to the url; it '
        f"answers class probabilities (N, {len(classes)}) for: {', '.join(classes)} "
        "(docs/models.md)",
        file=sys.stderr,
    )
    print(f"tracking_uri={redact(tracking.resolve_uri(config.tracking_uri))}")
    print(f"url={url}", flush=True)
    return servers.exec_server(
        *serve_command(config.model_uri, config.tracking_uri, config.host, config.port)
    )
