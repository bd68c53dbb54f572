"""The seed study's MLP (784-512-256-256-128-10) and its checkpoint: state_dict + config JSON.

The output layer has one unit per class of the dataset it is built for (`num_classes`, recorded
in the checkpoint's config); 10 is Fashion-MNIST's."""

import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.core.network.activations import make_activation
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.files import atomic_write_text, atomic_writer
from pipeline.core.schema.config import DEFAULT_HIDDEN_SIZES, IN_FEATURES, NUM_CLASSES

CHECKPOINT_WEIGHTS = "model.pt"
CHECKPOINT_CONFIG = "config.json"


@dataclass(frozen=True)
class ModelConfig:
    activation: str = "relu"
    hidden_sizes: tuple[int, ...] = DEFAULT_HIDDEN_SIZES
    in_features: int = IN_FEATURES
    num_classes: int = NUM_CLASSES

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        return cls(
            activation=values["activation"],
            hidden_sizes=tuple(int(size) for size in values["hidden_sizes"]),
            in_features=int(values.get("in_features", IN_FEATURES)),
            num_classes=int(values.get("num_classes", NUM_CLASSES)),
        )


class MLP(nn.Sequential):
    """Linear layers fc1..fcN with the activation after each hidden one (act1..actN-1).

    Subclassing Sequential keeps parameter names short (`fc1.weight`), and they are the layer
    names used in metrics (`grad_norm.fc1`).
    """

    def __init__(self, config: ModelConfig):
        widths = [config.in_features, *config.hidden_sizes]
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for index, (fan_in, fan_out) in enumerate(pairwise(widths), start=1):
            layers[f"fc{index}"] = nn.Linear(fan_in, fan_out)
            layers[f"act{index}"] = make_activation(config.activation)
        layers[f"fc{len(widths)}"] = nn.Linear(widths[-1], config.num_classes)
        super().__init__(layers)
        self.config = config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # accepts (N, 784) and (N, 1, 28, 28) alike; torch leaves Sequential.forward untyped
        output: torch.Tensor = super().forward(x.flatten(1))  # type: ignore[no-untyped-call]
        return output

    def linear_layers(self) -> dict[str, nn.Linear]:
        return {name: m for name, m in self.named_children() if isinstance(m, nn.Linear)}

    def layer_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output of every layer but the last, in order (the seed's Figure 4)."""
        outputs = {}
        x = x.flatten(1)
        for name, layer in list(self.named_children())[:-1]:
            x = layer(x)
            outputs[name] = x
        return outputs


def build_model(
    activation: str,
    hidden_sizes: Iterable[int] = DEFAULT_HIDDEN_SIZES,
    seed: int | None = None,
    num_classes: int = NUM_CLASSES,
) -> MLP:
    """A fresh MLP; with `seed`, its initial weights depend on nothing else."""
    if seed is not None:
        torch.manual_seed(seed)
    config = ModelConfig(activation, tuple(hidden_sizes), num_classes=num_classes)
    return MLP(config)


def save_checkpoint(model: MLP, directory: Path) -> Path:
    """Write model.pt (state_dict) and config.json into `directory`, each atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    with atomic_writer(directory / CHECKPOINT_WEIGHTS) as handle:
        torch.save(state, handle)
    atomic_write_text(directory / CHECKPOINT_CONFIG, json.dumps(asdict(model.config), indent=2))
    return directory


def load_checkpoint(directory: Path, device: str = "cpu") -> MLP:
    """Rebuild the model from config.json and load model.pt without unpickling code."""
    config_path, weights_path = directory / CHECKPOINT_CONFIG, directory / CHECKPOINT_WEIGHTS
    for path in (config_path, weights_path):
        if not path.is_file():
            raise PipelineError(f"checkpoint is incomplete: {path.name} missing in {directory}")
    try:
        config = ModelConfig.from_dict(json.loads(config_path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"checkpoint config {config_path} is unreadable: {error}") from None
    model = MLP(config)
    try:
        state = torch.load(weights_path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        raise PipelineError(f"checkpoint weights {weights_path} are unreadable: {error}") from None
    check_state_matches(model, state)
    model.load_state_dict(state)
    return model.to(device)


def check_state_matches(model: MLP, state: dict[str, torch.Tensor]) -> None:
    """Say which tensor disagrees, instead of failing later inside a matmul."""
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in state.items()}
    missing, unexpected = expected.keys() - found.keys(), found.keys() - expected.keys()
    if missing or unexpected:
        raise PipelineError(
            "checkpoint weights do not match its config: "
            f"missing {sorted(missing) or '-'}, unexpected {sorted(unexpected) or '-'}"
        )
    for name, shape in expected.items():
        if found[name] != shape:
            raise PipelineError(
                f"checkpoint weights do not match its config: {name} has shape "
                f"{list(found[name])} in the weights but {list(shape)} in the model the config "
                f"describes ({describe(model)})"
            )


def layer_widths(
    hidden_sizes: Iterable[int], in_features: int = IN_FEATURES, num_classes: int = NUM_CLASSES
) -> str:
    """The MLP's layer widths as the seed writes them: 784-512-256-256-128-10."""
    return "-".join(map(str, (in_features, *hidden_sizes, num_classes)))


def describe(model: MLP) -> str:
    config = model.config
    widths = layer_widths(config.hidden_sizes, config.in_features, config.num_classes)
    return f"MLP {widths} with {config.activation}"
