"""Optimizers a lone model and a stack of models share: one settings type, torch.optim for a
lone model, and torch.optim's rules applied to every slice of a stack with its own settings.

A stack keeps slice k of every tensor for trial k (weights `[K, in, out]`, biases `[K, 1, out]`);
torch.optim takes one lr per param group, so the stack's update is written here. It applies the
terms of torch's single-tensor functions (torch/optim/sgd.py, adam.py) in their order, and where
a per-slice tensor stands for torch's Python number, torch's own tensor form (its capturable
Adam's): a slice moves as its lone twin does under torch.optim, up to float rounding.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict

import torch

from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import OPTIMIZER_FAMILIES, OPTIMIZERS, TrainConfig

KINDS = OPTIMIZERS
FAMILIES = OPTIMIZER_FAMILIES  # the kinds one stack may mix (core/schema/config.py)
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch's defaults


@dataclass(frozen=True)
class OptimizerSettings:
    """One trial's optimizer. `momentum` and `nesterov` are SGD's, `betas` and `eps` Adam's and
    AdamW's; a kind refuses the others' settings, so a logged value always took effect.
    `weight_decay` is L2 added to the gradient for sgd and adam, decoupled for adamw; it
    defaults to 0 for every kind (torch's AdamW alone defaults to 0.01)."""

    kind: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = ADAM_BETAS
    eps: float = ADAM_EPS

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))  # a YAML list compares equal too
        if self.kind not in KINDS:
            raise UsageError(f"optimizer must be one of: {', '.join(KINDS)}; got {self.kind!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.weight_decay < math.inf:
            raise UsageError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.kind == "sgd":
            self._check_sgd()
        else:
            self._check_adam()

    def _check_sgd(self) -> None:
        if not 0 <= self.momentum < 1:
            raise UsageError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise UsageError("nesterov needs a momentum above 0")
        if tuple(self.betas) != ADAM_BETAS or self.eps != ADAM_EPS:
            raise UsageError("betas and eps are settings of adam and adamw, not of sgd")

    def _check_adam(self) -> None:
        if self.momentum != 0 or self.nesterov:
            raise UsageError(f"momentum and nesterov are settings of sgd, not of {self.kind}")
        if len(self.betas) != 2 or not all(0 <= beta < 1 for beta in self.betas):
            raise UsageError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if not 0 <= self.eps < math.inf:
            raise UsageError(f"eps must be >= 0, got {self.eps!r}")


def settings_of(config: TrainConfig) -> OptimizerSettings:
    """A training config's optimizer (momentum and Nesterov are SGD's alone)."""
    sgd = config.optimizer == "sgd"
    return OptimizerSettings(
        kind=config.optimizer,
        lr=config.lr,
        momentum=config.momentum if sgd else 0.0,
        nesterov=config.nesterov if sgd else False,
        weight_decay=config.weight_decay,
    )


def lone_optimizer(
    params: Iterable[torch.Tensor], settings: OptimizerSettings, device_type: str
) -> torch.optim.Optimizer:
    """torch.optim's SGD, Adam or AdamW with `settings`. On a CPU the fused kernels (SGD, Adam
    and AdamW all have one there: 118 us a step for SGD against 222 us foreach on this MLP); on a
    GPU foreach, and Adam's state on the device (capturable), which a CUDA-graph step needs."""
    speed: dict[str, bool] = {"fused": True} if device_type == "cpu" else {"foreach": True}
    s = settings
    if s.kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=s.lr,
            momentum=s.momentum,
            nesterov=s.nesterov,
            weight_decay=s.weight_decay,
            **speed,
        )
    if device_type == "cuda":
        speed["capturable"] = True
    adam = torch.optim.Adam if s.kind == "adam" else torch.optim.AdamW
    return adam(params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay, **speed)


def lr_factor(schedule: str, epoch: int, max_epochs: int) -> float:
    """What `epoch` (1-based) of `max_epochs` multiplies the lr by: 1 throughout for "constant";
    for "cosine" half a cosine, 1 at the first epoch down to near 0 at the last (set once an
    epoch, so both engines and a captured CUDA graph take it the same way)."""
    if schedule == "constant" or max_epochs == 1:
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * (epoch - 1) / max_epochs))


def scale_lr(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    """Set a torch.optim optimizer's lr to base_lr * factor (every param group)."""
    for group in optimizer.param_groups:
        group["lr"] = base_lr * factor


def stack_family(settings: Sequence[OptimizerSettings]) -> str:
    """The one family ("sgd" or "adam") of a stack's settings; a UsageError for a mix."""
    if not settings:
        raise UsageError("a stacked optimizer needs the settings of at least one slice")
    families = {FAMILIES[s.kind] for s in settings}
    if len(families) > 1:
        kinds = sorted({s.kind for s in settings})
        raise UsageError(
            f"one stack cannot mix sgd with adam or adamw (got {', '.join(kinds)}): "
            "stack the trials of each family apart"
        )
    return families.pop()


class Hyperparameters(TypedDict, total=False):
    """A stack's hyperparameters, `[K, 1, 1]` tensors: SGD's keys or Adam's. Adam's betas are
    one Python number where every slice shares it (`shared_or_per_slice`)."""

    lr: torch.Tensor
    momentum: torch.Tensor
    weight_decay: torch.Tensor
    nesterov: torch.Tensor
    lr64: torch.Tensor
    beta1_64: torch.Tensor
    beta2_64: torch.Tensor
    eps64: torch.Tensor
    one_minus_beta1: float | torch.Tensor
    beta2: float | torch.Tensor
    one_minus_beta2: float | torch.Tensor
    decay: torch.Tensor


def per_slice(values: Sequence[float], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`[K, 1, 1]`: broadcasts over weights `[K, in, out]` and biases `[K, 1, out]` alike."""
    return torch.tensor(values, dtype=dtype, device=device).view(-1, 1, 1)


def sgd_hyperparameters(
    settings: Sequence[OptimizerSettings], device: torch.device, dtype: torch.dtype
) -> Hyperparameters:
    return {
        "lr": per_slice([s.lr for s in settings], device, dtype),
        "momentum": per_slice([s.momentum for s in settings], device, dtype),
        "weight_decay": per_slice([s.weight_decay for s in settings], device, dtype),
        "nesterov": per_slice([s.nesterov for s in settings], device, torch.bool),
    }


def shared_or_per_slice(
    values: list[float], device: torch.device, dtype: torch.dtype
) -> float | torch.Tensor:
    """One Python number where every slice has the same value (betas mostly are): torch's own
    calls then apply, and the second moment's update skips a pass over the params."""
    return values[0] if len(set(values)) == 1 else per_slice(values, device, dtype)


def adam_hyperparameters(
    settings: Sequence[OptimizerSettings], device: torch.device, dtype: torch.dtype
) -> Hyperparameters:
    """torch computes the scalars of its Adam step in Python floats, doubles, and the kernels
    round them to the params' dtype: so do these (float64 first, then `dtype`)."""
    lr = [s.lr for s in settings]
    beta1, beta2 = [s.betas[0] for s in settings], [s.betas[1] for s in settings]
    l2 = [s.weight_decay if s.kind == "adam" else 0.0 for s in settings]
    double = torch.float64
    return {
        "lr64": per_slice(lr, device, double),
        "beta1_64": per_slice(beta1, device, double),
        "beta2_64": per_slice(beta2, device, double),
        "eps64": per_slice([s.eps for s in settings], device, double),
        "one_minus_beta1": shared_or_per_slice([1 - b for b in beta1], device, dtype),
        "beta2": shared_or_per_slice(beta2, device, dtype),
        "one_minus_beta2": shared_or_per_slice([1 - b for b in beta2], device, dtype),
        "weight_decay": per_slice(l2, device, dtype),
        "decay": per_slice(decoupled_decay(settings, lr), device, dtype),
    }


def decoupled_decay(settings: Sequence[OptimizerSettings], lrs: list[float]) -> list[float]:
    """AdamW's p *= 1 - lr * wd per slice, at the slice's current lr; 1 for Adam's slices, an
    exact no-op."""
    return [
        1 - lr * (s.weight_decay if s.kind == "adamw" else 0.0)
        for s, lr in zip(settings, lrs, strict=True)
    ]


class StackedOptimizer:
    """torch.optim's SGD, Adam and AdamW for a stack: slice k of every param is trial k, with
    its own settings (`settings[k]`) and its own state, updated as torch.optim would update the
    lone trial. Hyperparameters are `[K, 1, 1]` tensors; state is created by the first step.

    One family per stack: all slices sgd (momentum, Nesterov and weight decay may differ per
    slice), or all adam/adamw mixed freely. A stack mixing sgd with adam raises a UsageError (a
    ValueError): the caller groups trials by `FAMILIES[kind]`, as it groups them by batch size.

    A step runs no Python loop over slices and reads nothing back to the host, so it can be
    captured in a CUDA graph once the first (eager) step has created the state."""

    def __init__(
        self,
        settings: Sequence[OptimizerSettings],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        self.family = stack_family(settings)
        self.settings = tuple(settings)
        self.device, self.dtype = torch.device(device), dtype
        make = sgd_hyperparameters if self.family == "sgd" else adam_hyperparameters
        self.hyper = make(self.settings, self.device, dtype)
        self.lr_factor = 1.0  # the schedule's, on every slice's lr (scale_lr)
        self.state: dict[str, list[torch.Tensor]] = {}  # name -> one tensor per param
        self.steps: torch.Tensor | None = None  # Adam's step count per slice, [K, 1, 1]
        self.param_count = 0  # of the last step
        self.scratch: list[torch.Tensor] = []
        # Which parts of a rule any slice needs: the others are skipped, not run with zeros.
        kinds_with_decay = {s.kind for s in self.settings if s.weight_decay}
        self.uses_l2 = bool(kinds_with_decay & {"sgd", "adam"})
        self.uses_decoupled = "adamw" in kinds_with_decay
        self.uses_momentum = any(s.momentum for s in self.settings)
        nesterov = [s.nesterov for s in self.settings]
        self.nesterov = "all" if all(nesterov) else "some" if any(nesterov) else "none"

    @property
    def size(self) -> int:
        return len(self.settings)

    @torch.no_grad()
    def step(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        """One update of every slice of `params` in place, from `grads` (left unchanged)."""
        if len(params) != len(grads):
            raise ValueError(f"{len(params)} params but {len(grads)} gradients")
        for p in params:
            if p.shape[0] != self.size:
                raise ValueError(f"a param of {p.shape[0]} slices for {self.size} settings")
        self.param_count = len(params)
        if self.family == "sgd":
            self._sgd_step(params, grads)
        else:
            self._adam_step(params, grads)

    def _scratch(self, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """One work tensor per param, made once: a fresh [K, in, out] temporary every step
        costs page faults (at K = 30 a weight is 48 MB, above what malloc keeps for reuse)."""
        if len(self.scratch) != len(params):
            self.scratch = [torch.empty_like(p) for p in params]
        return self.scratch

    def _sgd_step(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        """torch.optim.SGD's rule (dampening 0) with each slice's lr, momentum, weight decay."""
        h = self.hyper
        first = self.uses_momentum and not self.state
        if first:
            self.state["momentum_buffer"] = []
        needs_work = self.uses_l2 or self.nesterov != "none"
        scratch = self._scratch(params) if needs_work else [None] * len(params)
        for i, (p, g, work) in enumerate(zip(params, grads, scratch, strict=True)):
            if self.uses_l2:
                g = torch.addcmul(g, p, h["weight_decay"], out=work)  # g + wd * p, first
            if self.uses_momentum:
                g = self._momentum(i, g, first, work)
            p.addcmul_(g, h["lr"], value=-1)  # p -= lr * g

    def _momentum(
        self, i: int, g: torch.Tensor, first: bool, work: torch.Tensor | None
    ) -> torch.Tensor:
        h, buffers = self.hyper, self.state["momentum_buffer"]
        if first:
            buffers.append(g.clone())  # torch's first step: buf = g
            buf = buffers[i]
        else:  # torch's buf.mul_(m).add_(g) in one pass (may round once where torch rounds twice)
            buf = torch.addcmul(g, buffers[i], h["momentum"], out=buffers[i])
        if self.nesterov == "none":
            return buf
        ahead = torch.addcmul(g, buf, h["momentum"], out=work)  # Nesterov: g + m * buf
        if self.nesterov == "all":
            return ahead
        return torch.where(h["nesterov"], ahead, buf, out=work)

    def _adam_step(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        """torch.optim.Adam's and AdamW's rule, each slice with its own settings."""
        h = self.hyper
        if self.steps is None:
            self.steps = torch.zeros(self.size, 1, 1, device=self.device)  # torch's: float32
            self.state["exp_avg"] = [torch.zeros_like(p) for p in params]
            self.state["exp_avg_sq"] = [torch.zeros_like(p) for p in params]
        self.steps += 1
        scale, shift = self._adam_denominator()
        moments = zip(self.state["exp_avg"], self.state["exp_avg_sq"], strict=True)
        for p, g, (m, v), work in zip(params, grads, moments, self._scratch(params), strict=True):
            if self.uses_decoupled:
                p.mul_(h["decay"])  # AdamW: p *= 1 - lr * wd, before the moments
            if self.uses_l2:
                g = torch.addcmul(g, p, h["weight_decay"], out=work)  # Adam: g + wd * p
            m.lerp_(g, h["one_minus_beta1"])
            v.mul_(h["beta2"])
            if isinstance(h["one_minus_beta2"], float):
                v.addcmul_(g, g, value=h["one_minus_beta2"])
            else:  # g * ((1 - beta2) * g) rounds as torch's addcmul_ above does
                v.addcmul_(g, g * h["one_minus_beta2"])
            # g is spent: its work tensor takes the denominator
            p.addcdiv_(m, torch.sqrt(v, out=work).div_(scale).add_(shift))

    def _adam_denominator(self) -> tuple[torch.Tensor, torch.Tensor]:
        """p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), with the step size folded into the
        denominator as torch's capturable Adam does (addcdiv_ takes no tensor value)."""
        h = self.hyper
        assert self.steps is not None  # _adam_step counts the step before it asks
        step = self.steps.double()
        step_size_neg = h["lr64"] / (h["beta1_64"] ** step - 1)  # -lr / (1 - beta1^t)
        bias_correction2_sqrt = (1 - h["beta2_64"] ** step).sqrt()
        scale = (bias_correction2_sqrt * step_size_neg).to(self.dtype)
        return scale, (h["eps64"] / step_size_neg).to(self.dtype)

    def scale_lr(self, factor: float) -> None:
        """Every slice's lr becomes its own times `factor`, in place: a captured step reads the
        same tensors. AdamW's decay term, 1 - lr * wd, moves with it."""
        self.lr_factor = factor
        lrs = [s.lr * factor for s in self.settings]
        if self.family == "sgd":
            self.hyper["lr"].copy_(per_slice(lrs, self.device, self.dtype))
            return
        decay = decoupled_decay(self.settings, lrs)
        self.hyper["lr64"].copy_(per_slice(lrs, self.device, torch.float64))
        self.hyper["decay"].copy_(per_slice(decay, self.device, self.dtype))

    def keep(self, index: torch.Tensor) -> "StackedOptimizer":
        """The optimizer of the slices `index` picks, in its order, with their state. Reads
        `index` on the host once, for the survivors' settings (a stack compacts rarely)."""
        positions = index.tolist()
        kept = StackedOptimizer([self.settings[i] for i in positions], self.device, self.dtype)
        kept.scale_lr(self.lr_factor)
        index = index.to(self.device)
        kept.state = {
            name: [t.index_select(0, index) for t in tensors]
            for name, tensors in self.state.items()
        }
        if self.steps is not None:
            kept.steps = self.steps.index_select(0, index)
        kept.param_count = self.param_count
        return kept

    def state_of(self, position: int) -> list[dict[str, torch.Tensor]]:
        """Slice `position`'s state, one dict per param, under torch.optim's names and in the
        stack's layout (copies). Empty before the first step; SGD without momentum has none."""
        if self.family == "sgd":
            if not self.settings[position].momentum:
                return [{} for _ in range(self.param_count)]
            return [
                {"momentum_buffer": b[position].clone()}
                for b in self.state.get("momentum_buffer", [])
            ]
        if self.steps is None:
            return []
        step = self.steps[position].reshape(())
        moments = zip(self.state["exp_avg"], self.state["exp_avg_sq"], strict=True)
        return [
            {
                "step": step.clone(),
                "exp_avg": m[position].clone(),
                "exp_avg_sq": v[position].clone(),
            }
            for m, v in moments
        ]
