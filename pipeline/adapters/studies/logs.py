"""What Optuna prints: its log level, set once by the program's entry point, and the
ExperimentalWarning of the Optuna features this adapter relies on, silenced where they are called.
"""

import contextlib
import warnings
from collections.abc import Iterator

import optuna


def configure_logging() -> None:
    """Optuna logs warnings and errors only: its INFO lines (one per trial told) would drown
    the sweep's progress bar and the worker logs."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def experimental_features() -> Iterator[None]:
    """Silence ExperimentalWarning in the block: heartbeats, failing stale trials and retrying
    them are marked experimental, and the sweep relies on them by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield
