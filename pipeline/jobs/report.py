"""`make report`: a study's report (tables and figures) rebuilt from what MLflow recorded."""

from pipeline.adapters import tracking
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.workflows.sweep import check_trial_runs_kept, publish_report


def run(job: SweepJobConfig) -> int:
    check_trial_runs_kept(job, f"give `study:` in {job.config_path} a new name")
    tracker = tracking.Tracker(job.sweep.experiment, job.tracking_uri)
    report = publish_report(tracker, job, None)
    print(report.markdown, end="")
    print(f"written: {', '.join(str(path) for path in report.files)}")
    return 0
