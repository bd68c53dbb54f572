import math

import pytest
import torch

from pipeline.core.network import activations
from pipeline.core.process.errors import UsageError

X = torch.linspace(-5, 5, 201, dtype=torch.float64)


def sigmoid(x):
    return 1 / (1 + torch.exp(-x))


DEFINITIONS = {
    "sigmoid": sigmoid,
    "tanh": lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)),
    "relu": lambda x: torch.where(x > 0, x, 0.0),
    "leakyrelu": lambda x: torch.where(x > 0, x, 0.1 * x),
    "elu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1),
    "swish": lambda x: x * sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "selu": lambda x: (
        1.0507009873554805 * torch.where(x > 0, x, 1.6732632423543772 * (torch.exp(x) - 1))
    ),
    "mish": lambda x: x * torch.tanh(torch.log1p(torch.exp(x))),
    "softplus": lambda x: torch.log1p(torch.exp(x)),
}


def test_registry_holds_the_seed_six_and_more():
    assert activations.SEED_ACTIVATIONS == ("sigmoid", "tanh", "relu", "leakyrelu", "elu", "swish")
    assert set(DEFINITIONS) <= set(activations.NAMES)


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_each_activation_matches_its_definition(name):
    module = activations.make_activation(name)
    assert torch.allclose(module(X), DEFINITIONS[name](X), atol=1e-12)


def test_leaky_relu_uses_the_seed_slope():
    module = activations.make_activation("leakyrelu")
    assert module(torch.tensor([-2.0])).item() == pytest.approx(-0.2)


def test_unknown_activation_lists_the_choices():
    with pytest.raises(UsageError) as error:
        activations.get_activation("sigmoidd")
    assert "unknown activation 'sigmoidd'" in str(error.value)
    assert all(name in str(error.value) for name in activations.NAMES)
