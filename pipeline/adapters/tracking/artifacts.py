"""What a run keeps beside its numbers: figures, text, files, npz arrays, the dataset as an
input, and the checkpoint (logged and loaded); and a whole run recorded at once."""

import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.exceptions import MlflowException

from pipeline.adapters.tracking.runs import Tracker
from pipeline.core.dataset.data import Splits
from pipeline.core.dataset.datasets import is_fashion_mnist
from pipeline.core.network.histograms import save_npz
from pipeline.core.network.model import MLP, load_checkpoint, save_checkpoint
from pipeline.core.process.errors import PipelineError
from pipeline.figures import static

DATASET_URL = "https://github.com/zalandoresearch/fashion-mnist"


def log_figure(tracker: Tracker, run_id: str, fig: Figure, artifact_file: str) -> None:
    try:
        tracker.client.log_figure(run_id, fig, artifact_file)
    finally:
        static.close(fig)


def log_text(tracker: Tracker, run_id: str, text: str, artifact_file: str) -> None:
    """A text artifact, e.g. an HTML page the UI shows inline."""
    tracker.client.log_text(run_id, text, artifact_file)


def log_file(tracker: Tracker, run_id: str, path: Path, artifact_dir: str) -> None:
    tracker.client.log_artifact(run_id, str(path), artifact_dir)


def log_npz(
    tracker: Tracker, run_id: str, arrays: dict[str, np.ndarray], artifact_file: str
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = save_npz(Path(scratch) / Path(artifact_file).name, arrays)
        tracker.client.log_artifact(run_id, str(path), str(Path(artifact_file).parent))


def log_dataset(tracker: Tracker, run_id: str, splits: Splits) -> None:
    """The dataset as an MLflow dataset input: its name, digest, source and shape. Fashion-MNIST
    names its release; a folder of one's own is named by the kind of source, never its path."""
    source = splits.source
    origin: DatasetSource
    if is_fashion_mnist(source.name):
        name = source.name if source.official else f"{source.name}-custom"
        origin = HTTPDatasetSource(DATASET_URL)
    else:
        name, origin = source.name, CodeDatasetSource({"data_source": source.label})
    dataset = from_numpy(
        splits.train_x.cpu().numpy(),
        targets=splits.train_y.cpu().numpy(),
        source=origin,
        name=name,
        digest=source.digest[:16],
    )
    entity = Dataset(**dataset.to_dict())  # name, digest, source type, source, schema, profile
    inputs = [DatasetInput(entity, [InputTag("mlflow.data.context", "training")])]
    try:
        tracker.client.log_inputs(run_id, inputs)
    except MlflowException as error:
        # Two workers logging a dataset new to the experiment at once: the store makes one
        # row and refuses the other's; a second try finds the row and links it to the run.
        if "unique" not in str(error).lower():
            raise
        tracker.client.log_inputs(run_id, inputs)


def log_checkpoint(tracker: Tracker, run_id: str, model: MLP) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tracker.client.log_artifacts(
            run_id, str(save_checkpoint(model, Path(scratch))), "checkpoint"
        )


def load_run_checkpoint(tracker: Tracker, run_id: str) -> MLP:
    """The run's checkpoint, loaded without unpickling code."""
    try:
        tracker.client.get_run(run_id)
    except MlflowException:
        raise PipelineError(f"run {run_id} not found in {tracker.uri}") from None
    if not any(a.path == "checkpoint" for a in tracker.client.list_artifacts(run_id)):
        raise PipelineError(
            f"run {run_id} has no checkpoint (a training run keeps its best epoch's "
            "once it has finished one; one that diverged in its first epoch has none)"
        )
    with tempfile.TemporaryDirectory() as scratch:
        local = tracker.client.download_artifacts(run_id, "checkpoint", scratch)
        return load_checkpoint(Path(local))


def record_run(
    tracker: Tracker,
    name: str,
    stage: str,
    *,
    params: dict[str, str],
    tags: dict[str, str],
    description: str,
    metrics: dict[str, float],
    figures: dict[str, Figure] | None = None,
    arrays: dict[str, dict[str, np.ndarray]] | None = None,
    parent_run_id: str | None = None,
) -> str:
    """A whole run at once, for stages that compute first and log after (curves, probe,
    analysis)."""
    with tracker.run_scope(name, stage, params, tags, description, parent_run_id) as run:
        run_id = run.run_id
        tracker.log_metrics(run_id, metrics)
        for artifact_file, fig in (figures or {}).items():
            log_figure(tracker, run_id, fig, artifact_file)
        for artifact_file, values in (arrays or {}).items():
            log_npz(tracker, run_id, values, artifact_file)
    return run_id
