"""`make data`: find, verify and load the dataset (Fashion-MNIST unless told), and say what was
found."""

from pipeline.adapters import downloads
from pipeline.core.dataset import data
from pipeline.core.schema.job_config import DataConfig


def run(config: DataConfig) -> int:
    splits = data.load_splits(
        config.data_dir, dataset=config.dataset, download=downloads.fashion_mnist
    )
    print(data.describe(splits))
    print(f"classes: {', '.join(splits.source.classes)}")
    print(f"data_digest={splits.source.digest}")
    return 0
