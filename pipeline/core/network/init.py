"""Initial weights of the MLP: PyTorch's default, Kaiming or Xavier, fixed by a seed."""

from collections.abc import Iterable

import torch
from torch import nn

from pipeline.core.network.model import MLP, build_model
from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import DEFAULT_HIDDEN_SIZES, INITS, NUM_CLASSES


def check_init(scheme: str) -> str:
    """`scheme` if it is one of INITS; a UsageError (a ValueError) naming them otherwise."""
    if scheme not in INITS:
        raise UsageError(f"unknown init {scheme!r}; choose one of: {', '.join(INITS)}")
    return scheme


@torch.no_grad()
def initialise(model: MLP, scheme: str, seed: int) -> MLP:
    """Re-initialise `model`'s linear layers in place by `scheme`; returns `model`.

    "default" leaves nn.Linear's own initialisation as `build_model` made it (the seed study's
    weights, bit for bit). "kaiming": kaiming_normal_ (fan_in, ReLU's gain sqrt(2)) on every
    weight; "xavier": xavier_uniform_ (gain 1); both zero the biases. Their draws come from a
    generator seeded with `seed` alone, in layer order, so they depend on nothing else and leave
    the global random state as it was.
    """
    check_init(scheme)
    if scheme == "default":
        return model
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    for layer in model.linear_layers().values():
        # ReLU's gain for every activation, not the activation's own: "kaiming" then means the
        # same weights for every activation of a seed, so a comparison of activations does not
        # also compare initialisations, and calculate_gain knows only some of the registry
        # (tanh, sigmoid, selu, leaky ReLU; not ELU, Swish, GELU, Mish, softplus).
        if scheme == "kaiming":
            nn.init.kaiming_normal_(
                layer.weight, mode="fan_in", nonlinearity="relu", generator=generator
            )
        else:
            nn.init.xavier_uniform_(layer.weight, gain=1.0, generator=generator)
        nn.init.zeros_(layer.bias)
    return model


def build_initialised_model(
    activation: str,
    hidden_sizes: Iterable[int] = DEFAULT_HIDDEN_SIZES,
    seed: int = 0,
    init: str = "default",
    num_classes: int = NUM_CLASSES,
) -> MLP:
    """`build_model(activation, hidden_sizes, seed, num_classes)` with its weights set by
    `init`."""
    check_init(init)
    return initialise(build_model(activation, hidden_sizes, seed, num_classes), init, seed)
