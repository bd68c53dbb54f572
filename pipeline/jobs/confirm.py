"""`make confirm`: more seeds for a study's answer. It raises the study's replicate seeds to
`--seeds` (default: the sweep file's `replicate_seeds`) and runs the sweep until every
activation's best lr has them: the replicate phase, trained by the sweep's workers under its
MLflow parent run, then the report. A study's grid must exist: `make sweep` makes it."""

from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.jobs import sweep
from pipeline.workflows.sweep import open_sweep


def run(job: SweepJobConfig) -> int:
    open_sweep(job, create=False)  # nothing is created for a study that does not exist
    return sweep.run(job)
