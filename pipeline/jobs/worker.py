"""`make worker`: join a prepared sweep from this terminal or machine and run its queued trials,
in this process or in several worker processes sharing the host's cores."""

import sys

from pipeline.adapters import downloads
from pipeline.core.dataset import data
from pipeline.core.process import interrupts
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.workflows.sweep import open_sweep
from pipeline.workflows.trials import TrialOutcome, work
from pipeline.workflows.workers import run_workers


def run(job: SweepJobConfig) -> int:
    # Bad data fails here, before a trial is claimed.
    source = data.locate(
        job.data_dir, dataset=job.sweep.train.dataset, download=downloads.fashion_mnist
    )
    largest = job.sweep.largest_train  # the largest batch the space holds
    data.check_fits(source, largest.batch_size, largest.val_fraction)
    sweep = open_sweep(job, create=False)
    outcomes: list[TrialOutcome] = []
    with interrupts.deferred():
        if job.workers is not None and job.workers > 1:
            # Each process prints its own trials in its log; this one says who died.
            for warning in run_workers(sweep, job.workers, job.threads, name="host-worker"):
                print(f"warning: {warning}", file=sys.stderr)
        else:
            outcomes = work(sweep, source=source)
    for o in outcomes:
        chance = ", at chance: learned nothing" if o.at_chance else ""
        seed = "" if o.seed is None else f" seed {o.seed} ({o.phase})"
        print(
            f"trial {o.number}: {o.activation} lr {o.lr:g}{seed} -> {o.state} ({o.reason}{chance})"
        )
    if interrupts.draining():
        return drained(job)
    if not outcomes and (job.workers or 1) == 1:
        print(f"study {job.sweep.study}: no queued trial was left for this worker")
    return 0


def drained(job: SweepJobConfig) -> int:
    """A drained sweep or worker ends well: its trials finished, the rest left queued."""
    print(
        f"drained: study {job.sweep.study}'s trials in progress here finished; no more were "
        "claimed (the queue is left for the other workers, or for a rerun)"
    )
    return 0
