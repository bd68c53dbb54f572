"""The predictor a logged model holds: raw pixels in, the trained MLP's classes out, bit for bit."""

import pytest
import torch
from torch.export import Dim, export

from pipeline.core.dataset import data
from pipeline.core.network import predictor
from pipeline.core.network.predictor import Predictor
from pipeline.core.schema.config import TrainConfig
from pipeline.stages import training


@pytest.fixture(scope="module")
def trained(tiny_data):
    splits = data.load_splits(tiny_data)
    config = TrainConfig(lr=0.02, max_epochs=2, hidden_sizes=(32, 16), batch_size=32)
    result = training.train(config, splits, progress=False)
    images, labels = data.load_test_images(splits.source)
    return result, splits, images, labels


def test_raw_test_images_are_what_training_normalised(trained):
    _, splits, images, labels = trained
    assert images.dtype == torch.uint8 and images.shape == (200, 28, 28)
    assert torch.equal(data.normalise(images), splits.test_x)
    assert torch.equal(labels, splits.test_y)
    assert torch.equal(data.example_images(splits.source), images[: data.EXAMPLE_COUNT])


def test_the_predictor_scores_what_training_logged(trained):
    result, splits, images, labels = trained
    model = Predictor(result.model).eval()
    probabilities = predictor.predict_proba(model, images)
    assert probabilities.shape == (200, 10) and probabilities.dtype == torch.float32
    assert torch.allclose(probabilities.sum(1), torch.ones(200))
    with torch.inference_mode():
        logits = result.model(splits.test_x)
    assert torch.equal(probabilities.argmax(1), logits.argmax(1))
    loss, accuracy = predictor.score(probabilities, labels)
    assert accuracy == result.test_acc
    assert loss == pytest.approx(result.test_loss, rel=1e-4)
    per_class = predictor.per_class_accuracy(probabilities, labels)
    assert list(per_class) == list(data.CLASSES)
    # The tiny test set has 20 images of each class, so overall accuracy is the classes' mean.
    assert sum(per_class.values()) / 10 == pytest.approx(result.test_acc, abs=1e-6)


def test_the_exported_predictor_keeps_a_dynamic_batch(trained):
    """Exported from an example of 4 (as log_model does, MLflow exporting it again): any N >= 1,
    the eager predictor's answers on the same pixels, as uint8 or float32."""
    result, _, images, _ = trained
    model = Predictor(result.model).eval()
    pixels = images.to(predictor.INPUT_DTYPE)
    program = predictor.exported(result.model, pixels[:4])
    again = export(program, (pixels[:4],), dynamic_shapes=[{0: Dim.AUTO}]).module()
    with torch.inference_mode():
        for count in (1, 3, 200):
            assert torch.equal(again(pixels[:count]), model(images[:count])), count
    # torch.export's shape guard: the input's second dimension must be 28, as the contract says.
    with pytest.raises(AssertionError, match=r"^Guard failed: images\.size\(\)\[1\] == 28$"):
        again(pixels.reshape(200, 784))


@pytest.mark.parametrize(
    "scale",
    [
        lambda x: x / 255,
        lambda x: (x / 255 - 0.5) / 0.5,
        lambda x: x + 0.5,
        lambda x: x + 256,
        lambda x: -x - 1,
        lambda x: x * float("nan"),
    ],
    ids=["scaled to [0, 1]", "normalised", "fractions", "above 255", "negative", "nan"],
)
def test_pixels_that_are_not_raw_are_refused_by_the_exported_program(trained, scale):
    """What the model says to a client that sent anything but raw pixels, after MLflow's own
    export of it too: the client learns what to send instead of getting a wrong answer."""
    result, _, images, _ = trained
    pixels = images[:4].to(predictor.INPUT_DTYPE)
    program = predictor.exported(result.model, pixels)
    again = export(program, (pixels,), dynamic_shapes=[{0: Dim.AUTO}]).module()
    for model in (Predictor(result.model).eval(), program, again):
        with pytest.raises(Exception, match=r"^pixels must be raw integers 0-255 "):
            model(scale(pixels))
