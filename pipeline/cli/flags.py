"""The command line's flags: argparse's names and options of each, and the groups several
commands share. Flags parse text into values (numbers, lists); the configs check them."""

import argparse
from collections.abc import Callable
from typing import Any

from pipeline.core.dataset.datasets import DEFAULT_DATASET
from pipeline.core.schema import config as cfg
from pipeline.core.schema import job_config as job_cfg
from pipeline.core.schema.fields import Config

Flag = tuple[tuple[str, ...], dict[str, Any]]  # argparse's names and options of one flag


def typed(key: str, kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type whose error names the config key: `lr must be a number, got 'x'`."""
    noun = {int: "an integer", float: "a number"}[kind]

    def parse(text: str) -> int | float:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key} must be {noun}, got {text!r}") from None

    return parse


def hidden_sizes(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(
            f"hidden_sizes must be a comma-separated list like 512,256, got {text!r}"
        )
    return tuple(int(typed("hidden_sizes", int)(part)) for part in parts)


def activations(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def flag(*names: str, **options: Any) -> Flag:
    return names, options


DATA = flag(
    "--data-dir",
    help="folder with the dataset's four IDX files (Fashion-MNIST's default: "
    "$FASHION_MNIST_DIR, data/FashionMNIST/raw, Debian's package; a named dataset's: data/NAME)",
)
DATASET = flag(
    "--dataset",
    help=f"{DEFAULT_DATASET} (default), a folder of four IDX files (a path with a '/'), or "
    "a name (its folder: --data-dir, else data/NAME)",
)
DEVICE = flag("--device", help="auto, cpu or cuda (default: auto)")
EXPERIMENT = flag("--experiment", help=f"MLflow experiment (default: {cfg.DEFAULT_EXPERIMENT})")
SET = flag(
    "--set",
    dest="overrides",
    action="append",
    metavar="KEY=VALUE",
    help="a sweep-file key for this run, its value as YAML (repeatable): --set max_epochs=1",
)
SWEEP = (
    flag("--config", dest="config_path", help=f"sweep YAML file (default: {cfg.DEFAULT_SWEEP})"),
    flag("--no-progress", dest="progress", action="store_false", help="no progress bars"),
    DATA,
    flag("--dataset", help="the dataset, over the sweep file's `dataset:` (see train --help)"),
    SET,
)
ACTIVATIONS = flag(
    "--activations",
    type=activations,
    help="comma-separated names or module:name (default: the seed's six)",
)
DIAGNOSTICS = (
    EXPERIMENT,
    flag("--figures-dir", help="also write the figures as PNGs here"),
    ACTIVATIONS,
    DATA,
    DATASET,
)
ANALYSIS = (
    *DIAGNOSTICS,
    flag("--run-id", help="analyse this training run's checkpoint"),
    flag("--model-uri", help="analyse this model (runs:/, models:/, a checkpoint directory)"),
    flag("--best", action="store_true", help="analyse each activation's registered model"),
    flag("--study", help=f"whose registered models --best reads (default {cfg.DEFAULT_STUDY})"),
)
TRAIN = (
    flag("--activation", help="registered activation name or module:name (default: relu)"),
    flag("--optimizer", help="sgd (the seed's), adam or adamw (default: sgd)"),
    flag("--lr", type=typed("lr", float), help="learning rate (> 0)"),
    flag("--momentum", type=typed("momentum", float), help="SGD's momentum (0 <= m < 1)"),
    flag("--nesterov", action=argparse.BooleanOptionalAction, help="SGD's Nesterov momentum"),
    flag("--weight-decay", type=typed("weight_decay", float), help="weight decay (>= 0)"),
    flag(
        "--lr-schedule",
        help="constant (the seed's) or cosine (decayed to near 0 by the last epoch)",
    ),
    flag("--init", help="initial weights: default (PyTorch's, the seed's), kaiming or xavier"),
    flag(
        "--precision",
        help="fp32 (the seed's) or bf16-mixed (bf16 autocast in the training step, fp32 weights)",
    ),
    flag("--batch-size", type=typed("batch_size", int), help="minibatch size"),
    flag("--epochs", dest="max_epochs", type=typed("epochs", int), help="maximum epochs"),
    flag("--patience", type=typed("patience", int), help="epochs without a better val_acc"),
    flag("--hidden-sizes", type=hidden_sizes, help="comma-separated hidden layer widths"),
    flag("--seed", type=typed("seed", int), help="seed of weights, split and order"),
    flag(
        "--threads",
        type=typed("threads", int),
        help="torch threads on a CPU (default: all cores; with --from-run, the run's)",
    ),
    flag(
        "--from-run",
        metavar="RUN_ID",
        help="train as this logged run did: its params, threads and seed (flags given override)",
    ),
    EXPERIMENT,
    DEVICE,
    DATA,
    DATASET,
)
MODEL_URIS = "runs:/<id>/model, runs:/<id>/checkpoint, models:/<name>@<alias>, or a directory"
SEED_TABLE = "also time the seed's whole table (default: on a GPU only)"


def port(config: type[Config]) -> Flag:
    """The --port flag, its help naming the config's default port."""
    default = config.model_fields["port"].default
    return flag("--port", type=typed("port", int), help=f"port to serve on (default {default})")


SERVER = (
    port(job_cfg.ServerConfig),
    flag("--host", help="interface to bind (default 127.0.0.1: this machine only)"),
    EXPERIMENT,
)
SERVE = (
    flag("--model-uri", help=f"runs:/<id>/model or models:/... (default {cfg.DEFAULT_MODEL_URI})"),
    port(job_cfg.ServeConfig),
    SERVER[1],
)
