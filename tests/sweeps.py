"""Helpers for the tests that run sweeps: tiny sweep files, running one, its study."""

from pathlib import Path

import optuna
import yaml

from pipeline.adapters import studies
from pipeline.cli.main import main
from pipeline.core.config import SweepConfig

TINY = {
    "max_epochs": 2,
    "patience": 2,
    "hidden_sizes": [32, 16],
    "batch_size": 32,
    "pruner": "none",
    "workers": 1,
}


def write_config(directory: Path, **values) -> Path:
    path = directory / f"{values.get('study', 'tiny')}.yaml"
    path.write_text(
        yaml.safe_dump(
            {"study": "tiny", "activations": ["relu", "tanh"], "lr": [0.02, 0.1], **TINY, **values}
        )
    )
    return path


def run_sweep(config: Path, data_dir: Path, *extra: str) -> int:
    return main(
        ["sweep", "--config", str(config), "--data-dir", str(data_dir), "--no-progress", *extra]
    )


def study_of(config: Path) -> optuna.Study:
    loaded = SweepConfig.load(config)
    return optuna.load_study(study_name=loaded.study, storage=studies.storage_url(loaded))


def sweep_config(directory: Path, name: str, values: dict) -> str:
    base = {"study": "tiny", "activations": ["relu"], "lr": [0.05], **TINY}
    (directory / name).write_text(yaml.safe_dump({**base, **values}))
    return name
