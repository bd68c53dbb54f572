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
    "replicate_seeds": 0,  # the tests of the replicate phase ask for it
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


def run_row(lr, val_acc, train_acc, state="COMPLETE", phase="grid", seed=42, activation="relu"):
    """One run as `tracking.sweep_runs` gives it."""
    return {
        "run_id": f"run-{activation}-{lr}-{seed}",
        "stage": "train",
        "phase": phase,
        "activation": activation,
        "lr": lr,
        "seed": seed,
        "max_epochs": 13 if phase == "grid" else 30,
        "status": "FINISHED",
        "state": state,
        "stop_reason": "patience",
        "at_chance": False,
        "best_val_acc": val_acc,
        "best_epoch": 3.0 if phase == "grid" else 20.0 + seed - 43,
        "test_acc": val_acc - 0.01,
        "train_time_s": 10.0,
        "time_to_best_s": 6.0,
        "train_acc_at_best": train_acc,
    }
