"""The training stage: one epoch loop, for a lone model and for a stack of trials alike.

Early stopping on validation accuracy with the best epoch restored, divergence, the pruning
question, the progress bar, the per-epoch metrics and the test pass are written here once. What
differs lives behind a small engine interface: `lone.LoneEngine` (one nn.Module, torch.optim) or
`stacked.StackedEngine` (K trials as one stacked network). Host syncs (`.item()`) happen once
per epoch, except for the divergence check, which is free on the CPU and sparse on a GPU.
"""

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Protocol

import torch
from tqdm.auto import tqdm

from pipeline.core.dataset.data import Splits
from pipeline.core.network.model import MLP
from pipeline.core.process import interrupts
from pipeline.core.schema.config import CHANCE_MARGIN, TrainConfig
from pipeline.core.schema.vocabulary import StopReason
from pipeline.stages import lone
from pipeline.stages.optimizers import lr_factor
from pipeline.stages.probe import PROBE_BATCH_SIZE
from pipeline.stages.stacked import StackedEngine

GPU_DIVERGENCE_CHECK_EVERY = 50  # steps between host syncs on a GPU


@dataclass
class EpochMetrics:
    epoch: int  # 1-based: the MLflow step
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    epoch_time_s: float
    grad_norms: dict[str, float] = field(default_factory=dict)
    # dead_fraction.<act> or saturated_fraction.<act> on the probe batch (stages/unit_health.py)
    unit_health: dict[str, float] = field(default_factory=dict)

    def as_metrics(self) -> dict[str, float]:
        metrics = {
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "epoch_time_s": self.epoch_time_s,
        }
        metrics.update({f"grad_norm.{layer}": norm for layer, norm in self.grad_norms.items()})
        metrics.update(self.unit_health)
        return metrics


@dataclass
class TrainResult:
    model: MLP  # holds the best epoch's weights
    history: list[EpochMetrics]
    stop_reason: StopReason
    best_epoch: int = 0
    best_val_acc: float = math.nan
    train_time_s: float = 0.0
    time_to_best_s: float = math.nan
    test_loss: float = math.nan
    test_acc: float = math.nan
    diverged_at: str = ""  # "epoch 2, step 17" when the loss stopped being finite
    chance_acc: float = math.nan  # what always guessing the commonest validation class scores

    @property
    def completed(self) -> bool:
        return self.stop_reason in (StopReason.MAX_EPOCHS, StopReason.EARLY_STOPPING)

    @property
    def has_best_weights(self) -> bool:
        """Whether `model` holds a finished epoch's weights, all finite: a completed run's best
        epoch, a pruned one's best so far, a diverged one's best before the loss blew up."""
        return self.best_epoch > 0 and all(
            bool(torch.isfinite(p).all()) for p in self.model.parameters()
        )

    @property
    def at_chance(self) -> bool:
        """It learned nothing: its best validation accuracy stayed within CHANCE_MARGIN of
        always guessing the commonest class."""
        return self.best_epoch > 0 and self.best_val_acc < self.chance_acc + CHANCE_MARGIN

    def final_metrics(self) -> dict[str, float]:
        """What the run's final metrics hold, every objective (core/schema/objectives.py) among
        them: its costs (the mean epoch's wall time, the network's size) and its best epoch's
        validation accuracy with the lowest validation loss it reached."""
        metrics = {"train_time_s": self.train_time_s, "epochs_trained": len(self.history)}
        metrics["parameters"] = sum(p.numel() for p in self.model.parameters())
        if self.history:
            metrics["epoch_seconds"] = statistics.fmean(m.epoch_time_s for m in self.history)
        if self.best_epoch:
            losses = [m.val_loss for m in self.history if math.isfinite(m.val_loss)]
            metrics.update(
                best_val_acc=self.best_val_acc,
                best_val_loss=min(losses, default=math.nan),
                best_epoch=self.best_epoch,
                time_to_best_s=self.time_to_best_s,
                chance_acc=self.chance_acc,
            )
        if self.completed:
            metrics.update(test_acc=self.test_acc, test_loss=self.test_loss)
        return metrics


class EpochBook:
    """The end-of-epoch rules of one run: history, best epoch, patience, and the stop reason."""

    def __init__(self, result: TrainResult, patience: int):
        self.result, self.patience = result, patience
        self.epochs_without_improvement = 0

    def record(self, metrics: EpochMetrics) -> bool:
        """Add an epoch to the result; True when it is the new best (the caller keeps it)."""
        result = self.result
        result.history.append(metrics)
        result.train_time_s += metrics.epoch_time_s
        if metrics.val_acc > result.best_val_acc or result.best_epoch == 0:
            result.best_epoch, result.best_val_acc = metrics.epoch, metrics.val_acc
            result.time_to_best_s = result.train_time_s
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False

    def stop(self, pruned: bool) -> bool:
        """After `record` and the pruner's answer: set the stop reason; True when training ends."""
        if pruned:
            self.result.stop_reason = StopReason.PRUNED
        elif self.epochs_without_improvement >= self.patience:
            self.result.stop_reason = StopReason.EARLY_STOPPING
        else:
            return False
        return True


class Observer:
    """What the loop tells after every epoch of every running trial, and what it asks once
    every trial has reported that epoch (so the trials of a stack are judged on the same epoch):
    whether to stop a trial (a pruner's decision). The trial is its index in the configs."""

    def report(self, trial: int, metrics: EpochMetrics) -> None:
        """Called with each running trial's metrics of the epoch."""

    def should_prune(self, trial: int) -> bool:
        return False


class Engine(Protocol):
    """Models trained in lockstep on the same batches (see the module's docstring)."""

    models: list[MLP]  # one per config; after `retire`, a trial's model holds its best weights

    @property
    def running(self) -> list[int]: ...
    def reset_totals(self) -> None: ...
    def set_lr_factor(self, factor: float) -> None: ...
    def step(self, indices: torch.Tensor) -> None: ...
    def non_finite(self) -> list[int]: ...
    def totals(self) -> tuple[list[float], list[int]]: ...
    def probe(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[list[dict[str, float]], list[dict[str, float]]]: ...
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]: ...
    def keep_best(self, trial: int) -> None: ...
    def retire(self, trials: list[int]) -> None: ...


def train(
    config: TrainConfig,
    splits: Splits,
    observer: Observer | None = None,
    progress: bool = True,
    cuda_graphs: bool = True,
) -> TrainResult:
    """Train one MLP; stop early after `patience` epochs without a better val_acc; test the
    best epoch's weights."""
    engine = lone.LoneEngine(config, splits, cuda_graphs)
    return fit(engine, config, splits, observer, progress, config.run_name)[0]


def train_stacked(
    configs: list[TrainConfig],
    splits: Splits,
    observer: Observer | None = None,
    progress: bool = True,
    cuda_graphs: bool = True,
) -> list[TrainResult]:
    """Train every config as `train` would, all at once; results in the configs' order. The
    configs share stacked.SHARED_KEYS and differ in activation, lr and momentum."""
    engine = StackedEngine(configs, splits, cuda_graphs)
    return fit(engine, configs[0], splits, observer, progress, f"stack of {len(configs)}")


def fit(
    engine: Engine,
    config: TrainConfig,
    splits: Splits,
    observer: Observer | None,
    progress: bool,
    desc: str,
) -> list[TrainResult]:
    """The epoch loop. `config` holds what the engine's trials share (batch size, epochs,
    patience, seed); every trial sees the same batches in the same seeded order."""
    observer = observer or Observer()
    chance = lone.chance_accuracy(splits.val_y)
    results = [TrainResult(m, [], StopReason.MAX_EPOCHS, chance_acc=chance) for m in engine.models]
    books = [EpochBook(result, config.patience) for result in results]
    shuffle = torch.Generator(device=splits.device).manual_seed(config.seed)
    epochs = range(1, config.max_epochs + 1)
    bar = tqdm(epochs, desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        started = time.perf_counter()
        order = torch.randperm(len(splits.train_y), device=splits.device, generator=shuffle)
        engine.set_lr_factor(lr_factor(config.lr_schedule, epoch, config.max_epochs))
        train_epoch(engine, order, config.batch_size, epoch, results)
        if engine.running:
            end_epoch(engine, splits, epoch, started, books, observer)
        if not engine.running:
            break
        bar.set_postfix(postfix(results, engine.running))
    bar.close()
    engine.retire(list(engine.running))  # what is still running reached max_epochs
    for result in results:
        if result.completed:
            result.test_loss, result.test_acc = lone.evaluate(
                result.model, splits.test_x, splits.test_y
            )
    return results


def train_epoch(
    engine: Engine, order: torch.Tensor, batch_size: int, epoch: int, results: list[TrainResult]
) -> None:
    """One pass over `order`; a trial whose loss stops being finite stops at once."""
    check_every = 1 if order.device.type == "cpu" else GPU_DIVERGENCE_CHECK_EVERY
    engine.reset_totals()
    for index, start in enumerate(range(0, len(order), batch_size)):
        interrupts.check()
        engine.step(order[start : start + batch_size])
        if index % check_every or not (diverged := engine.non_finite()):
            continue
        for trial in diverged:
            results[trial].stop_reason = StopReason.DIVERGED
            results[trial].diverged_at = f"epoch {epoch}, step {index}"
        engine.retire(diverged)
        if not engine.running:
            return


def end_epoch(
    engine: Engine,
    splits: Splits,
    epoch: int,
    started: float,
    books: list[EpochBook],
    observer: Observer,
) -> None:
    """Metrics and best weights per running trial; once all are reported, pruning and
    patience; the trials that stop leave the engine."""
    probe_x, probe_y = splits.train_x[:PROBE_BATCH_SIZE], splits.train_y[:PROBE_BATCH_SIZE]
    norms, health = engine.probe(probe_x, probe_y)
    val_loss, val_acc = engine.evaluate(splits.val_x, splits.val_y)
    loss_sums, correct = engine.totals()
    n, elapsed = len(splits.train_y), time.perf_counter() - started
    running = list(engine.running)
    for position, trial in enumerate(running):
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=loss_sums[position] / n,
            train_acc=correct[position] / n,
            val_loss=val_loss[position],
            val_acc=val_acc[position],
            epoch_time_s=elapsed,  # a stack's epoch is every one of its trials' epoch
            grad_norms=norms[position],
            unit_health=health[position],
        )
        if books[trial].record(metrics):
            engine.keep_best(trial)
        observer.report(trial, metrics)
    engine.retire([t for t in running if books[t].stop(pruned=observer.should_prune(t))])


def postfix(results: list[TrainResult], running: list[int]) -> dict[str, str]:
    """The bar's note: a lone run's loss and accuracy, a stack's count of running trials."""
    if len(results) > 1:
        return {"running": str(len(running))}
    last = results[0].history[-1]
    return {"loss": f"{last.train_loss:.3f}", "val_acc": f"{last.val_acc:.4f}"}
