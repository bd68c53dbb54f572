"""Training stage: SGD with early stopping on validation accuracy, then the test set.

The loop runs over tensors already on the device: each step indexes a batch out of them, so
there is no DataLoader, no PIL and no per-image work. Host syncs (`.item()`) happen once per
epoch, except for the divergence check, which is free on the CPU and sparse on a GPU.
"""

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from pipeline.core.config import CHANCE_MARGIN, TrainConfig
from pipeline.core.data import Splits
from pipeline.core.errors import UsageError
from pipeline.core.model import MLP, build_model

EVAL_BATCH_SIZE = 4096
PROBE_BATCH_SIZE = 256  # the fixed batch whose gradient norms are logged every epoch
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

    def as_metrics(self) -> dict[str, float]:
        metrics = {
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "epoch_time_s": self.epoch_time_s,
        }
        metrics.update({f"grad_norm.{layer}": norm for layer, norm in self.grad_norms.items()})
        return metrics


@dataclass
class TrainResult:
    model: MLP  # holds the best epoch's weights
    history: list[EpochMetrics]
    stop_reason: str  # max_epochs | early_stopping | diverged | pruned
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
        return self.stop_reason in ("max_epochs", "early_stopping")

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
        metrics = {"train_time_s": self.train_time_s}
        if self.best_epoch:
            metrics.update(
                best_val_acc=self.best_val_acc,
                best_epoch=self.best_epoch,
                time_to_best_s=self.time_to_best_s,
                chance_acc=self.chance_acc,
            )
        if self.completed:
            metrics.update(test_acc=self.test_acc, test_loss=self.test_loss)
        return metrics


class EpochBook:
    """The end-of-epoch rules of one run: history, best epoch, patience, and the stop reason.
    Shared by `train` and the stacked trainer so a stacked trial stops exactly as a lone one."""

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
            self.result.stop_reason = "pruned"
        elif self.epochs_without_improvement >= self.patience:
            self.result.stop_reason = "early_stopping"
        else:
            return False
        return True


# Called after every epoch; returning True stops training (a pruner's decision).
EpochCallback = Callable[[EpochMetrics], bool | None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for, but no CUDA device is available; use cpu")
    return torch.device(name)


def configure_torch(device: torch.device, threads: int | None = None) -> dict[str, str]:
    """Process-wide settings for speed; returns them as params to log."""
    settings = {"device": device.type}
    if device.type == "cpu":
        # Denormal floats make sigmoid/ELU epochs 3-4x slower on this CPU; flushing costs nothing.
        settings["flush_denormal"] = str(torch.set_flush_denormal(True))
        if threads:
            torch.set_num_threads(threads)
        settings["threads"] = str(torch.get_num_threads())
    return settings


@torch.inference_mode()
def evaluate(model: MLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in large batches."""
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    for start in range(0, len(y), EVAL_BATCH_SIZE):
        logits = model(x[start : start + EVAL_BATCH_SIZE])
        targets = y[start : start + EVAL_BATCH_SIZE]
        loss_sum += F.cross_entropy(logits, targets, reduction="sum")
        correct += (logits.argmax(1) == targets).sum()
    return loss_sum.item() / len(y), correct.item() / len(y)


def chance_accuracy(labels: torch.Tensor) -> float:
    """The accuracy of always answering the commonest label: the floor a model must beat."""
    return torch.bincount(labels).max().item() / len(labels)


def layer_grad_norms(model: MLP, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """L2 norm of each linear layer's weight gradient on one batch; leaves `.grad` untouched."""
    layers = model.linear_layers()
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, [layer.weight for layer in layers.values()])
    norms = torch.stack([g.norm() for g in grads]).tolist()
    return dict(zip(layers, norms, strict=True))


class TrainingStep:
    """One SGD step on the batch `indices` pick out of resident tensors, summing the epoch's
    loss and correct predictions on the device (read once per epoch, not per step)."""

    def __init__(
        self, model: MLP, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
    ):
        self.model, self.optimizer, self.x, self.y = model, optimizer, x, y
        self.loss_sum = torch.zeros((), device=x.device)
        self.correct = torch.zeros((), dtype=torch.long, device=x.device)

    def reset_totals(self) -> None:
        self.loss_sum.zero_()  # in place: a captured CUDA graph keeps writing to these tensors
        self.correct.zero_()

    def __call__(self, indices: torch.Tensor) -> None:
        inputs, targets = self.x[indices], self.y[indices]
        logits = self.model(inputs)
        loss = F.cross_entropy(logits, targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach() * len(indices)
        self.correct += (logits.detach().argmax(1) == targets).sum()


class CudaGraphReplay:
    """Mixin for a step class (one step on the batch `indices` pick out of resident tensors):
    the same step replayed as one CUDA graph. At batch 64 a step is ~40 tiny kernels, and
    launching them one by one from Python costs more than running them. The first steps run
    eagerly (they warm up cuBLAS and create the momentum buffers), then one full-size step is
    captured; every later full-size batch is copied into its input and replayed. Same kernels,
    same order, same arithmetic: only the launches change. The step must write its results
    into tensors it allocated before the capture (the epoch totals), in place."""

    WARMUP_STEPS = 3

    def setup_graph(self, batch_size: int, device: torch.device) -> None:
        self.batch_size = batch_size
        self.static_indices = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmed_up = 0

    def __call__(self, indices: torch.Tensor) -> None:
        if len(indices) != self.batch_size:  # a last, smaller batch runs eagerly
            super().__call__(indices)
            return
        if self.graph is None and self.warmed_up < self.WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                super().__call__(indices)
            torch.cuda.current_stream().wait_stream(side)
            self.warmed_up += 1
            return
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                super().__call__(self.static_indices)
        self.static_indices.copy_(indices)
        self.graph.replay()


class GraphedTrainingStep(CudaGraphReplay, TrainingStep):
    """TrainingStep replayed as a CUDA graph (see CudaGraphReplay)."""

    def __init__(self, model, optimizer, x, y, batch_size: int):
        super().__init__(model, optimizer, x, y)
        self.setup_graph(batch_size, x.device)


def use_cuda_graphs(device: torch.device) -> bool:
    return device.type == "cuda" and os.environ.get("PIPELINE_CUDA_GRAPHS", "1") != "0"


def make_training_step(
    model: MLP, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> TrainingStep:
    if use_cuda_graphs(x.device):
        return GraphedTrainingStep(model, optimizer, x, y, batch_size)
    return TrainingStep(model, optimizer, x, y)


def make_optimizer(model: MLP, config: TrainConfig) -> torch.optim.Optimizer:
    """The seed's SGD with momentum. On a CPU the fused kernel updates every tensor in one pass
    (118 us a step here against 222 us for foreach); on a GPU the foreach kernels are the ones
    the CUDA-graph step was validated with."""
    on_cpu = next(model.parameters()).device.type == "cpu"
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        fused=on_cpu or None,
        foreach=None if on_cpu else True,
    )


def train(
    config: TrainConfig,
    splits: Splits,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train an MLP; stop early after `patience` epochs without a better val_acc; test the best."""
    device = splits.device
    model = build_model(config.activation, config.hidden_sizes, seed=config.seed).to(device)
    optimizer = make_optimizer(model, config)
    shuffle = torch.Generator(device=device).manual_seed(config.seed)
    x, y = splits.train_x, splits.train_y
    probe_x, probe_y = x[:PROBE_BATCH_SIZE], y[:PROBE_BATCH_SIZE]
    check_every = 1 if device.type == "cpu" else GPU_DIVERGENCE_CHECK_EVERY
    step = make_training_step(model, optimizer, x, y, config.batch_size)

    best_state, result = None, TrainResult(model=model, history=[], stop_reason="max_epochs")
    book = EpochBook(result, config.patience)
    result.chance_acc = chance_accuracy(splits.val_y)
    bar = tqdm(
        range(1, config.max_epochs + 1),
        desc=config.run_name,
        unit="epoch",
        disable=not progress,
        leave=False,
    )
    for epoch in bar:
        started = time.perf_counter()
        model.train()
        step.reset_totals()
        order = torch.randperm(len(y), device=device, generator=shuffle)
        for index, start in enumerate(range(0, len(y), config.batch_size)):
            step(order[start : start + config.batch_size])
            if index % check_every == 0 and not torch.isfinite(step.loss_sum):
                result.stop_reason, result.diverged_at = "diverged", f"epoch {epoch}, step {index}"
                break
        if result.stop_reason == "diverged":
            break

        model.train()
        grad_norms = layer_grad_norms(model, probe_x, probe_y)
        val_loss, val_acc = evaluate(model, splits.val_x, splits.val_y)
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=step.loss_sum.item() / len(y),
            train_acc=step.correct.item() / len(y),
            val_loss=val_loss,
            val_acc=val_acc,
            epoch_time_s=time.perf_counter() - started,
            grad_norms=grad_norms,
        )
        bar.set_postfix(loss=f"{metrics.train_loss:.3f}", val_acc=f"{val_acc:.4f}")
        if book.record(metrics):
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if book.stop(pruned=on_epoch is not None and bool(on_epoch(metrics))):
            break
    bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    if result.completed:
        result.test_loss, result.test_acc = evaluate(model, splits.test_x, splits.test_y)
    return result
