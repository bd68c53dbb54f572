"""`python -m pipeline STAGE ...`: the one command line the Makefile calls.

It only parses flags into a typed config (pipeline.config) and calls the stage's job. Each job
validates its input completely (flags, config, tracking store, data) before it creates anything
in MLflow, so bad input leaves nothing half-written. Errors print one line and exit 2 (usage,
config) or 1 (runtime); `--debug` shows the traceback instead.
"""

import argparse
import importlib
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from pipeline import config as cfg
from pipeline.errors import PipelineError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _typed(key: str, kind: type):
    """An argparse type whose error names the config key: `lr must be a number, got 'x'`."""
    noun = {int: "an integer", float: "a number"}[kind]

    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key} must be {noun}, got {text!r}") from None

    return parse


def _hidden_sizes(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(
            f"hidden_sizes must be a comma-separated list like 512,256, got {text!r}"
        )
    return tuple(_typed("hidden_sizes", int)(part) for part in parts)


def _activations(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def flag(*names: str, **options) -> tuple[tuple[str, ...], dict]:
    return names, options


@dataclass(frozen=True)
class Stage:
    help: str
    job: str  # "module:function", the module under pipeline.jobs
    config: type[cfg.Config]
    flags: tuple = ()


DATA = flag(
    "--data-dir",
    help="folder with the four Fashion-MNIST IDX files "
    "(default: $FASHION_MNIST_DIR, data/FashionMNIST/raw, Debian's package)",
)
DEVICE = flag("--device", help="auto, cpu or cuda (default: auto)")
EXPERIMENT = flag("--experiment", help=f"MLflow experiment (default: {cfg.DEFAULT_EXPERIMENT})")
SWEEP = (
    flag("--config", dest="config_path", help=f"sweep YAML file (default: {cfg.DEFAULT_SWEEP})"),
    flag("--no-progress", dest="progress", action="store_false", help="no progress bars"),
    DATA,
)
DIAGNOSTICS = (
    EXPERIMENT,
    flag("--figures-dir", help="also write the figures as PNGs here"),
    flag("--activations", type=_activations, help="comma-separated (default: the seed's six)"),
    DATA,
)
ANALYSIS = (
    *DIAGNOSTICS,
    flag("--run-id", help="analyse this training run's checkpoint"),
    flag("--model-uri", help="analyse this model (runs:/, models:/, a checkpoint directory)"),
    flag("--best", action="store_true", help="analyse each activation's best sweep model"),
)
TRAIN = (
    flag("--activation", help="registered activation name (default: relu)"),
    flag("--lr", type=_typed("lr", float), help="SGD learning rate (> 0)"),
    flag("--momentum", type=_typed("momentum", float), help="SGD momentum (0 <= m < 1)"),
    flag("--batch-size", type=_typed("batch_size", int), help="minibatch size"),
    flag("--epochs", dest="max_epochs", type=_typed("epochs", int), help="maximum epochs"),
    flag("--patience", type=_typed("patience", int), help="epochs without a better val_acc"),
    flag("--hidden-sizes", type=_hidden_sizes, help="comma-separated hidden layer widths"),
    flag("--seed", type=_typed("seed", int), help="seed of weights, split and order"),
    EXPERIMENT,
    DEVICE,
    DATA,
)
MODEL_URIS = "runs:/<id>/model, runs:/<id>/checkpoint, models:/<name>@<alias>, or a directory"
SEED_TABLE = "also time the seed's whole table (default: on a GPU only)"
SERVER = (
    flag("--port", type=_typed("port", int), help="port to serve on (default 5000)"),
    flag("--host", help="interface to bind (default 127.0.0.1: this machine only)"),
    EXPERIMENT,
)
SERVE = (
    flag("--model-uri", help=f"runs:/<id>/model or models:/... (default {cfg.DEFAULT_MODEL_URI})"),
    *SERVER[:2],
)
STAGES = {
    "data": Stage("find, verify and load Fashion-MNIST", "data:run", cfg.DataConfig, (DATA,)),
    "train": Stage("train one MLP, tracked in MLflow", "train:run", cfg.TrainJobConfig, TRAIN),
    "evaluate": Stage(
        "reload a logged model; print test accuracy per class",
        "evaluate:run",
        cfg.EvaluateConfig,
        (flag("--model-uri", required=True, help=MODEL_URIS), DEVICE, DATA),
    ),
    "curves": Stage(
        "each activation and its derivative (seed's Fig. 2)",
        "diagnostics:run_curves",
        cfg.DiagnosticsConfig,
        DIAGNOSTICS[:2],
    ),
    "probe": Stage(
        "weight gradients at initialisation (seed's Fig. 3)",
        "diagnostics:run_probe",
        cfg.DiagnosticsConfig,
        DIAGNOSTICS,
    ),
    "analyze": Stage(
        "layer outputs of trained models (seed's Fig. 4)",
        "diagnostics:run_analyze",
        cfg.DiagnosticsConfig,
        ANALYSIS,
    ),
    "figures": Stage(
        "curves, probe and analyze; PNGs to reports/figures",
        "diagnostics:run_figures",
        cfg.DiagnosticsConfig,
        ANALYSIS,
    ),
    "sweep": Stage(
        "the study: Optuna over activations x learning rates",
        "sweep:run",
        cfg.SweepJobConfig,
        (*SWEEP, flag("--workers", type=_typed("workers", int), help="worker processes")),
    ),
    "worker": Stage(
        "join a prepared sweep and run its queued trials",
        "worker:run",
        cfg.SweepJobConfig,
        (*SWEEP, flag("--threads", type=_typed("threads", int), help="torch threads")),
    ),
    "report": Stage(
        "the results table, from MLflow", "sweep:run_report", cfg.SweepJobConfig, SWEEP
    ),
    "confirm": Stage(
        "retrain each activation's best config with more seeds",
        "sweep:run_confirm",
        cfg.SweepJobConfig,
        (*SWEEP, flag("--seeds", type=_typed("seeds", int), help="further seeds (default 3)")),
    ),
    "bench": Stage(
        "time the training stage against its references",
        "bench:run",
        cfg.BenchConfig,
        (
            flag("--rounds", type=_typed("rounds", int), help="measured rounds (default 4)"),
            flag("--out", help="folder for bench.md and bench.json (default: reports)"),
            flag("--seed-table", action=argparse.BooleanOptionalAction, help=SEED_TABLE),
            DEVICE,
            DATA,
        ),
    ),
    "ui": Stage("the MLflow UI on the project's store", "ui:run", cfg.ServerConfig, SERVER),
    "serve": Stage("a model's MLflow scoring server", "serve:run", cfg.ServeConfig, SERVE),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", parser_class=_Parser)
    stages.required = True
    for name, stage in STAGES.items():
        sub = stages.add_parser(name, help=stage.help, argument_default=argparse.SUPPRESS)
        sub.add_argument("--debug", action="store_true", help="show tracebacks on errors")
        for names, options in stage.flags:
            sub.add_argument(*names, **options)
    return parser


def make_config(stage: str, values: dict):
    """The stage's typed config from its flags (flags not given keep the config's defaults)."""
    config_class = STAGES[stage].config
    values.pop("debug", None)
    if config_class is cfg.SweepJobConfig:
        values["config_path"] = Path(values.get("config_path", cfg.DEFAULT_SWEEP))
        values["sweep"] = cfg.SweepConfig.load(values["config_path"])
    if config_class is cfg.TrainJobConfig:
        keys = [key for key in values if key in cfg.TrainConfig.model_fields]
        values["train"] = cfg.TrainConfig(**{key: values.pop(key) for key in keys})
    return config_class(**values)


def run_stage(stage: str, config: cfg.Config) -> int:
    """Import the stage's job only now: `--help` and bad flags answer without loading torch."""
    module, function = STAGES[stage].job.split(":")
    return getattr(importlib.import_module(f"pipeline.jobs.{module}"), function)(config)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # `kill PID` stops as cleanly as Ctrl-C: runs marked, trials told


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    debug = "--debug" in argv or os.environ.get("PIPELINE_DEBUG") == "1"
    try:
        args = vars(build_parser().parse_args(argv))
        stage = args.pop("stage")
        return run_stage(stage, make_config(stage, args))
    except PipelineError as error:
        if debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # output piped into `head`: not an error of ours
        return 0
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(
            "interrupted: the trial or run in progress is marked as interrupted (MLflow "
            "KILLED); rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
