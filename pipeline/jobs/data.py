"""`make data`: find, verify and load the dataset (Fashion-MNIST unless told), and say what was
found."""

from pipeline.core import data
from pipeline.core.job_config import DataConfig


def run(config: DataConfig) -> int:
    splits = data.load_splits(config.data_dir, dataset=config.dataset)
    print(data.describe(splits))
    print(f"classes: {', '.join(splits.source.classes)}")
    print(f"data_digest={splits.source.digest}")
    return 0
