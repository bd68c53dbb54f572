"""Stage: every registered activation and its derivative by autograd (the seed's Figure 2)."""

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from pipeline.core.network.activations import NAMES, make_activation


@dataclass
class ActivationCurve:
    name: str
    x: np.ndarray
    y: np.ndarray
    derivative: np.ndarray  # dy/dx by autograd

    def metrics(self) -> dict[str, float]:
        """Where the gradient flows: the derivative's peak and its value at both ends."""
        return {
            f"derivative_max.{self.name}": float(self.derivative.max()),
            f"derivative_at_minus5.{self.name}": float(self.derivative[0]),
            f"derivative_at_plus5.{self.name}": float(self.derivative[-1]),
        }


def derivative(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """dy/dx elementwise: the activation acts per element, so grad of y.sum() is the derivative."""
    x = x.detach().clone().requires_grad_(True)
    module(x).sum().backward()
    return cast(torch.Tensor, x.grad)  # backward() has filled it


def activation_curves(
    names: tuple[str, ...] = NAMES, low: float = -5.0, high: float = 5.0, points: int = 1001
) -> list[ActivationCurve]:
    x = torch.linspace(low, high, points, dtype=torch.float64)
    curves = []
    for name in names:
        module = make_activation(name).double()  # a custom one's parameters too
        with torch.no_grad():
            y = module(x)
        curves.append(ActivationCurve(name, x.numpy(), y.numpy(), derivative(module, x).numpy()))
    return curves
