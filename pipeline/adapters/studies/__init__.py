"""The Optuna adapter, and the only package that imports optuna: storage, the queue of grid
points, claims, heartbeats, the pruner and the study's figures. Public API only.

The design is fairness: every activation gets the same trials. A grid (every activation at the
same points of the space) is put in the study's queue once, when the study is prepared; a
sampler's trials are queued as placeholders, the same number per activation, and each gets its
point when a worker claims it, drawn from its own activation's trials only (space.py). Workers
only claim queued trials, so N workers on one or many machines never run a trial twice, and a
rerun tops the queue up with what has no finished trial yet. Once the grid is finished, the
replicates (each activation's chosen configuration with more seeds) are queued once, under the
study's lock, and claimed the same way. A heartbeat marks a trial whose worker died as FAIL
and queues a retry of it; each live process keeps a watch that does so on time and writes it
in the study's roster of workers.

Callers import the package and call its functions on a `Study`:
`studies.claim(study, 2)`, `studies.best_trials(study)`, `studies.static_figures(study)`.
No Optuna object leaves the package: a claimed trial is a `ClaimedTrial` (its number, phase,
point and training config), and what a worker says of it goes back through the `Study` that
claimed it (`study.report`, `study.should_prune`, `study.set_run_id`, `study.tell`).
"""

from pipeline.adapters.studies.choices import (
    Choice,
    champion,
    choices,
    configuration_of,
    configurations,
)
from pipeline.adapters.studies.figures import interactive_figures, interactive_plots, static_figures
from pipeline.adapters.studies.logs import configure_logging
from pipeline.adapters.studies.outages import OUTAGE_S, TrialTakenOver, outlasting
from pipeline.adapters.studies.overview import Held, Overview, overview
from pipeline.adapters.studies.pruner import PerActivationMedianPruner, make_pruner
from pipeline.adapters.studies.queries import (
    FINISHED,
    BestTrial,
    best_trials,
    best_value,
    counts,
    finished_count,
    finished_per_activation,
    grid_finished,
    grid_point,
    open_points,
    pending_count,
    phase,
    point_of,
    space_keys,
    trials,
)
from pipeline.adapters.studies.queue import (
    claim,
    fail_orphans,
    heartbeat,
    idle,
    queue_missing,
    stack_key,
)
from pipeline.adapters.studies.replicates import (
    ask_for_seeds,
    missing_replicates,
    queue_replicates,
    replicate_key,
    seed_count,
)
from pipeline.adapters.studies.roster import (
    DRAINING,
    PARENT,
    TRAINING,
    WAITING,
    WORKER,
    Member,
    host_threads,
    members,
    this_process,
)
from pipeline.adapters.studies.storage import (
    CONNECT_TIMEOUT_S,
    MAX_RETRIES,
    SWEEPS_DIR,
    OnOrphan,
    local_lock,
    local_study_id,
    storage_url,
    study_lock,
)
from pipeline.adapters.studies.study import ClaimedTrial, Study
from pipeline.adapters.studies.watch import Watch, reap, watch
from pipeline.core.process.urls import storage_file, storage_kind

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DRAINING",
    "FINISHED",
    "MAX_RETRIES",
    "OUTAGE_S",
    "PARENT",
    "SWEEPS_DIR",
    "TRAINING",
    "WAITING",
    "WORKER",
    "BestTrial",
    "Choice",
    "ClaimedTrial",
    "Held",
    "Member",
    "OnOrphan",
    "Overview",
    "PerActivationMedianPruner",
    "Study",
    "TrialTakenOver",
    "Watch",
    "ask_for_seeds",
    "best_trials",
    "best_value",
    "champion",
    "choices",
    "claim",
    "configuration_of",
    "configurations",
    "configure_logging",
    "counts",
    "fail_orphans",
    "finished_count",
    "finished_per_activation",
    "grid_finished",
    "grid_point",
    "heartbeat",
    "host_threads",
    "idle",
    "interactive_figures",
    "interactive_plots",
    "local_lock",
    "local_study_id",
    "make_pruner",
    "members",
    "missing_replicates",
    "open_points",
    "outlasting",
    "overview",
    "pending_count",
    "phase",
    "point_of",
    "queue_missing",
    "queue_replicates",
    "reap",
    "replicate_key",
    "seed_count",
    "space_keys",
    "stack_key",
    "static_figures",
    "storage_file",
    "storage_kind",
    "storage_url",
    "study_lock",
    "this_process",
    "trials",
    "watch",
]
