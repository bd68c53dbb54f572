"""An activation of the user's own, named `module:name`: imported, made and tried once on small
tensors, so that a name that does not import, or a callable that is not elementwise, is one line
at config time, before anything is written.

`name` is a function of a tensor or an `nn.Module` class made with no arguments. Optional
attributes on it tell the layer analysis what it can measure: `bounds = (low, high)` (its output
range: saturated outputs are counted) and `relu_like = True` (it has an off region: dead units
are counted); without them neither is computed.
"""

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pipeline.core.process.errors import UsageError

# The shapes it is tried on: a lone layer's [B, H] and the stacked engine's [k, B, H] slices.
TRIAL_SHAPES = ((4, 8), (3, 4, 8))
HOW = (
    "a custom activation is 'module:name', the module importable (on PYTHONPATH or in the "
    "working directory) and `name` a function of a tensor or an nn.Module class made with no "
    "arguments"
)


@dataclass(frozen=True)
class Custom:
    """What activations.py makes a spec of."""

    factory: Callable[[], nn.Module]
    bounds: tuple[float, float] | None
    relu_like: bool
    learnable: bool  # has parameters to train: the stacked engine cannot train them per slice


class FunctionActivation(nn.Module):
    """A function of a tensor as a layer; torch.export traces its body into the graph, so a
    logged model runs without the function's module."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor], name: str):
        super().__init__()
        self.function, self.name = function, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)

    def extra_repr(self) -> str:
        return self.name


def _target(name: str) -> object:
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"activation {name!r} is not 'module:name'; {HOW}")
    try:
        found: object = importlib.import_module(module_name)
    except Exception as error:  # the user's module may fail in any way while it runs
        raise UsageError(
            f"activation {name!r}: module {module_name!r} cannot be imported "
            f"({type(error).__name__}: {error}); {HOW}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise UsageError(f"activation {name!r}: module {module_name!r} has no {attribute!r}")
        found = getattr(found, part)
    return found


def _factory(name: str, target: object) -> Callable[[], nn.Module]:
    if isinstance(target, type):
        if not issubclass(target, nn.Module):
            raise UsageError(f"activation {name!r} is a class but not an nn.Module; {HOW}")
        return target
    if not callable(target):
        raise UsageError(
            f"activation {name!r} names an object of type {type(target).__name__}, which is "
            f"not callable; {HOW}"
        )
    return lambda: FunctionActivation(target, name)


def _declared(name: str, target: object) -> tuple[tuple[float, float] | None, bool]:
    """The optional `bounds` and `relu_like` attributes, checked."""
    bounds, relu_like = getattr(target, "bounds", None), getattr(target, "relu_like", False)
    if bounds is not None:
        try:
            low, high = (float(value) for value in bounds)
        except (TypeError, ValueError):
            low = high = math.nan
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise UsageError(
                f"activation {name!r}: bounds must be (low, high), two finite numbers with "
                f"low < high, got {bounds!r}"
            )
        bounds = (low, high)
    if not isinstance(relu_like, bool):
        raise UsageError(f"activation {name!r}: relu_like must be True or False, got {relu_like!r}")
    return bounds, relu_like


def _tried(name: str, factory: Callable[[], nn.Module]) -> nn.Module:
    """One instance, called on each trial shape: its output must be a tensor of the input's
    shape that autograd can differentiate."""
    try:
        module = factory()
    except Exception as error:
        raise UsageError(
            f"activation {name!r} could not be made with no arguments "
            f"({type(error).__name__}: {error})"
        ) from None
    if not isinstance(module, nn.Module):
        raise UsageError(f"activation {name!r} made a {type(module).__name__}; {HOW}")
    for shape in TRIAL_SHAPES:
        x = torch.randn(shape, requires_grad=True)
        try:
            y = module(x)
        except Exception as error:
            raise UsageError(
                f"activation {name!r} fails on a float32 tensor of shape {shape} "
                f"({type(error).__name__}: {error})"
            ) from None
        if not isinstance(y, torch.Tensor) or y.shape != x.shape:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise UsageError(
                f"activation {name!r} changes the shape of its input: {shape} -> {got}; an "
                "activation acts on each element and returns its input's shape"
            )
        if not y.requires_grad:
            raise UsageError(
                f"activation {name!r} is not differentiable by autograd (its output on a tensor "
                "that requires grad has no gradient); write it with torch operations"
            )
    return module


def resolve(name: str) -> Custom:
    """Import, check and try `module:name`; a UsageError naming what is wrong otherwise."""
    target = _target(name)
    factory = _factory(name, target)
    bounds, relu_like = _declared(name, target)
    module = _tried(name, factory)
    learnable = any(parameter.requires_grad for parameter in module.parameters())
    return Custom(factory, bounds, relu_like, learnable)
