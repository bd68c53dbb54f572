"""`make report`: a study's report (tables and figures) rebuilt from what MLflow recorded."""

from pipeline.adapters import tracking
from pipeline.core.job_config import SweepJobConfig
from pipeline.workflows.sweep import publish_report


def run(job: SweepJobConfig) -> int:
    tracker = tracking.Tracker(job.sweep.experiment, job.tracking_uri)
    report = publish_report(tracker, job, None)
    print(report.markdown, end="")
    print(f"written: {', '.join(str(path) for path in report.files)}")
    return 0
