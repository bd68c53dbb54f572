"""The whole predictor a logged model holds: raw 28x28 pixels in, class probabilities out.

Pure torch: it wraps a trained MLP with the normalisation the training data had, so that whoever
loads the logged model needs neither this package nor to know how images were prepared.
"""

from collections.abc import Sequence

import torch
from torch import nn

from pipeline.core.dataset.data import CLASSES, IMAGE_SIDE, normalise
from pipeline.core.dataset.datasets import FASHION_MNIST, display_name
from pipeline.core.network.model import MLP


def input_contract(classes: Sequence[str] = CLASSES, dataset: str = FASHION_MNIST) -> str:
    """What a logged model takes and gives, in words: its metadata and registry description."""
    return (
        f"input: raw {display_name(dataset)} images, pixels 0-255 as float32 integers (the "
        f"files' uint8 values), shape (N, {IMAGE_SIDE}, {IMAGE_SIDE}) with N >= 1 (not "
        f"flattened, not scaled to [0, 1], not normalised); output: float32 (N, {len(classes)}) "
        f"class probabilities in the order {', '.join(classes)}"
    )


INPUT_CONTRACT = input_contract()  # Fashion-MNIST's
# The model's input dtype: wide enough that pixels scaled to [0, 1] reach the model, which
# refuses them, where MLflow's scoring server would cast them to a uint8 input's zeros first.
INPUT_DTYPE = torch.float32


class Predictor(nn.Module):
    """pixels 0-255 (N, 28, 28) -> (x / 255 - 0.5) / 0.5 -> MLP -> softmax -> float32 (N, classes).

    Anything but integers 0-255 is refused, so pixels already scaled get an error, never an
    answer. The checked pixels go through `data.normalise` as uint8, the very function the
    training data went through, so the classes are the MLP's on the training images, bit for bit.
    """

    def __init__(self, mlp: MLP):
        super().__init__()
        self.mlp = mlp

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.to(INPUT_DTYPE)
        raw = ((pixels >= 0) & (pixels <= 255) & (pixels == pixels.round())).all()
        # torch.export in strict mode keeps a data-dependent assert whose message is a literal
        # as a runtime check in the exported program: the client gets this line.
        assert raw, (
            "pixels must be raw integers 0-255 (as the dataset's files hold them), not scaled "
            "to [0, 1] or normalised"
        )
        return torch.softmax(self.mlp(normalise(pixels.to(torch.uint8))), dim=1)


def exported(mlp: MLP, example: torch.Tensor) -> nn.Module:
    """The predictor as a torch.export program (batch size dynamic), traced from `example`
    (N >= 2 pixels of INPUT_DTYPE). Traced in strict mode, which keeps the forward's assert on
    the pixels as a runtime check; MLflow's own export is non-strict, where a data-dependent
    assert cannot be traced, and exports this program again with the check kept."""
    predictor = Predictor(mlp.cpu()).eval()
    batch = {0: torch.export.Dim.AUTO}
    program = torch.export.export(predictor, (example,), dynamic_shapes=(batch,), strict=True)
    return program.module()


def predict_proba(predictor: nn.Module, images: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """Class probabilities of raw `images` (uint8 as the files hold them), in batches, on the
    predictor's device, given as the model's input dtype."""
    device = next(predictor.parameters()).device
    with torch.inference_mode():
        return torch.cat(
            [
                predictor(images[i : i + batch].to(device, INPUT_DTYPE))
                for i in range(0, len(images), batch)
            ]
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
