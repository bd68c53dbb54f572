"""Registry of activation functions: one name -> one nn.Module factory, plus what analysis needs."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.core.errors import UsageError

if TYPE_CHECKING:  # torch is imported when a module is made: the registry loads without it
    from torch import nn

# The six activations the seed study compares, in its order.
SEED_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leakyrelu", "elu", "swish")


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    module: str  # the torch.nn class
    options: dict = field(default_factory=dict)  # its keyword arguments
    # Output range of a saturating activation; outputs near it count as saturated.
    bounds: tuple[float, float] | None = None
    # Has an "off" region (input <= 0) where a unit can stay for every input: a dead unit.
    relu_like: bool = False

    def make(self) -> "nn.Module":
        from torch import nn

        return getattr(nn, self.module)(**self.options)


_SPECS = (
    ActivationSpec("sigmoid", "Sigmoid", bounds=(0.0, 1.0)),
    ActivationSpec("tanh", "Tanh", bounds=(-1.0, 1.0)),
    ActivationSpec("relu", "ReLU", relu_like=True),
    # The seed's slope, not PyTorch's default 0.01.
    ActivationSpec("leakyrelu", "LeakyReLU", {"negative_slope": 0.1}, relu_like=True),
    ActivationSpec("elu", "ELU", relu_like=True),
    ActivationSpec("swish", "SiLU", relu_like=True),  # SiLU is x * sigmoid(x)
    ActivationSpec("gelu", "GELU", relu_like=True),
    ActivationSpec("selu", "SELU", relu_like=True),
    ActivationSpec("mish", "Mish", relu_like=True),
    ActivationSpec("softplus", "Softplus", relu_like=True),
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


def make_activation(name: str) -> "nn.Module":
    return get_activation(name).make()
