"""Registry of activation functions: one name -> one nn.Module factory, plus what analysis needs."""

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from pipeline.core.errors import UsageError

# The six activations the seed study compares, in its order.
SEED_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leakyrelu", "elu", "swish")


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    make: Callable[[], nn.Module]
    # Output range of a saturating activation; outputs near it count as saturated.
    bounds: tuple[float, float] | None = None
    # Has an "off" region (input <= 0) where a unit can stay for every input: a dead unit.
    relu_like: bool = False


def _leaky_relu() -> nn.Module:
    return nn.LeakyReLU(negative_slope=0.1)  # the seed's slope, not PyTorch's default 0.01


_SPECS = (
    ActivationSpec("sigmoid", nn.Sigmoid, bounds=(0.0, 1.0)),
    ActivationSpec("tanh", nn.Tanh, bounds=(-1.0, 1.0)),
    ActivationSpec("relu", nn.ReLU, relu_like=True),
    ActivationSpec("leakyrelu", _leaky_relu, relu_like=True),
    ActivationSpec("elu", nn.ELU, relu_like=True),
    ActivationSpec("swish", nn.SiLU, relu_like=True),  # SiLU is x * sigmoid(x)
    ActivationSpec("gelu", nn.GELU, relu_like=True),
    ActivationSpec("selu", nn.SELU, relu_like=True),
    ActivationSpec("mish", nn.Mish, relu_like=True),
    ActivationSpec("softplus", nn.Softplus, relu_like=True),
)

REGISTRY: dict[str, ActivationSpec] = {spec.name: spec for spec in _SPECS}
NAMES = tuple(REGISTRY)


def get_activation(name: str) -> ActivationSpec:
    """The spec registered under `name`; a UsageError listing the choices otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UsageError(
            f"unknown activation {name!r}; choose one of: {', '.join(NAMES)}"
        ) from None


def make_activation(name: str) -> nn.Module:
    return get_activation(name).make()
