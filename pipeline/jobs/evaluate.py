"""`make evaluate`: reload a logged model or checkpoint and measure it on the test set.

The model is fed what anyone calling it would feed it: the raw test images, uint8 (N, 28, 28).
A checkpoint is wrapped in the same Predictor the logged models hold.
"""

from pipeline.adapters import tracking
from pipeline.core import data, predictor
from pipeline.core.config import EvaluateConfig
from pipeline.core.device import configure_torch, resolve_device


def run(config: EvaluateConfig) -> int:
    device = resolve_device(config.device)
    configure_torch(device)
    model, what = tracking.load_predictor(config.model_uri, config.tracking_uri, device=str(device))
    source = data.locate(config.data_dir)
    images, labels = data.load_test_images(source)
    probabilities = predictor.predict_proba(model, images)
    test_loss, test_acc = predictor.score(probabilities, labels)
    print(f"test_acc={test_acc:.4f}")
    print(f"test_loss={test_loss:.4f}")
    print(
        f"model: {config.model_uri} ({what}); data: Fashion-MNIST ({source.label}, sha256 "
        f"{source.digest[:12]}), {len(labels)} test images"
    )
    print(f"{'class':<12} accuracy")
    for name, accuracy in predictor.per_class_accuracy(probabilities, labels).items():
        print(f"{name:<12} {accuracy:.4f}")
    return 0
