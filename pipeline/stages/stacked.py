"""The stacked engine: K sweep trials of one shape trained at once, as one stacked network, the
other engine behind the epoch loop (stages/training.py).

Slice k of every stacked tensor is trial k: weights `[K, in, out]`, biases `[K, 1, out]`, one
`torch.baddbmm` per layer for all trials. A stacked trial is the same experiment as the lone
run of its config (stages/lone.py): the same initial weights (its seed and `init`), the
same batches in the same order (one seeded permutation per epoch, shared by all slices), the
gradient of its own loss alone (the stack's loss is the sum of the slices' mean losses, and no
weight is shared) and torch.optim's update with its own optimizer settings and state
(stages/optimizers.py). Results differ
from the lone run only by float rounding: bmm is not bit-equal to F.linear.
"""

from dataclasses import dataclass, field
from itertools import groupby

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.core.dataset.data import Splits
from pipeline.core.network.activations import get_activation, make_activation
from pipeline.core.network.init import build_initialised_model
from pipeline.core.network.model import MLP
from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.limits import EVAL_BATCH_SIZE
from pipeline.stages.cuda_graphs import CudaGraphReplay, use_cuda_graphs
from pipeline.stages.lone import training_autocast
from pipeline.stages.optimizers import StackedOptimizer, settings_of, stack_family
from pipeline.stages.unit_health import layer_health

# What makes trials "of one shape": one network layout, one data order, one schedule.
SHARED_KEYS = (
    "hidden_sizes",
    "batch_size",
    "max_epochs",
    "patience",
    "lr_schedule",
    "seed",
    "val_fraction",
    "device",
    "precision",  # one autocast region runs every slice's forward pass
)


def check_stackable(configs: list[TrainConfig]) -> None:
    if not configs:
        raise UsageError("stacked training needs at least one config")
    for key in SHARED_KEYS:
        values = sorted({str(getattr(config, key)) for config in configs})
        if len(values) > 1:
            raise UsageError(
                f"stacked trials must share {key}; the configs have {', '.join(values)}"
            )
    stack_family([settings_of(config) for config in configs])  # sgd apart from adam/adamw
    for config in configs:
        if get_activation(config.activation).learnable:  # one module serves every slice
            raise UsageError(
                f"activation {config.activation!r} has parameters to train, which stacked "
                "trials cannot train per trial; train it alone (stack: 1)"
            )


@dataclass
class Stack:
    """The running trials' state; dimension 0 of every tensor is the slice, one per trial."""

    trials: list[int]  # each slice's index in the configs, activations contiguous
    activations: list[str]
    params: list[torch.Tensor]  # w1, b1, w2, b2, ...: [K, in, out] and [K, 1, out], leaves
    optimizer: StackedOptimizer  # each slice's own settings and state
    loss_sum: torch.Tensor  # [K]: this epoch's training loss, summed over examples
    correct: torch.Tensor  # [K]
    groups: list[tuple[nn.Module, int, int]] = field(init=False)  # (activation, first, end slice)

    def __post_init__(self) -> None:
        self.groups, start = [], 0
        for name, run in groupby(self.activations):
            count = len(list(run))
            self.groups.append((make_activation(name), start, start + count))
            start += count

    @property
    def size(self) -> int:
        return len(self.trials)

    def compact(self, keep: list[int]) -> "Stack":
        """A new stack of the slices at positions `keep`. Dropping stopped slices beats masking
        them: a masked slice costs a slice's compute every step until the stack ends, while
        compacting 30 slices to 15 took 20-50 ms once, against an epoch of 89 CPU-s at 15
        slices and 193 at 30 (benchmarks/stacked_throughput.py, one CPU thread)."""
        index = torch.tensor(keep, dtype=torch.long, device=self.loss_sum.device)

        def take(t: torch.Tensor) -> torch.Tensor:
            return t.detach().index_select(0, index)

        return Stack(
            trials=[self.trials[i] for i in keep],
            activations=[self.activations[i] for i in keep],
            params=[take(p).requires_grad_() for p in self.params],
            optimizer=self.optimizer.keep(index),
            loss_sum=take(self.loss_sum),
            correct=take(self.correct),
        )


def build_stack(configs: list[TrainConfig], models: list[MLP], device: torch.device) -> Stack:
    """Slice k starts from `models[trials[k]]`'s weights; slices sorted so that each activation
    is one contiguous range (one activation call per range, not per slice)."""
    first_seen: dict[str, int] = {}
    for config in configs:
        first_seen.setdefault(config.activation, len(first_seen))
    trials = sorted(range(len(configs)), key=lambda i: first_seen[configs[i].activation])
    params = []
    for layers in zip(*(models[i].linear_layers().values() for i in trials), strict=True):
        params.append(torch.stack([layer.weight.detach().t() for layer in layers]))
        params.append(torch.stack([layer.bias.detach().unsqueeze(0) for layer in layers]))

    size = len(trials)
    return Stack(
        trials=trials,
        activations=[configs[i].activation for i in trials],
        params=[p.contiguous().requires_grad_() for p in params],
        optimizer=StackedOptimizer([settings_of(configs[i]) for i in trials], device),
        loss_sum=torch.zeros(size, device=device),
        correct=torch.zeros(size, dtype=torch.long, device=device),
    )


# --- the stacked network ------------------------------------------------------------------


def forward(
    stack: Stack, x: torch.Tensor, hidden: list[tuple[torch.Tensor, torch.Tensor]] | None = None
) -> torch.Tensor:
    """Logits `[K, B, classes]` of every slice for the inputs `x` `[B, in]` all slices share;
    each hidden layer's (pre-activation, output) `[K, B, H]` appended to `hidden` if given."""
    h = x.expand(stack.size, *x.shape)
    last = len(stack.params) // 2 - 1
    for layer in range(last + 1):
        h = torch.baddbmm(stack.params[2 * layer + 1], h, stack.params[2 * layer])
        if layer < last:
            pre, h = h, activate(stack, h)
            if hidden is not None:
                hidden.append((pre, h))
    return h


def activate(stack: Stack, h: torch.Tensor) -> torch.Tensor:
    if len(stack.groups) == 1:
        whole: torch.Tensor = stack.groups[0][0](h)
        return whole
    # split, not h[start:end]: the backward of each slice would zero-fill a whole [K, B, H]
    # gradient (the profile at K=30 showed it); split's backward is one cat.
    parts = h.split([end - start for _, start, end in stack.groups])
    return torch.cat([act(part) for (act, _, _), part in zip(stack.groups, parts, strict=True)])


def example_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every example in every slice, `[K, B]`."""
    k, b, classes = logits.shape
    flat = F.cross_entropy(logits.reshape(k * b, classes), targets.repeat(k), reduction="none")
    return flat.view(k, b)


class StackedStep:
    """One SGD step of every slice on the batch `indices` pick out of resident tensors; the
    epoch's loss and correct predictions are summed per slice on the device."""

    def __init__(self, stack: Stack, x: torch.Tensor, y: torch.Tensor, precision: str = "fp32"):
        self.stack, self.x, self.y, self.precision = stack, x, y, precision

    def reset_totals(self) -> None:
        self.stack.loss_sum.zero_()  # in place: a captured CUDA graph keeps writing to these
        self.stack.correct.zero_()

    def __call__(self, indices: torch.Tensor) -> None:
        inputs, targets = self.x[indices], self.y[indices]
        with training_autocast(self.precision, inputs.device):  # as lone.TrainingStep
            logits = forward(self.stack, inputs)
            losses = example_losses(logits.float(), targets).mean(1)
        # Slices share no weight, so the sum's gradient in slice k is that of slice k's loss,
        # and a non-finite loss in one slice reaches no other slice's gradient.
        grads = torch.autograd.grad(losses.sum(), self.stack.params)
        self.stack.optimizer.step(self.stack.params, grads)
        self.stack.loss_sum += losses.detach() * len(indices)
        self.stack.correct += (logits.detach().argmax(2) == targets).sum(1)


class GraphedStackedStep(CudaGraphReplay, StackedStep):
    """StackedStep replayed as a CUDA graph; a compacted stack gets a new step, a new graph."""

    def __init__(
        self,
        stack: Stack,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        precision: str = "fp32",
    ):
        super().__init__(stack, x, y, precision)
        self.setup_graph(batch_size, x.device)


def probe(
    stack: Stack, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Per slice on one batch, from one forward pass (lone.layer_probe for a stack): the weight
    gradients' norms `[K, layers]` and each slice's unit health {metric name: 0-dim tensor}."""
    hidden: list[tuple[torch.Tensor, torch.Tensor]] = []
    losses = example_losses(forward(stack, x, hidden), y).mean(1)
    grads = torch.autograd.grad(losses.sum(), stack.params[0::2])
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1)
    return norms, hidden_health(stack, hidden)


def hidden_health(
    stack: Stack, hidden: list[tuple[torch.Tensor, torch.Tensor]]
) -> list[dict[str, torch.Tensor]]:
    """Each slice's unit health, measured per activation group on its range of slices."""
    health: list[dict[str, torch.Tensor]] = [{} for _ in range(stack.size)]
    for layer, (pre, out) in enumerate(hidden, start=1):
        for _, start, end in stack.groups:
            name = stack.activations[start]
            found = layer_health(name, f"act{layer}", pre[start:end], out[start:end])
            for key, values in found.items():
                for position in range(start, end):
                    health[position][key] = values[position - start]
    return health


@torch.inference_mode()
def evaluate(stack: Stack, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
    """(mean cross-entropy, accuracy) of every slice, in fp32 (as lone.evaluate)."""
    # K slices at once: smaller chunks keep the hidden tensors about as big as a lone run's.
    chunk = max(256, EVAL_BATCH_SIZE // stack.size)
    loss_sum = torch.zeros(stack.size, device=x.device)
    correct = torch.zeros(stack.size, dtype=torch.long, device=x.device)
    for start in range(0, len(y), chunk):
        logits = forward(stack, x[start : start + chunk])
        targets = y[start : start + chunk]
        loss_sum += example_losses(logits, targets).sum(1)
        correct += (logits.argmax(2) == targets).sum(1)
    return [s / len(y) for s in loss_sum.tolist()], [c / len(y) for c in correct.tolist()]


def slice_state(stack: Stack, position: int) -> list[torch.Tensor]:
    return [p[position].detach().clone() for p in stack.params]


@torch.no_grad()
def load_slice(model: MLP, state: list[torch.Tensor]) -> None:
    """Copy one slice's weights into a real MLP (nn.Linear keeps weights as `[out, in]`)."""
    for layer, weight, bias in zip(
        model.linear_layers().values(), state[0::2], state[1::2], strict=True
    ):
        layer.weight.copy_(weight.t())
        layer.bias.copy_(bias.view(-1))


# --- the engine ---------------------------------------------------------------------------


class StackedEngine:
    """The running trials as one stack; a trial that stops leaves it (the stack is compacted)
    and its model gets its best epoch's weights."""

    def __init__(self, configs: list[TrainConfig], splits: Splits, cuda_graphs: bool = True):
        check_stackable(configs)
        self.splits, self.batch_size, self.cuda_graphs = splits, configs[0].batch_size, cuda_graphs
        self.precision = configs[0].precision
        device = splits.device
        self.models = [
            build_initialised_model(
                c.activation, c.hidden_sizes, c.seed, c.init, splits.num_classes
            ).to(device)
            for c in configs
        ]
        self.best: list[list[torch.Tensor] | None] = [None] * len(configs)
        self.layer_names = list(self.models[0].linear_layers())
        self.stack = build_stack(configs, self.models, device)
        self.step = self._new_step()

    @property
    def running(self) -> list[int]:
        return self.stack.trials

    def _new_step(self) -> StackedStep:
        x, y = self.splits.train_x, self.splits.train_y
        if use_cuda_graphs(x.device, self.cuda_graphs):
            return GraphedStackedStep(self.stack, x, y, self.batch_size, self.precision)
        return StackedStep(self.stack, x, y, self.precision)

    def reset_totals(self) -> None:
        self.step.reset_totals()

    def set_lr_factor(self, factor: float) -> None:
        self.stack.optimizer.scale_lr(factor)  # in place: a captured graph reads it

    def non_finite(self) -> list[int]:
        finite = torch.isfinite(self.stack.loss_sum)
        if bool(finite.all()):
            return []
        return [self.stack.trials[p] for p in (~finite).nonzero().flatten().tolist()]

    def totals(self) -> tuple[list[float], list[int]]:
        return self.stack.loss_sum.tolist(), self.stack.correct.tolist()

    def probe(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        norms, health = probe(self.stack, x, y)
        scalars = [value for slice_health in health for value in slice_health.values()]
        values = torch.cat([norms.flatten(), *(v.view(1) for v in scalars)]).tolist()  # 1 sync
        rows = [values[i : i + norms.shape[1]] for i in range(0, norms.numel(), norms.shape[1])]
        found = iter(values[norms.numel() :])
        return (
            [dict(zip(self.layer_names, row, strict=True)) for row in rows],
            [{key: next(found) for key in slice_health} for slice_health in health],
        )

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        return evaluate(self.stack, x, y)

    def keep_best(self, trial: int) -> None:
        self.best[trial] = slice_state(self.stack, self.stack.trials.index(trial))

    def retire(self, trials: list[int]) -> None:
        """The trials leave the stack; each model gets its best weights, or its last ones
        without a best epoch (as a lone run diverged in its first epoch keeps them)."""
        if not trials:
            return
        positions = [self.stack.trials.index(trial) for trial in trials]
        for trial, position in zip(trials, positions, strict=True):
            load_slice(self.models[trial], self.best[trial] or slice_state(self.stack, position))
            self.best[trial] = None
        gone = set(positions)
        keep = [p for p in range(self.stack.size) if p not in gone]
        if not keep:  # the last trials left: nothing runs, nothing is worth copying
            self.stack.trials.clear()
            return
        self.stack = self.stack.compact(keep)
        self.step = self._new_step()  # new tensors: a CUDA graph must be captured again
