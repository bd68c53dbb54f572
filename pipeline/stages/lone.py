"""The lone engine: one MLP trained with torch.optim, one of the two engines behind the epoch
loop (stages/training.py); and what every trained MLP is measured with (validation and test
loss and accuracy, the per-epoch probe of gradient norms and unit health, the chance level).

The step runs over tensors already on the device: it indexes a batch out of them, so there is
no DataLoader, no PIL and no per-image work. The epoch's loss and correct predictions are summed
on the device and read once per epoch.
"""

import contextlib

import torch
import torch.nn.functional as F

from pipeline.core.dataset.data import Splits
from pipeline.core.network.init import build_initialised_model
from pipeline.core.network.model import MLP
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.limits import EVAL_BATCH_SIZE
from pipeline.stages.cuda_graphs import CudaGraphReplay, use_cuda_graphs
from pipeline.stages.optimizers import lone_optimizer, scale_lr, settings_of
from pipeline.stages.unit_health import layer_health


def training_autocast(
    precision: str, device: torch.device
) -> contextlib.AbstractContextManager[object]:
    """What a training step's forward pass and loss run under: for `bf16-mixed`, autocast to
    bfloat16 (the matmuls and what follows them in bf16; the weights, their gradients and the
    optimizer's state stay fp32, and bf16 has fp32's exponent range, so no loss scaling); for
    fp32, nothing. No autocast weight cache: a CUDA graph must not capture cached casts
    (torch.cuda.make_graphed_callables refuses them), and each weight is cast once a step."""
    if precision == "bf16-mixed":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


@torch.inference_mode()
def evaluate(model: MLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in large batches; in fp32 whatever the run's precision
    (the logged model serves in fp32, so its validation and test figures are measured so)."""
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


def layer_probe(
    model: MLP, x: torch.Tensor, y: torch.Tensor
) -> tuple[dict[str, float], dict[str, float]]:
    """The per-epoch probe on one batch, from one forward pass and one host sync: each linear
    layer's weight-gradient norm (`.grad` untouched) and each activation layer's unit health
    (stages/unit_health.py), keyed by metric name."""
    layers = model.linear_layers()
    outputs = model.layer_outputs(x)  # fc1, act1, ..., the input of the last linear layer
    logits = layers[list(layers)[-1]](outputs[next(reversed(outputs))])
    grads = torch.autograd.grad(
        F.cross_entropy(logits, y), [layer.weight for layer in layers.values()]
    )
    activation, health = model.config.activation, {}
    for index in range(1, len(layers)):
        pre, out = outputs[f"fc{index}"], outputs[f"act{index}"]
        health.update(layer_health(activation, f"act{index}", pre, out))
    values = torch.stack([*(g.norm() for g in grads), *health.values()]).tolist()
    norms = dict(zip(layers, values[: len(layers)], strict=True))
    return norms, dict(zip(health, values[len(layers) :], strict=True))


class TrainingStep:
    """One optimizer step on the batch `indices` pick out of resident tensors, summing the
    epoch's loss and correct predictions on the device."""

    def __init__(
        self,
        model: MLP,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        precision: str = "fp32",
    ):
        self.model, self.optimizer, self.x, self.y = model, optimizer, x, y
        self.precision = precision
        self.loss_sum = torch.zeros((), device=x.device)
        self.correct = torch.zeros((), dtype=torch.long, device=x.device)

    def reset_totals(self) -> None:
        self.loss_sum.zero_()  # in place: a captured CUDA graph keeps writing to these tensors
        self.correct.zero_()

    def __call__(self, indices: torch.Tensor) -> None:
        inputs, targets = self.x[indices], self.y[indices]
        with training_autocast(self.precision, inputs.device):
            logits = self.model(inputs)
            loss = F.cross_entropy(logits.float(), targets)  # the loss in fp32 under bf16 too
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach() * len(indices)
        self.correct += (logits.detach().argmax(1) == targets).sum()


class GraphedTrainingStep(CudaGraphReplay, TrainingStep):
    """TrainingStep replayed as a CUDA graph (see CudaGraphReplay)."""

    def __init__(
        self,
        model: MLP,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        precision: str = "fp32",
    ):
        super().__init__(model, optimizer, x, y, precision)
        self.setup_graph(batch_size, x.device)


class LoneEngine:
    """One model, nn.Linear layers and torch.optim's update (fused on a CPU): faster than a stack
    of one (`make bench`), so a lone trial keeps its own engine behind the same loop."""

    def __init__(self, config: TrainConfig, splits: Splits, cuda_graphs: bool = True):
        x, y = splits.train_x, splits.train_y
        model = build_initialised_model(
            config.activation, config.hidden_sizes, config.seed, config.init, splits.num_classes
        ).to(x.device)
        optimizer = lone_optimizer(model.parameters(), settings_of(config), x.device.type)
        self.models, self.running = [model], [0]
        self.optimizer, self.base_lr, self.lr_factor = optimizer, config.lr, 1.0
        self.best: dict[str, torch.Tensor] | None = None
        self.step: TrainingStep
        if use_cuda_graphs(x.device, cuda_graphs):
            self.step = GraphedTrainingStep(
                model, optimizer, x, y, config.batch_size, config.precision
            )
        else:
            self.step = TrainingStep(model, optimizer, x, y, config.precision)

    def reset_totals(self) -> None:
        self.models[0].train()
        self.step.reset_totals()

    def set_lr_factor(self, factor: float) -> None:
        if factor == self.lr_factor:
            return
        self.lr_factor = factor
        scale_lr(self.optimizer, self.base_lr, factor)
        if isinstance(self.step, GraphedTrainingStep):
            self.step.recapture()

    def non_finite(self) -> list[int]:
        return [] if bool(torch.isfinite(self.step.loss_sum)) else list(self.running)

    def totals(self) -> tuple[list[float], list[int]]:
        return [self.step.loss_sum.item()], [int(self.step.correct.item())]

    def probe(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        self.models[0].train()
        norms, health = layer_probe(self.models[0], x, y)
        return [norms], [health]

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        loss, accuracy = evaluate(self.models[0], x, y)
        return [loss], [accuracy]

    def keep_best(self, trial: int) -> None:
        self.best = {k: v.detach().clone() for k, v in self.models[0].state_dict().items()}

    def retire(self, trials: list[int]) -> None:
        """The model stops; it gets its best epoch's weights (its last ones without one)."""
        if trials and self.running:
            if self.best is not None:
                self.models[0].load_state_dict(self.best)
            self.running = []
