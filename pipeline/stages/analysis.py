"""Stage: layer outputs of trained networks (the seed's Figure 4), and the health of their units.

Outputs of every layer are recorded on a fixed sample of training images; dead units (ReLU-like
activations whose input is never positive on the whole training set) and saturated outputs
(sigmoid/tanh within 1% of their bounds) are counted over the whole training set, in batches,
with the definitions the per-epoch probe of training uses (stages/unit_health.py). A custom
activation gets either count only where it declares `relu_like` or `bounds`
(core/network/custom_activations.py).
"""

from dataclasses import dataclass, field

import torch

from pipeline.core.network.activations import get_activation
from pipeline.core.network.model import MLP
from pipeline.stages import unit_health as health

SAMPLE_SIZE = 1024  # the seed's fixed batch of training images
BATCH_SIZE = 4096


@dataclass
class LayerAnalysis:
    activation: str
    outputs: dict[str, torch.Tensor]  # fc1, act1, ..., on the fixed sample
    dead_fraction: dict[str, float] = field(default_factory=dict)  # act layers, ReLU-like only
    saturated_fraction: dict[str, float] = field(default_factory=dict)  # act layers, bounded only

    def metrics(self) -> dict[str, float]:
        metrics = {}
        for layer, values in self.outputs.items():
            metrics[f"output_mean.{layer}"] = values.mean().item()
            metrics[f"output_std.{layer}"] = values.std().item()
        metrics.update({f"dead_fraction.{k}": v for k, v in self.dead_fraction.items()})
        metrics.update({f"saturated_fraction.{k}": v for k, v in self.saturated_fraction.items()})
        return metrics


@torch.inference_mode()
def layer_outputs(model: MLP, images: torch.Tensor) -> dict[str, torch.Tensor]:
    model.eval()
    return {name: out.cpu() for name, out in model.layer_outputs(images).items()}


@torch.inference_mode()
def unit_health(model: MLP, images: torch.Tensor) -> tuple[dict[str, float], dict[str, float]]:
    """(dead_fraction, saturated_fraction) per activation layer over all `images`, in batches,
    as stages/unit_health.py defines them (a unit is dead when never positive on any image)."""
    model.eval()
    spec = get_activation(model.config.activation)
    positive: dict[str, torch.Tensor] = {}
    saturated: dict[str, torch.Tensor] = {}
    for start in range(0, len(images), BATCH_SIZE):
        outputs = model.layer_outputs(images[start : start + BATCH_SIZE])
        for name, values in outputs.items():
            if name.startswith("fc") and spec.relu_like:
                act = name.replace("fc", "act")
                seen = health.ever_positive(values)
                positive[act] = positive[act] | seen if act in positive else seen
            elif name.startswith("act") and spec.bounds is not None:
                near = health.near_bounds(values, spec.bounds).float().mean()
                share = near * len(values) / len(images)  # batches may differ in size
                saturated[name] = saturated[name] + share if name in saturated else share
    dead = {name: health.dead_share(seen).item() for name, seen in positive.items()}
    return dead, {name: share.item() for name, share in saturated.items()}


def analyse(
    model: MLP, train_images: torch.Tensor, sample_size: int = SAMPLE_SIZE
) -> LayerAnalysis:
    dead, saturated = unit_health(model, train_images)
    return LayerAnalysis(
        activation=model.config.activation,
        outputs=layer_outputs(model, train_images[:sample_size]),
        dead_fraction=dead,
        saturated_fraction=saturated,
    )
