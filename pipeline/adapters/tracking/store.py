"""Where MLflow keeps things: the store's URI and its checks, its experiments, the process's
MLflow settings, and MLflow's current store for the length of one call."""

import contextlib
import functools
import io
import logging
import os
import subprocess
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow.entities import Experiment, ViewType
from mlflow.environment_variables import (
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR,
    MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT,
    MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL,
    MLFLOW_TRACKING_URI,
)
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient, is_tracking_uri_set

from pipeline.core.process.errors import PipelineError, UsageError
from pipeline.core.process.urls import redact, sqlalchemy_url
from pipeline.core.schema.config import DEFAULT_TRACKING_URI

# MLflow's artifact folder beside its default database, and where earlier versions of this
# project kept the database (relative to the database's folder).
ARTIFACTS_DIR = "mlruns"
OLD_DATABASE = Path("mlruns/mlflow.db")
# The experiment tag the MLflow UI (3.x) picks its layout from, and the value its experiment-type
# selector stores for "Model training" (labelled "Machine learning" there). Without it the UI may
# infer GenAI and open runs on Evaluations, Judges and Prompts.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "file", "databricks")
# Training runs log system metrics (CPU, memory, GPU): a sample every this many seconds, sparse
# enough to cost a trial next to nothing, dense enough for an epoch-long curve on a CPU.
SYSTEM_METRICS_INTERVAL_S = 2


def configure_process() -> None:
    """MLflow's settings for this process, where the user has not set them: no artifact progress
    bars, no printed run URLs (with a server, two "View run ... at" lines per ended run), system
    metrics sampled every SYSTEM_METRICS_INTERVAL_S; and only MLflow's errors in the log."""
    for switch, value in (
        (MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR, "false"),
        (MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT, "true"),
    ):
        if not switch.defined:
            switch.set(value)
    if not MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL.defined:
        mlflow.set_system_metrics_sampling_interval(SYSTEM_METRICS_INTERVAL_S)
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep the CLI's output to what matters


@contextlib.contextmanager
def using_store(uri: str) -> Iterator[None]:
    """MLflow's current tracking URI is `uri` inside the block, for the fluent calls that take
    no URI (logging and loading models, registering, search_runs, a monitored run); after it,
    the URI set in code and MLFLOW_TRACKING_URI are each what they were."""
    variable = MLFLOW_TRACKING_URI.get_raw()
    MLFLOW_TRACKING_URI.unset()  # what is left set is the URI set in code, if any
    before = mlflow.get_tracking_uri() if is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None unsets it; typed str
        if variable is None:
            MLFLOW_TRACKING_URI.unset()
        else:
            MLFLOW_TRACKING_URI.set(variable)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow's warnings and its printed notes ("Successfully registered model ...")."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def sqlite_database(uri: str) -> Path | None:
    """The database file of a `sqlite:///PATH` store; None for a server or a database server."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def resolve_uri(uri: str) -> str:
    """The store's URI as MLflow is given it: SQLite paths made absolute, since MLflow caches
    stores by URI and a relative path would follow whatever directory the process is in;
    a plain postgresql:// gets the psycopg driver this project installs."""
    uri = sqlalchemy_url(uri)
    database = sqlite_database(uri)
    if database and not database.is_absolute():
        return f"sqlite:///{database.resolve()}"
    return uri


def check_tracking_uri(uri: str, create: bool = True) -> None:
    """Fail fast, in one line, before anything is written: unknown scheme or unreachable server.
    `create` also makes a SQLite store's directory; without it nothing at all is written."""
    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme not in _SCHEMES:
        raise UsageError(
            f"MLFLOW_TRACKING_URI {redact(uri)!r} has an unsupported scheme; use sqlite:///PATH, "
            "http://HOST:PORT or postgresql://..."
        )
    if scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise PipelineError(
                f"MLflow tracking server {redact(uri)} is unreachable ({reason}); start it, or "
                f"unset MLFLOW_TRACKING_URI to use the local store {DEFAULT_TRACKING_URI}"
            ) from None
    database = sqlite_database(uri)
    if database:
        check_not_moved(database)
    if database and create:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PipelineError(f"cannot create the tracking store {database}: {error}") from None


def check_not_moved(database: Path) -> None:
    """Earlier versions kept the database in mlruns/: one line saying how to move it, rather
    than a new, empty store beside it. Moving the file is enough: the store records its
    artifacts' locations as absolute paths."""
    old = database.parent / OLD_DATABASE
    if database.exists() or not old.is_file():
        return
    here = Path.cwd()
    old_name, new_name = (
        (old.relative_to(here), database.relative_to(here))
        if database.parent.resolve() == here.resolve()
        else (old, database)
    )
    raise PipelineError(
        f"the MLflow store is at {old_name}, where earlier versions kept it; move it to "
        f"{new_name}, where MLflow looks by default: mv {old_name} {new_name}"
    )


def artifact_root(uri: str) -> str | None:
    """A SQLite store's artifacts go where MLflow's defaults put them, `mlruns/` beside the
    database (`./mlruns` when MLflow runs from the database's folder); other stores: MLflow's."""
    database = sqlite_database(uri)
    return str(database.parent.resolve() / ARTIFACTS_DIR) if database else None


def new_experiment_location(client: MlflowClient, uri: str) -> str | None:
    """Where a new experiment of this store keeps its artifacts: `mlruns/<experiment id>` beside
    a SQLite database, as MLflow names it (ids count up from the Default experiment's 0), from
    whatever folder this process runs in; None (MLflow's choice) for other stores."""
    root = artifact_root(uri)
    if root is None:
        return None
    ids = [
        int(experiment.experiment_id)
        for experiment in client.search_experiments(view_type=ViewType.ALL, max_results=50_000)
        if experiment.experiment_id.isdigit()
    ]
    return f"{root}/{max(ids, default=-1) + 1}"


def is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


@functools.cache
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def store_failed(uri: str, error: MlflowException) -> PipelineError:
    """One line for a store's refusal: a tracking server's login asked for, or refused, by
    name; anything else as the store said it."""
    where = redact(uri)
    if error.error_code == "UNAUTHENTICATED":
        return PipelineError(
            f"tracking server {where} refused the credentials (HTTP 401): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to a user of it"
        )
    if error.error_code == "PERMISSION_DENIED":
        user = os.environ.get("MLFLOW_TRACKING_USERNAME", "this user")
        reason = first_line(error.message)
        return PipelineError(
            f"tracking server {where}: {user} may not do this (HTTP 403): {reason}"
        )
    return PipelineError(f"tracking store {where} failed: {first_line(error.message)}")


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


# --- experiments, for the UI ------------------------------------------------------------


def experiment_names(uri: str) -> list[str]:
    return [e.name for e in MlflowClient(uri).search_experiments()]


def mark_model_training(client: MlflowClient, experiment: Experiment) -> None:
    """The experiment opens in the UI's model-training layout, unless its kind is set already
    (a user's own choice in the UI is kept)."""
    if EXPERIMENT_KIND not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)


def experiment_datasets(uri: str, experiment: str) -> tuple[str, list[str]] | None:
    """The experiment's id and the datasets its runs trained on (param `dataset`), newest
    first; None if there is no such experiment."""
    check_tracking_uri(uri)
    client = MlflowClient(uri)
    try:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return None
        names: dict[str, None] = {}  # ordered and unique
        token = None
        while token != "":
            page = client.search_runs(
                [found.experiment_id], order_by=["attributes.start_time DESC"], page_token=token
            )
            names.update(
                dict.fromkeys(r.data.params["dataset"] for r in page if "dataset" in r.data.params)
            )
            token = page.token or ""
    except MlflowException as error:
        raise store_failed(uri, error) from None
    return found.experiment_id, list(names)


def tag_experiment_once(uri: str, experiment_id: str, tags: dict[str, str]) -> None:
    """Each of `tags` set on the experiment unless set already (a user's own change is kept),
    and its kind model training unless set."""
    client = MlflowClient(uri)
    try:
        found = client.get_experiment(experiment_id)
        for key, value in tags.items():
            if key not in found.tags:
                client.set_experiment_tag(experiment_id, key, value)
        mark_model_training(client, found)
    except MlflowException as error:
        raise store_failed(uri, error) from None
