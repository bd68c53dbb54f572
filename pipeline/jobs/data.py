"""`make data`: find, verify and load Fashion-MNIST, and say what was found."""

from pipeline.core import data
from pipeline.core.config import JobConfig


def run(config: JobConfig) -> int:
    splits = data.load_splits(config.data_dir)
    print(data.describe(splits))
    print(f"classes: {', '.join(data.CLASSES)}")
    print(f"data_digest={splits.source.digest}")
    return 0
