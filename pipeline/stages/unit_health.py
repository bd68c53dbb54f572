"""What a dead unit and a saturated output are: one definition, used by the per-epoch probe of
training (both engines, on one fixed batch) and by the analysis of trained models (on the whole
training set, in batches).

A ReLU-like unit is dead when its pre-activation is <= 0 for every image seen: it then passes
no gradient to its weights. A bounded activation's output is saturated when it lies within
SATURATION_TOLERANCE of the output range from either bound, where its slope is near zero.
Tensors may carry leading model dimensions (a stack's `[K, B, H]`): every reduction is over the
last two, batch and units, and gives one value per model.
"""

import torch

from pipeline.core.network.activations import get_activation

SATURATION_TOLERANCE = 0.01  # as a fraction of the output range


def ever_positive(pre_activation: torch.Tensor) -> torch.Tensor:
    """`[..., H]`: whether each unit's pre-activation `[..., B, H]` is > 0 for some example."""
    return (pre_activation > 0).any(dim=-2)


def dead_share(positive: torch.Tensor) -> torch.Tensor:
    """`[...]`: the fraction of units never positive, from `ever_positive`'s `[..., H]`."""
    return 1 - positive.float().mean(dim=-1)


def near_bounds(outputs: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    """Whether each output lies within SATURATION_TOLERANCE of the range from either bound."""
    low, high = bounds
    margin = SATURATION_TOLERANCE * (high - low)
    return (outputs <= low + margin) | (outputs >= high - margin)


def layer_health(
    activation: str, layer: str, pre_activation: torch.Tensor, outputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The metrics of one activation layer on one batch, named as they are logged:
    `dead_fraction.<layer>` for a ReLU-like activation, `saturated_fraction.<layer>` for a
    bounded one, nothing for others; values `[...]` (one per model), still on the device."""
    spec = get_activation(activation)
    health = {}
    if spec.relu_like:
        health[f"dead_fraction.{layer}"] = dead_share(ever_positive(pre_activation))
    if spec.bounds is not None:
        near = near_bounds(outputs, spec.bounds)
        health[f"saturated_fraction.{layer}"] = near.float().mean(dim=(-2, -1))
    return health
