"""`make report`: the results table and the lr figure, rebuilt from what MLflow recorded."""

from pipeline.adapters import tracking
from pipeline.core.config import SweepJobConfig
from pipeline.workflows.sweep import publish_report


def run(job: SweepJobConfig) -> int:
    print(
        publish_report(tracking.Tracker(job.sweep.experiment, job.tracking_uri), job, None), end=""
    )
    print("written: reports/results.md, reports/results.csv, reports/lr_response.png")
    return 0
