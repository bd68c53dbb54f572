"""The training loss: the one function both engines (stages/lone.py, stages/stacked.py) take
their gradients from, made from a run's config.

It is cross-entropy with the config's label smoothing (torch's: each target keeps 1 - s of its
probability and every class gets s / classes). Only training takes it: the validation and test
loss, the per-epoch probe of gradient norms, the gradient probe (stages/probe.py) and the
benchmark's reference loops (stages/timings.py) keep the seed's plain cross-entropy, so a run's
val_loss means the same whatever it trained with.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pipeline.core.schema.config import TrainConfig


@dataclass(frozen=True)
class TrainingLoss:
    """Cross-entropy with label smoothing `smoothing` (0: plain cross-entropy)."""

    smoothing: float = 0.0

    @classmethod
    def of(cls, config: TrainConfig) -> "TrainingLoss":
        return cls(smoothing=config.label_smoothing)

    def examples(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss of every example: logits `[..., B, classes]` (one model's `[B, classes]`,
        a stack's `[K, B, classes]`) against targets `[B]`, a tensor `[..., B]`."""
        *lead, b, classes = logits.shape
        repeats = logits.numel() // (b * classes)
        flat = F.cross_entropy(
            logits.reshape(-1, classes),
            targets.repeat(repeats),
            reduction="none",
            label_smoothing=self.smoothing,
        )
        return flat.view(*lead, b)

    def mean(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean loss over the batch: a scalar for one model (torch's own mean, as the
        seed's loop takes it), `[K]` for a stack."""
        if logits.dim() == 2:
            return F.cross_entropy(logits, targets, label_smoothing=self.smoothing)
        return self.examples(logits, targets).mean(-1)


PLAIN = TrainingLoss()  # the seed's cross-entropy
