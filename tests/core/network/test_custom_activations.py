"""Activations of one's own, `module:name`: made from a function or an nn.Module class, checked
once when a config names them, and carried through curves, the analysis and the stacked engine."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pipeline.core.network import activations
from pipeline.core.network.model import MLP, ModelConfig
from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.stages import analysis, curves, stacked
from tests.conftest import REPO

MODULE = "own_activations_core"
SOURCE = textwrap.dedent(
    """
    import torch
    from torch import nn


    def snake(x):
        return x + torch.sin(x) ** 2


    def doubled_tanh(x):
        return 2 * torch.tanh(x)


    doubled_tanh.bounds = (-2, 2)


    def leaky(x):
        return torch.where(x > 0, x, 0.2 * x)


    leaky.relu_like = True


    class Rational(nn.Module):
        bounds = (-1.0, 1.0)

        def forward(self, x):
            return x / (1 + x.abs())


    class Learnable(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = nn.Parameter(torch.ones(()))

        def forward(self, x):
            return x + torch.sin(self.alpha * x) ** 2 / self.alpha


    class NeedsArguments(nn.Module):
        def __init__(self, alpha):
            super().__init__()


    class NotAModule:
        pass


    def row_sums(x):
        return x.sum(-1)


    def through_numpy(x):
        return torch.from_numpy(x.detach().numpy().clip(0))


    def refuses(x):
        raise ValueError("not today")


    def badly_bounded(x):
        return x


    badly_bounded.bounds = (1, 0)
    NUMBER = 3
    """
)


@pytest.fixture(scope="module", autouse=True)
def own_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    (folder / f"{MODULE}.py").write_text(SOURCE)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        yield folder


def test_a_function_is_an_activation():
    module = activations.make_activation(f"{MODULE}:snake")
    for shape in ((5, 7), (3, 5, 7)):  # a lone layer's and a stack's hidden tensors
        x = torch.randn(shape)
        assert torch.equal(module(x), x + torch.sin(x) ** 2)
    spec = activations.get_activation(f"{MODULE}:snake")
    assert (spec.bounds, spec.relu_like, spec.learnable) == (None, False, False)
    assert TrainConfig(activation=f"{MODULE}:snake").activation == f"{MODULE}:snake"


def test_a_module_class_is_made_with_no_arguments_and_declares_what_analysis_counts():
    assert isinstance(activations.make_activation(f"{MODULE}:Rational"), torch.nn.Module)
    assert activations.get_activation(f"{MODULE}:Rational").bounds == (-1.0, 1.0)
    assert activations.get_activation(f"{MODULE}:doubled_tanh").bounds == (-2.0, 2.0)
    assert activations.get_activation(f"{MODULE}:leaky").relu_like is True
    assert activations.model_alias(f"{MODULE}:snake") == f"{MODULE}-snake"


def test_curves_differentiate_it_by_autograd():
    [curve] = curves.activation_curves((f"{MODULE}:snake",))
    x = torch.from_numpy(curve.x)
    assert torch.allclose(torch.from_numpy(curve.derivative), 1 + torch.sin(2 * x))


def test_analysis_counts_only_what_it_declares():
    images = torch.randn(64, 2)

    def health(name: str) -> tuple[dict, dict]:
        model = MLP(ModelConfig(name, hidden_sizes=(4,), in_features=2, num_classes=2))
        return analysis.unit_health(model, images)

    assert health(f"{MODULE}:snake") == ({}, {})
    dead, saturated = health(f"{MODULE}:leaky")
    assert list(dead) == ["act1"] and saturated == {}
    dead, saturated = health(f"{MODULE}:doubled_tanh")
    assert dead == {} and list(saturated) == ["act1"]


def test_one_with_parameters_trains_alone():
    name = f"{MODULE}:Learnable"
    assert activations.get_activation(name).learnable
    assert SweepConfig(activations=("relu", name), stack=1).learnable_activations == (name,)
    with pytest.raises(UsageError, match=r"has parameters to train.*set `stack: 1` \(got 4\)"):
        SweepConfig(activations=("relu", name), stack=4)
    with pytest.raises(UsageError, match="cannot train per trial"):
        stacked.check_stackable([TrainConfig(activation=name), TrainConfig()])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_module_here:snake", "module 'no_such_module_here' cannot be imported"),
        (f"{MODULE}:snak", f"module '{MODULE}' has no 'snak'"),
        (f"{MODULE}:NUMBER", "names an object of type int, which is not callable"),
        (f"{MODULE}:NotAModule", "is a class but not an nn.Module"),
        (f"{MODULE}:NeedsArguments", "could not be made with no arguments"),
        (f"{MODULE}:row_sums", "changes the shape of its input: (4, 8) -> (4,)"),
        (f"{MODULE}:through_numpy", "is not differentiable by autograd"),
        (f"{MODULE}:refuses", "fails on a float32 tensor of shape (4, 8) (ValueError: not today)"),
        (f"{MODULE}:badly_bounded", "bounds must be (low, high), two finite numbers with low <"),
        (":snake", "is not 'module:name'"),
    ],
)
def test_a_bad_custom_activation_is_one_line_when_the_config_is_made(name, message):
    with pytest.raises(UsageError) as error:
        SweepConfig(activations=("relu", name))
    assert message in str(error.value) and "\n" not in str(error.value)


# A config error in a fresh interpreter: registered names are checked without torch.
NO_TORCH = """
import sys
from pipeline.cli.main import main

assert main(["train", "--activation", "sigmoidd"]) == 2
assert main(["train", "--dataset", "my data"]) == 2
assert main(["sweep", "--config", "absent.yaml"]) == 2
assert "torch" not in sys.modules, "a config error imported torch"
"""


def test_built_in_names_are_checked_without_importing_torch(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
