"""`make evaluate`: reload a logged model or checkpoint and measure it on the test set.

The model is fed what anyone calling it would feed it: the raw test images, uint8 (N, 28, 28).
A checkpoint is wrapped in the same Predictor the logged models hold.
"""

from pipeline.adapters import downloads, tracking
from pipeline.core.dataset import data
from pipeline.core.network import predictor
from pipeline.core.process.device import configure_torch, resolve_device
from pipeline.core.process.errors import PipelineError
from pipeline.core.schema.job_config import EvaluateConfig


def run(config: EvaluateConfig) -> int:
    device = resolve_device(config.device)
    configure_torch(device)
    model, what = tracking.load_predictor(config.model_uri, config.tracking_uri, device=str(device))
    source = data.locate(config.data_dir, dataset=config.dataset, download=downloads.fashion_mnist)
    images, labels = data.load_test_images(source)
    probabilities = predictor.predict_proba(model, images)
    if probabilities.shape[1] != source.num_classes:
        raise PipelineError(
            f"model {config.model_uri} answers {probabilities.shape[1]} classes but dataset "
            f"{source.name!r} has {source.num_classes}; evaluate it on the dataset it was "
            "trained on (--dataset, make evaluate DATA=...)"
        )
    test_loss, test_acc = predictor.score(probabilities, labels)
    print(f"test_acc={test_acc:.4f}")
    print(f"test_loss={test_loss:.4f}")
    print(
        f"model: {config.model_uri} ({what}); data: {data.describe_source(source)}, "
        f"{len(labels)} test images"
    )
    print(f"loaded: {tracking.provenance(config.model_uri, config.tracking_uri)}")
    width = max(12, *(len(name) + 1 for name in source.classes))
    print(f"{'class':<{width}} accuracy")
    for name, accuracy in predictor.per_class_accuracy(
        probabilities, labels, source.classes
    ).items():
        print(f"{name:<{width}} {accuracy:.4f}")
    return 0
