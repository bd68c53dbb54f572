"""`make train`: one training run, tracked in MLflow."""

import sys

from pipeline.adapters import downloads, tracking
from pipeline.core.dataset import data
from pipeline.core.process import interrupts
from pipeline.core.process.device import configure_torch, resolve_device
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.urls import redact
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.job_config import TrainJobConfig
from pipeline.core.schema.vocabulary import StopReason, Tag
from pipeline.stages import training
from pipeline.workflows.tracked_training import training_run


def reproduce(job: TrainJobConfig, tracker: tracking.Tracker) -> TrainJobConfig:
    """The job with every training setting of run `job.from_run` (its params, threads and seed
    included), the flags given beside it on top; a note on stderr says what it took."""
    assert job.from_run is not None  # called only with --from-run
    name, params, tags = tracker.logged_run(job.from_run)
    given = {key: getattr(job.train, key) for key in job.train.model_fields_set}
    config = TrainConfig.from_params(params).replace(**given)
    threads = job.threads or (int(params["threads"]) if "threads" in params else None)
    settings = ", ".join(f"{key} {value}" for key, value in config.params().items())
    overridden = f"; given here: {', '.join(sorted(given))}" if given else ""
    print(
        f"note: as run {job.from_run} ({name}): {settings}, threads {threads or 'all'}{overridden}",
        file=sys.stderr,
    )
    stack = int(tags.get(Tag.STACK_SIZE, "1"))
    if stack > 1:
        print(
            f"note: run {job.from_run} trained in a stack of {stack} trials; alone, its numbers "
            "agree only to float rounding, which shows at high lr (docs/data-and-training.md)",
            file=sys.stderr,
        )
    return job.replace(train=config, threads=threads)


def run(job: TrainJobConfig) -> int:
    tracker = None
    if job.from_run:  # the run's settings first: they say what to check
        tracker = tracking.Tracker(job.experiment, job.tracking_uri)
        job = reproduce(job, tracker)
    config = job.train
    # The device and the data before the store or a run exists: a bad one stops here.
    device = resolve_device(config.device)
    source = data.locate(job.data_dir, dataset=config.dataset, download=downloads.fashion_mnist)
    data.check_fits(source, config.batch_size, config.val_fraction)
    tracker = tracker or tracking.Tracker(job.experiment, job.tracking_uri)
    settings = configure_torch(device, job.threads)
    splits = data.load_splits(
        dataset=config.dataset,
        val_fraction=config.val_fraction,
        seed=config.seed,
        device=device,
        source=source,
    )
    print(data.describe(splits), file=sys.stderr)
    with training_run(tracker, config, splits, settings) as tracked, interrupts.deferred():
        result = training.train(config, splits, tracked, cuda_graphs=job.cuda_graphs)
        tracked.log_result(result, log_model=True)
        if result.stop_reason == StopReason.DIVERGED:
            tracked.run.status = "FAILED"
    if result.stop_reason == StopReason.DIVERGED:
        raise PipelineError(
            f"training diverged ({result.diverged_at}: loss is not finite); try a smaller --lr "
            f"(run {tracked.run_id} is marked FAILED)"
        )
    print(
        f"{config.activation} lr {config.lr:g}: best val_acc {result.best_val_acc:.4f} at epoch "
        f"{result.best_epoch}, test_acc {result.test_acc:.4f}, {result.train_time_s:.1f} s "
        f"({result.stop_reason})"
    )
    if result.at_chance:
        print(
            f"note: {config.activation} at lr {config.lr:g} learned nothing: its best val_acc "
            f"{result.best_val_acc:.4f} is chance level (always guessing the commonest class "
            f"scores {result.chance_acc:.4f}); the run is tagged at_chance=true",
            file=sys.stderr,
        )
    print(f"tracking_uri={redact(tracker.uri)}")  # for mlflow's own commands, from anywhere
    print(f"run_id={tracked.run_id}")
    return 0
