"""A training run tracked in MLflow: opened before training, fed each epoch, closed after.
Shared by `make train`, the sweep's trials and the confirmation runs."""

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from pipeline.adapters import tracking
from pipeline.core.dataset import data
from pipeline.core.network.histograms import layer_histograms
from pipeline.core.network.model import describe, layer_widths
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.vocabulary import Tag
from pipeline.figures import static
from pipeline.stages import training


def run_description(stage: str, config: TrainConfig, splits: data.Splits, extra: str = "") -> str:
    widths = layer_widths(config.hidden_sizes, num_classes=splits.num_classes)
    sizes = splits.sizes
    return (
        f"{stage}: MLP {widths} with {config.activation} ({config.init} init), "
        f"{config.describe_optimizer()}, batch {config.batch_size}, up to {config.max_epochs} "
        f"epochs (patience {config.patience}), seed {config.seed}. Data: "
        f"{data.describe_source(splits.source)}, "
        f"{sizes['train']}/{sizes['val']}/{sizes['test']} train/val/test. {extra}"
    ).strip()


@dataclass
class TrainingRun(training.Observer):
    """The MLflow run of one lone training: opened before, fed each epoch (it is the loop's
    observer), closed after."""

    tracker: tracking.Tracker
    run: tracking.Run
    config: TrainConfig
    source: data.DataSource  # the dataset it trains on: a logged model's classes and examples

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def log_epoch(self, metrics: training.EpochMetrics) -> None:
        self.tracker.log_metrics(self.run_id, metrics.as_metrics(), step=metrics.epoch)

    def report(self, trial: int, metrics: training.EpochMetrics) -> None:
        self.log_epoch(metrics)

    def log_result(self, result: training.TrainResult, log_model: bool = False) -> None:
        """Final metrics, learning curves, weight histograms, the checkpoint of the best epoch
        (every run that finished one: completed, pruned, or diverged later) and, for a completed
        run with `log_model`, the logged model (an export: about 1 s, 6 s for the first in a
        process, so only where one is wanted)."""
        tracker, run_id = self.tracker, self.run_id
        tracker.log_metrics(run_id, result.final_metrics())
        tags: dict[str, str] = {Tag.STOP_REASON: result.stop_reason}
        if result.diverged_at:
            tags["diverged_at"] = result.diverged_at
        if result.best_epoch:
            tags[Tag.AT_CHANCE] = str(result.at_chance).lower()
        tracker.set_tags(run_id, tags)
        if result.history:
            h = result.history
            curves = static.learning_curves(
                [m.epoch for m in h],
                [m.train_loss for m in h],
                [m.val_loss for m in h],
                [m.train_acc for m in h],
                [m.val_acc for m in h],
                title=f"{describe(result.model)}, lr {self.config.lr:g}",
            )
            tracking.log_figure(tracker, run_id, curves, "figures/learning_curves.png")
            weights = {name: layer.weight for name, layer in result.model.linear_layers().items()}
            tracking.log_npz(tracker, run_id, layer_histograms(weights), "histograms/weights.npz")
        if result.has_best_weights:
            tracking.log_checkpoint(tracker, run_id, result.model)
        if result.completed and log_model:
            tracking.log_model(tracker, run_id, result.model, self.source)


@contextlib.contextmanager
def training_run(
    tracker: tracking.Tracker,
    config: TrainConfig,
    splits: data.Splits,
    torch_settings: dict[str, str],
    stage: str = "train",
    name: str | None = None,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
) -> Iterator[TrainingRun]:
    """A run with every param, tag and the dataset, ended as Tracker.run_scope ends runs."""
    params = {
        **config.params(),
        **torch_settings,
        "data_source": splits.source.label,
        "data_digest": splits.source.digest[:16],
        "num_classes": str(splits.num_classes),
        "test_images": str(splits.sizes["test"]),  # the test set's own sampling error
    }
    # The class names as a JSON list: a name may hold a comma.
    classes = json.dumps(list(splits.source.classes), ensure_ascii=False)
    with tracker.run_scope(
        name or config.run_name,
        stage,
        params,
        {"activation": config.activation, "classes": classes, **(tags or {})},
        run_description(stage, config, splits, description),
        parent_run_id,
        system_metrics=True,
    ) as run:
        tracking.log_dataset(tracker, run.run_id, splits)
        yield TrainingRun(tracker, run, config, splits.source)
