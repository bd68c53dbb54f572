"""The whole predictor a logged model holds: raw 28x28 pixels in, class probabilities out.

Pure torch: it wraps a trained MLP with the normalisation the training data had, so that whoever
loads the logged model needs neither this package nor to know how images were prepared.
"""

from collections.abc import Sequence

import torch
from torch import nn

from pipeline.core.data import CLASSES, IMAGE_SIDE, normalise
from pipeline.core.datasets import FASHION_MNIST, display_name
from pipeline.core.model import MLP


def input_contract(classes: Sequence[str] = CLASSES, dataset: str = FASHION_MNIST) -> str:
    """What a logged model takes and gives, in words: its metadata and registry description."""
    return (
        f"input: raw {display_name(dataset)} images, uint8 pixels 0-255, shape (N, {IMAGE_SIDE}, "
        f"{IMAGE_SIDE}) with N >= 1 (not flattened, not normalised); output: float32 (N, "
        f"{len(classes)}) class probabilities in the order {', '.join(classes)}"
    )


INPUT_CONTRACT = input_contract()  # Fashion-MNIST's


class Predictor(nn.Module):
    """uint8 (N, 28, 28) -> (x / 255 - 0.5) / 0.5 -> MLP -> softmax -> float32 (N, classes).

    The normalisation is `data.normalise`, the very function the training data went through, so
    the predictor's classes are the MLP's on the normalised images, bit for bit.
    """

    def __init__(self, mlp: MLP):
        super().__init__()
        self.mlp = mlp

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.mlp(normalise(images)), dim=1)


def predict_proba(predictor: nn.Module, images: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """Class probabilities of uint8 `images`, in batches, on the predictor's device."""
    device = next(predictor.parameters()).device
    with torch.inference_mode():
        return torch.cat(
            [predictor(images[i : i + batch].to(device)) for i in range(0, len(images), batch)]
        )


def score(probabilities: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(mean negative log-likelihood, accuracy) of class probabilities against labels."""
    labels = labels.to(probabilities.device)
    picked = probabilities.gather(1, labels[:, None]).squeeze(1)
    tiny = torch.finfo(probabilities.dtype).tiny  # a probability that underflowed to 0
    loss = -picked.clamp_min(tiny).log().mean().item()
    correct = (probabilities.argmax(1) == labels).sum().item()
    return loss, correct / len(labels)  # as training computes test_acc


def per_class_accuracy(
    probabilities: torch.Tensor, labels: torch.Tensor, classes: Sequence[str] = CLASSES
) -> dict[str, float]:
    predictions, labels = probabilities.argmax(1), labels.to(probabilities.device)
    return {
        name: (predictions[labels == index] == index).float().mean().item()
        for index, name in enumerate(classes)
    }
