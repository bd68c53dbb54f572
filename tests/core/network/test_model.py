import pickle

import pytest
import torch

from pipeline.core.network.model import (
    MLP,
    ModelConfig,
    build_model,
    load_checkpoint,
    save_checkpoint,
)
from pipeline.core.process.errors import PipelineError


def test_default_architecture_is_the_seeds():
    model = build_model("tanh", seed=0)
    shapes = {name: tuple(layer.weight.shape) for name, layer in model.linear_layers().items()}
    assert shapes == {
        "fc1": (512, 784),
        "fc2": (256, 512),
        "fc3": (256, 256),
        "fc4": (128, 256),
        "fc5": (10, 128),
    }
    assert [type(m).__name__ for m in model][1::2] == ["Tanh"] * 4
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_hidden_sizes_are_configurable_and_outputs_are_exposed():
    model = build_model("relu", hidden_sizes=(32, 16), seed=0)
    outputs = model.layer_outputs(torch.randn(4, 784))
    assert list(outputs) == ["fc1", "act1", "fc2", "act2"]
    assert outputs["act2"].shape == (4, 16) and (outputs["act2"] >= 0).all()


def test_same_seed_same_weights():
    a, b = build_model("elu", seed=7), build_model("elu", seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_checkpoint_round_trip(tmp_path):
    model = build_model("swish", hidden_sizes=(64, 32), seed=1)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "ckpt"))
    assert loaded.config == ModelConfig("swish", (64, 32))
    x = torch.randn(5, 784)
    assert torch.equal(model(x), loaded(x))


def test_checkpoint_whose_config_does_not_match_its_weights(tmp_path):
    save_checkpoint(build_model("relu", hidden_sizes=(64, 32), seed=1), tmp_path)
    config = (tmp_path / "config.json").read_text().replace("64", "48")
    (tmp_path / "config.json").write_text(config)
    with pytest.raises(
        PipelineError,
        match=r"fc1.weight has shape \[64, 784\] in the weights but "
        r"\[48, 784\]",
    ):
        load_checkpoint(tmp_path)


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoint_loading_never_unpickles_code(tmp_path, capsys):
    save_checkpoint(build_model("relu", hidden_sizes=(8,), seed=1), tmp_path)
    (tmp_path / "model.pt").write_bytes(pickle.dumps({"fc1.weight": Payload()}))
    with pytest.raises(PipelineError, match="unreadable"):
        load_checkpoint(tmp_path)
    assert "code ran" not in capsys.readouterr().out


def test_a_pickled_model_reloads_as_the_mlp_it_was(tmp_path):
    """What MLflow's pickle format does (torch.save of the module): the reloaded object is this
    project's MLP, not a traced graph, with its config, weights and outputs, and it trains."""
    model = build_model("tanh", hidden_sizes=(32, 16), seed=3)
    torch.save(model, tmp_path / "model.pth")
    loaded = torch.load(tmp_path / "model.pth", weights_only=False)
    assert type(loaded) is MLP and loaded is not model
    assert loaded.config == ModelConfig("tanh", (32, 16))
    assert list(loaded.linear_layers()) == ["fc1", "fc2", "fc3"]
    state, reloaded = model.state_dict(), loaded.state_dict()
    assert all(torch.equal(state[name], reloaded[name]) for name in state)
    x = torch.randn(5, 1, 28, 28)
    assert torch.equal(model(x), loaded(x))
    loaded.train()  # a torch.export graph could not
    torch.nn.functional.cross_entropy(loaded(x), torch.tensor([0, 1, 2, 3, 4])).backward()
    assert loaded.fc1.weight.grad is not None and model.fc1.weight.grad is None
