"""The training loss both engines take their gradients from (stages/loss.py)."""

import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.core.schema.config import TrainConfig
from pipeline.stages.loss import PLAIN, TrainingLoss


def hand_loss(logits: list[float], target: int, smoothing: float) -> float:
    """Cross-entropy against the smoothed target: 1 - s + s/C on the target, s/C elsewhere."""
    top = max(logits)
    log_z = top + math.log(sum(math.exp(v - top) for v in logits))
    classes = len(logits)
    wanted = [smoothing / classes + (1 - smoothing) * (c == target) for c in range(classes)]
    return -sum(w * (v - log_z) for w, v in zip(wanted, logits, strict=True))


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_the_loss_is_cross_entropy_against_smoothed_targets(smoothing):
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], dtype=torch.float64)
    targets = torch.tensor([0, 2])
    loss = TrainingLoss(smoothing)
    rows = zip(logits.tolist(), targets.tolist(), strict=True)
    expected = [hand_loss(row, target, smoothing) for row, target in rows]
    assert loss.examples(logits, targets).tolist() == pytest.approx(expected, rel=1e-12)
    assert loss.mean(logits, targets).item() == pytest.approx(sum(expected) / 2, rel=1e-12)


def test_smoothing_costs_a_confident_correct_prediction():
    """A confident right answer is nearly free under plain cross-entropy; smoothing asks for
    some probability on every class, so the same answer now costs."""
    logits, target = torch.tensor([[12.0, 0.0, 0.0, 0.0]]), torch.tensor([0])
    plain = PLAIN.mean(logits, target).item()
    smoothed = TrainingLoss.of(TrainConfig(label_smoothing=0.1)).mean(logits, target).item()
    assert plain < 1e-4 and smoothed > 0.5


def test_a_stack_of_logits_is_each_slice_s_loss():
    """`[K, B, C]` logits (a stack) give each slice the loss its own `[B, C]` would."""
    torch.manual_seed(0)
    logits, targets = torch.randn(3, 5, 4), torch.randint(0, 4, (5,))
    loss = TrainingLoss(0.2)
    stacked = loss.mean(logits, targets)
    for k in range(3):
        alone = F.cross_entropy(logits[k], targets, label_smoothing=0.2)
        assert stacked[k].item() == pytest.approx(alone.item(), rel=1e-6)
