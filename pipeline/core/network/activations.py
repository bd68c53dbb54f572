"""Registry of activation functions: one name -> one nn.Module factory, plus what analysis needs.

Besides the registered names, `module:name` names an activation of the user's own
(core/network/custom_activations.py): only such a name imports its module, and torch, to be checked.
"""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.core.process.errors import UsageError

if TYPE_CHECKING:  # torch is imported when a module is made: the registry loads without it
    from torch import nn

# The six activations the seed study compares, in its order.
SEED_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leakyrelu", "elu", "swish")


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    module: str  # the torch.nn class
    options: dict[str, Any] = field(default_factory=dict)  # its keyword arguments
    # Output range of a saturating activation; outputs near it count as saturated.
    bounds: tuple[float, float] | None = None
    # Has an "off" region (input <= 0) where a unit can stay for every input: a dead unit.
    relu_like: bool = False
    # A custom activation's maker (`module:name`); the registered ones name their torch.nn class.
    factory: "Callable[[], nn.Module] | None" = None
    # Has parameters to train, which the stacked engine cannot train per slice.
    learnable: bool = False

    def make(self) -> "nn.Module":
        if self.factory is not None:
            return self.factory()
        from torch import nn

        module: nn.Module = getattr(nn, self.module)(**self.options)
        return module


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


CUSTOM = "module:name"  # how the choices name an activation of one's own


def is_custom(name: str) -> bool:
    return isinstance(name, str) and ":" in name


def get_activation(name: str) -> ActivationSpec:
    """The spec registered under `name`, or of the custom `module:name`; a UsageError listing
    the choices otherwise."""
    if is_custom(name):
        return _custom_spec(name)
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UsageError(
            f"unknown activation {name!r}; choose one of: {', '.join(NAMES)}, or {CUSTOM} for "
            "your own"
        ) from None


@functools.cache
def _custom_spec(name: str) -> ActivationSpec:
    """Imported, made and tried once per process; an error is not cached, so a module fixed
    since is tried again."""
    from pipeline.core.network import custom_activations

    found = custom_activations.resolve(name)
    return ActivationSpec(
        name,
        module=name,
        bounds=found.bounds,
        relu_like=found.relu_like,
        factory=found.factory,
        learnable=found.learnable,
    )


def model_alias(name: str) -> str:
    """The registry alias of an activation's best model: MLflow aliases allow letters, digits,
    '_' and '-', so `mymodule:snake` becomes `mymodule-snake`."""
    return re.sub(r"[^\w-]", "-", name)


def make_activation(name: str) -> "nn.Module":
    return get_activation(name).make()
