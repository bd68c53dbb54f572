"""The process environment, touched in this one module: the project's settings, read once by
the command line when it starts and passed down as config values, and the environment handed to
the servers and workers a job starts."""

import os
from dataclasses import dataclass

TRACKING_URI = "MLFLOW_TRACKING_URI"  # the MLflow store (a server, PostgreSQL, a SQLite file)
STUDY_STORAGE = "OPTUNA_STORAGE"  # a sweep's study storage, over its file's `storage:`
DATA_DIR = "FASHION_MNIST_DIR"  # the dataset's folder, where --data-dir is not given
CUDA_GRAPHS = "PIPELINE_CUDA_GRAPHS"  # 0: train without CUDA graphs on a GPU
DEBUG = "PIPELINE_DEBUG"  # 1: tracebacks instead of one-line errors


@dataclass(frozen=True)
class Settings:
    """What the environment says; None where it says nothing."""

    tracking_uri: str | None = None
    study_storage: str | None = None
    data_dir: str | None = None
    cuda_graphs: bool = True
    debug: bool = False


def read_settings() -> Settings:
    """The settings of this process (the command line's edge is its one caller)."""

    def value(name: str) -> str | None:
        return os.environ.get(name) or None

    return Settings(
        tracking_uri=value(TRACKING_URI),
        study_storage=value(STUDY_STORAGE),
        data_dir=value(DATA_DIR),
        cuda_graphs=value(CUDA_GRAPHS) != "0",
        debug=value(DEBUG) == "1",
    )


def child_environment(
    defaults: dict[str, str] | None = None, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment for a process it starts: `defaults` where the user set
    nothing, `overrides` whatever the user set."""
    return {**(defaults or {}), **os.environ, **(overrides or {})}
