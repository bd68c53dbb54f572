"""Stage: weight gradients of a fresh network on one fixed batch (the seed's Figure 3).

Each activation gets a freshly initialised MLP from the same seed, one batch of training images,
cross-entropy and one backward pass; nothing is trained. Vanishing gradients show as first-layer
gradients orders of magnitude below the last layer's.
"""

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F

from pipeline.core.network.model import build_model
from pipeline.core.schema.config import DEFAULT_HIDDEN_SIZES, NUM_CLASSES

PROBE_SEED = 42  # the seed study's set_seed(42) before each network
PROBE_BATCH_SIZE = 256


@dataclass
class GradientProbe:
    activation: str
    loss: float
    gradients: dict[str, torch.Tensor]  # weight gradient per linear layer, fc1 ... fcN

    def metrics(self) -> dict[str, float]:
        metrics = {"loss": self.loss}
        for layer, grad in self.gradients.items():
            metrics[f"grad_norm.{layer}"] = grad.norm().item()
            metrics[f"grad_std.{layer}"] = grad.std().item()
            metrics[f"grad_absmax.{layer}"] = grad.abs().max().item()
        metrics["grad_norm_ratio.first_last"] = self.first_to_last_ratio
        return metrics

    @property
    def first_to_last_ratio(self) -> float:
        norms: list[float] = [grad.norm().item() for grad in self.gradients.values()]
        return norms[0] / norms[-1]


def probe_gradients(
    activation: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    hidden_sizes: tuple[int, ...] = DEFAULT_HIDDEN_SIZES,
    seed: int = PROBE_SEED,
    num_classes: int = NUM_CLASSES,
) -> GradientProbe:
    model = build_model(activation, hidden_sizes, seed, num_classes).to(images.device)
    model.eval()  # as the seed: no layer here behaves differently, but it states the intent
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    gradients = {
        # backward() has filled every weight's grad
        name: cast(torch.Tensor, layer.weight.grad).detach().cpu()
        for name, layer in model.linear_layers().items()
    }
    return GradientProbe(activation, loss.item(), gradients)
