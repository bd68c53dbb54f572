"""`python -m pipeline STAGE ...`: the one command line the Makefile calls.

It only parses flags into a typed config (pipeline.core.schema.job_config) and calls the
stage's job.
Each job validates its input completely (flags, config, tracking store, data) before it creates
anything in MLflow, so bad input leaves nothing half-written. Errors print one line and exit 2
(usage, config) or 1 (runtime); `--debug` shows the traceback instead.
"""

import argparse
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from pipeline.cli.commands import STAGES
from pipeline.core.dataset.datasets import DEFAULT_DATASET, is_fashion_mnist
from pipeline.core.process import interrupts
from pipeline.core.process.environment import Settings, read_settings
from pipeline.core.process.errors import PipelineError, UsageError
from pipeline.core.schema import config as cfg
from pipeline.core.schema import job_config as job_cfg
from pipeline.core.schema import sweep_config as sweep_cfg
from pipeline.core.schema.fields import Config, did_you_mean


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2, naming the nearest flag of any
    stage where one is misspelled."""

    flags: ClassVar[set[str]] = set()

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        _Parser.flags.update(action.option_strings)
        return action

    def error(self, message: str) -> NoReturn:
        hint = ""
        if message.startswith("unrecognized arguments: "):
            given = message.removeprefix("unrecognized arguments: ").split()[0].split("=")[0]
            hint = did_you_mean(given, sorted(_Parser.flags)) if given.startswith("--") else ""
        raise UsageError(f"{self.prog}: {message}{hint} (see --help)")


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


def make_config(stage: str, values: dict[str, Any], settings: Settings | None = None) -> Config:
    """The stage's typed config from its flags and the environment's settings (what neither
    gives keeps the config's default; a flag wins over the environment)."""
    config_class: type[Config] = STAGES[stage].config
    settings = settings or Settings()
    values.pop("debug", None)
    if settings.tracking_uri:
        values["tracking_uri"] = settings.tracking_uri
    values["cuda_graphs"] = settings.cuda_graphs
    dataset, file_data_dir = values.get("dataset", DEFAULT_DATASET), None
    if "sweep" in config_class.model_fields:
        values["config_path"] = Path(values.get("config_path", cfg.DEFAULT_SWEEP))
        overrides = tuple(values.pop("overrides", None) or ())
        if "overrides" in config_class.model_fields:  # recorded, and passed on to workers
            values["overrides"] = overrides
        sweep = sweep_cfg.SweepConfig.load(values["config_path"], overrides)
        if settings.study_storage:  # the environment's storage wins over the file's
            sweep = sweep.replace(storage=settings.study_storage)
        if "dataset" in values:  # the flag wins over the file's
            sweep = sweep.replace(train=sweep.train.replace(dataset=values.pop("dataset")))
        values["sweep"] = sweep
        dataset, file_data_dir = sweep.train.dataset, sweep.data_dir
    if config_class is job_cfg.TrainJobConfig:
        keys = [key for key in values if key in cfg.TrainConfig.model_fields]
        values["train"] = train = cfg.TrainConfig(**{key: values.pop(key) for key in keys})
        for key in sorted(set(keys) & set(train.unused_keys())):  # never dropped in silence
            raise UsageError(
                f"--{key} is a setting of SGD alone, and the optimizer is {train.optimizer}; "
                f"drop --{key}, or train with --optimizer sgd"
            )
    if values.get("data_dir") is None:
        values["data_dir"] = _data_dir(dataset, settings, file_data_dir)
    return config_class(**values)


def _data_dir(dataset: str, settings: Settings, file_data_dir: str | None) -> str | None:
    """Where no --data-dir is given: FASHION_MNIST_DIR, for Fashion-MNIST only, over the sweep
    file's `data_dir` (the environment says where this machine keeps it)."""
    from_environment = settings.data_dir if is_fashion_mnist(dataset) else None
    return from_environment or file_data_dir


def run_stage(stage: str, config: Config) -> int:
    """Import the stage's job only now: `--help` and bad flags answer without loading torch,
    MLflow or Optuna. The libraries' settings for this process are made first, once, here."""
    _configure_libraries()
    return STAGES[stage].run(config)


def _configure_libraries() -> None:
    """MLflow's and Optuna's settings for this process (quiet logs, system-metrics sampling).
    A GPU image without them still runs `make bench`, untracked."""
    try:
        from pipeline.adapters import tracking
    except ImportError:
        pass
    else:
        tracking.configure_process()
    try:
        from pipeline.adapters import studies
    except ImportError:
        pass
    else:
        studies.configure_logging()


def printable(message: str) -> str:
    """The message as one line: what it quotes of a person's input (a path, a value) may hold a
    newline or another control character, shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        interrupts.install()  # `kill PID` stops as cleanly as Ctrl-C: runs marked, trials told
    settings = read_settings()
    debug = "--debug" in argv or settings.debug
    try:
        args = vars(build_parser().parse_args(argv))
        stage = args.pop("stage")
        return run_stage(stage, make_config(stage, args, settings))
    except PipelineError as error:
        if debug:
            traceback.print_exc()
        print(f"error: {printable(str(error))}", file=sys.stderr)
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
