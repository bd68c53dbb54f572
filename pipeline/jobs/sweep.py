"""`make sweep`: the study from start to its results: prepare it, run its workers (the grid,
then the replicates), finish it, write its report."""

import sys

from pipeline.adapters import downloads, studies
from pipeline.core.dataset import data
from pipeline.core.process import interrupts
from pipeline.core.process.device import resolve_device
from pipeline.core.process.urls import redact
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.jobs.worker import drained
from pipeline.stages.study_report import Report
from pipeline.workflows import dry_run, registration, trials, workers
from pipeline.workflows.plan import plan
from pipeline.workflows.sweep import Sweep, budget_cut, finish, open_sweep, publish_report


def run(job: SweepJobConfig) -> int:
    device = resolve_device(job.sweep.train.device)
    asked = job.workers or job.sweep.workers
    count = trials.worker_count(job.sweep, device, asked)
    if count < asked:
        stack = trials.stack_size(job.sweep, device)
        print(
            f"note: {count} of {asked} workers: stacks of {stack} cover the grid's "
            f"{job.sweep.trial_count} trials"
        )
    if job.dry_run:
        print(dry_run.describe(job, count))
        return 0
    # Bad data fails here, before the study or a run exists.
    source = data.locate(
        job.data_dir, dataset=job.sweep.train.dataset, download=downloads.fashion_mnist
    )
    largest = job.sweep.largest_train  # the largest batch the space holds
    data.check_fits(source, largest.batch_size, largest.val_fraction)
    sweep = open_sweep(job, create=True, data_digest=source.digest)
    print(plan(job.sweep, studies.seed_count(sweep.study)), flush=True)
    run_status, warnings = "FAILED", []
    try:
        with interrupts.deferred():
            if count == 1:
                trials.work(sweep, source=source)
            else:
                warnings = workers.run_workers(sweep, count)
            interrupts.check()
            if interrupts.draining() and workers.unfinished(sweep):
                run_status = "KILLED"
                return drained(job)
            cut = budget_cut(sweep)
            registered = finish(sweep, source)
            report = publish_report(sweep.tracker, job, sweep.parent_run_id, registered, cut)
        run_status = "FINISHED"
    except KeyboardInterrupt:
        run_status = "KILLED"
        raise
    finally:
        sweep.tracker.end_run(sweep.parent_run_id, run_status)
    for warning in warnings:
        print(f"warning: {warning}; its trial was retried by the others", file=sys.stderr)
    print_results(sweep, report, registered)
    return 0


def print_results(sweep: Sweep, report: Report, registered: list[registration.Registered]) -> None:
    """The report, the trials' states, each alias's model, and where the runs are."""
    counts = studies.counts(sweep.study)
    print(report.markdown)
    print(f"trials: {', '.join(f'{n} {state.lower()}' for state, n in sorted(counts.items()))}")
    print(f"report: {report.files[0].parent}/")
    objective = sweep.config.sweep.objective[0]
    for row in registered:
        what = "moved" if row.moved else "kept"
        print(
            f"{row.uri}: version {row.version} ({what}), {row.choice.activation} "
            f"{row.choice.configuration}, {objective} {row.choice.score:.4f} ({row.choice.basis})"
        )
    if not sweep.config.sweep.registry:
        print("models: none registered (the sweep file's `registry: false`)")
    print(f"tracking_uri={redact(sweep.tracker.uri)}")  # for mlflow's own commands, from anywhere
    print(f"parent_run_id={sweep.parent_run_id}")
