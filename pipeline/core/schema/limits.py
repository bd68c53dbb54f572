"""The bounds a config value is checked against before anything runs, each with its reason.

A value past one of them would not fail at once: it would overflow deep inside torch, Python's
clocks or a database column, or exhaust the machine's memory minutes into a run, leaving a
traceback and a FAILED run behind. docs/reliability.md lists them.
"""

from collections.abc import Sequence
from itertools import pairwise

# Evaluation runs in batches of this size (stages/lone.py), so a run holds at least this many
# rows of hidden activations whatever its batch_size.
EVAL_BATCH_SIZE = 4096

# Memory one training run (or one stack of trials) may ask for. This machine has 23 GiB and 2
# cores; the default sweep runs 2 workers side by side, so 2 x 8 GiB leaves ~7 GiB for the OS
# and the workers' own torch and MLflow (~0.5 GiB each).
MEMORY_LIMIT_BYTES = 8 * 2**30
BYTES_PER_FLOAT = 4
# Copies of the weights a run keeps: the weights, their gradients and the best epoch's weights
# (restored at the end), and its optimizer's state per weight: SGD's momentum buffer, Adam's two
# moments.
WEIGHT_COPIES = 3
OPTIMIZER_STATES = {"sgd": 1, "adam": 2, "adamw": 2}
# Floats per hidden unit and batch row: its pre-activation and activation, and the gradients of
# both in the backward pass. Measured: 36.8M params at batch 256 peaked at 0.79 GB (estimate
# 0.64 GB), 0.6M params at batch 48000 at 0.74 GB (estimate 0.89 GB).
ACTIVATION_COPIES = 4

MAX_NAME_LENGTH = 100  # study and experiment: a file name sweeps/<study>.db.claims.lock, run
# names sweep-<study> (250 characters in MLflow's schema), Optuna's 512-character study names
MAX_EXPERIMENT_NAME_LENGTH = 500  # MLflow's own limit on an experiment's name
MAX_SEED = 2**32 - 1  # the seed range numpy and most tools accept; torch takes up to 2**64 - 1
# The epoch loop's progress bar takes len(range(epochs)), a C integer (past 2**63 it overflows);
# the longest study here (sweeps/full.yaml) runs 30.
MAX_EPOCHS = 10_000
MAX_HEARTBEAT_S = 3600  # Python's clocks overflow near 2**63 ns; a stale trial is failed after 2x
MAX_WORKERS = 64  # each worker is a process with its own torch (~0.5 GiB)
MAX_THREADS = 1024  # torch.set_num_threads takes a C int
MAX_LRS = 1000  # learning rates per activation (trials_per_activation, or an lr list)
MAX_SEEDS = 100  # replicate seeds per activation
MAX_TIMEOUT_S = 30 * 24 * 3600  # a sweep's time budget: thirty days
MAX_ROUNDS = 100  # benchmark rounds


def parameter_count(hidden_sizes: Sequence[int], in_features: int, num_classes: int) -> int:
    widths = [in_features, *hidden_sizes, num_classes]
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in pairwise(widths))


def training_bytes(
    parameters: int, hidden_sizes: Sequence[int], batch_size: int, optimizer: str = "sgd"
) -> int:
    """What one run of this model holds in memory at its peak (an estimate, slightly high)."""
    rows = max(batch_size, EVAL_BATCH_SIZE)
    copies = WEIGHT_COPIES + OPTIMIZER_STATES.get(optimizer, 2)
    floats = copies * parameters + ACTIVATION_COPIES * rows * sum(hidden_sizes)
    return BYTES_PER_FLOAT * floats


def gib(count: int) -> str:
    """Bytes as GiB for a message: 8 GiB, 0.3 GiB, 75,000 GiB."""
    value = count / 2**30
    return f"{value:,.0f} GiB" if value >= 10 else f"{value:.1f} GiB"
