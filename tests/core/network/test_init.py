"""Initial weights: the default is build_model's, Kaiming and Xavier follow their formulas."""

import math

import pytest
import torch

from pipeline.core.network.init import INITS, build_initialised_model, initialise
from pipeline.core.network.model import build_model


def weights(model) -> list[torch.Tensor]:
    return [t.detach().clone() for t in model.state_dict().values()]


def test_default_is_build_models_own_initialisation_bit_for_bit():
    expected = weights(build_model("relu", seed=7))
    assert all(map(torch.equal, weights(build_initialised_model("relu", seed=7)), expected))
    model = build_model("relu", seed=7)
    assert all(map(torch.equal, weights(initialise(model, "default", seed=123)), expected))


@pytest.mark.parametrize("scheme", ["kaiming", "xavier"])
def test_a_scheme_zeroes_biases_and_replaces_every_weight(scheme):
    default = build_model("tanh", seed=3)
    model = build_initialised_model("tanh", seed=3, init=scheme)
    for (name, layer), before in zip(
        model.linear_layers().items(), default.linear_layers().values(), strict=True
    ):
        assert torch.count_nonzero(layer.bias) == 0, name
        assert not torch.equal(layer.weight, before.weight), name


def std_tolerance(count: int) -> float:
    """Four standard errors of a sample standard deviation, relative (normal or uniform)."""
    return 4 / math.sqrt(2 * count)


def test_kaiming_normal_has_std_sqrt_2_over_fan_in():
    model = build_initialised_model("relu", seed=0, init="kaiming")
    for name, layer in model.linear_layers().items():
        fan_in = layer.weight.shape[1]
        std = math.sqrt(2 / fan_in)
        w = layer.weight.double()
        assert w.std().item() == pytest.approx(std, rel=std_tolerance(w.numel())), name
        assert abs(w.mean().item()) < 4 * std / math.sqrt(w.numel()), name
    fc1 = model.linear_layers()["fc1"].weight  # 512 x 784: 401k draws, std within 0.5 %
    assert fc1.std().item() == pytest.approx(math.sqrt(2 / 784), rel=0.005)


def test_xavier_uniform_fills_plus_minus_sqrt_6_over_fan_in_plus_fan_out():
    model = build_initialised_model("relu", seed=0, init="xavier")
    for name, layer in model.linear_layers().items():
        fan_out, fan_in = layer.weight.shape
        bound = math.sqrt(6 / (fan_in + fan_out))
        w = layer.weight.double()
        assert w.abs().max().item() <= bound, name
        assert w.abs().max().item() > 0.98 * bound, name  # it reaches the bound, not less
        std = bound / math.sqrt(3)  # a uniform on [-a, a]
        assert w.std().item() == pytest.approx(std, rel=std_tolerance(w.numel())), name


@pytest.mark.parametrize("scheme", INITS)
def test_the_seed_alone_fixes_the_weights(scheme):
    first = weights(build_initialised_model("elu", (64, 32), seed=11, init=scheme))
    torch.manual_seed(999)  # the global state does not matter
    again = weights(build_initialised_model("elu", (64, 32), seed=11, init=scheme))
    other = weights(build_initialised_model("elu", (64, 32), seed=12, init=scheme))
    assert all(map(torch.equal, first, again))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize("scheme", ["kaiming", "xavier"])
def test_a_scheme_gives_every_activation_the_same_weights(scheme):
    """The gain is ReLU's for all: comparing activations does not compare initialisations."""
    relu = weights(build_initialised_model("relu", seed=5, init=scheme))
    tanh = weights(build_initialised_model("tanh", seed=5, init=scheme))
    assert all(map(torch.equal, relu, tanh))


def test_a_scheme_leaves_the_global_random_state_alone():
    model = build_model("relu", seed=1)
    state = torch.get_rng_state()
    initialise(model, "kaiming", seed=1)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("scheme", ["he", "Kaiming", "", "orthogonal"])
def test_an_unknown_scheme_is_refused_naming_the_allowed_ones(scheme):
    with pytest.raises(ValueError, match=r"choose one of: default, kaiming, xavier$"):
        initialise(build_model("relu", (8,), seed=0), scheme, seed=0)
    with pytest.raises(ValueError, match=repr(scheme)):
        build_initialised_model("relu", (8,), seed=0, init=scheme)
