"""`make evaluate`: reload a logged model or checkpoint and measure it on the test set."""

from pipeline import data, tracking, train
from pipeline.config import EvaluateConfig
from pipeline.model import describe


def run(config: EvaluateConfig) -> int:
    device = train.resolve_device(config.device)
    train.configure_torch(device)
    model = tracking.load_model(config.model_uri, device=str(device))
    splits = data.load_splits(config.data_dir, device=device)
    test_loss, test_acc = train.evaluate(model, splits.test_x, splits.test_y)
    print(f"test_acc={test_acc:.4f}")
    print(f"test_loss={test_loss:.4f}")
    print(f"model: {config.model_uri} ({describe(model)}); data: {data.describe(splits)}")
    print(f"{'class':<12} accuracy")
    per_class = train.per_class_accuracy(model, splits.test_x, splits.test_y, data.CLASSES)
    for name, accuracy in per_class.items():
        print(f"{name:<12} {accuracy:.4f}")
    return 0
