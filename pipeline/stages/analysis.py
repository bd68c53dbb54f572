"""Stage: layer outputs of trained networks (the seed's Figure 4), and the health of their units.

Outputs of every layer are recorded on a fixed sample of training images; dead units (ReLU-like
activations whose input is never positive on the whole training set) and saturated outputs
(sigmoid/tanh within 1% of their bounds) are counted over the whole training set, in batches.
"""

from dataclasses import dataclass, field

import torch

from pipeline.core.activations import get_activation
from pipeline.core.model import MLP

SAMPLE_SIZE = 1024  # the seed's fixed batch of training images
BATCH_SIZE = 4096
SATURATION_TOLERANCE = 0.01  # as a fraction of the output range


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
    """(dead_fraction, saturated_fraction) per activation layer over all `images`, batched.

    A unit is dead when its pre-activation is <= 0 for every image; an output is saturated when
    it lies within SATURATION_TOLERANCE of the activation's range from either bound.
    """
    model.eval()
    spec = get_activation(model.config.activation)
    ever_positive: dict[str, torch.Tensor] = {}
    saturated: dict[str, float] = {}
    for start in range(0, len(images), BATCH_SIZE):
        outputs = model.layer_outputs(images[start : start + BATCH_SIZE])
        for name, values in outputs.items():
            if name.startswith("fc"):
                act = name.replace("fc", "act")
                positive = (values > 0).any(dim=0)
                ever_positive[act] = ever_positive.get(act, torch.zeros_like(positive)) | positive
            elif spec.bounds is not None:
                low, high = spec.bounds
                margin = SATURATION_TOLERANCE * (high - low)
                near = ((values <= low + margin) | (values >= high - margin)).sum().item()
                saturated[name] = saturated.get(name, 0.0) + near
    dead = {}
    if spec.relu_like:
        dead = {
            name: 1 - positive.float().mean().item() for name, positive in ever_positive.items()
        }
    if spec.bounds is not None:
        widths = {name: values.shape[1] for name, values in outputs.items()}
        saturated = {
            name: count / (len(images) * widths[name]) for name, count in saturated.items()
        }
    return dead, saturated


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
