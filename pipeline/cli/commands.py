"""The command line's commands: a row per subcommand, naming its help, its job, the config
class the job takes and its flags.

Each job is reached through a small function that imports its module when the command runs, so
`--help` and a bad flag answer without loading torch, MLflow or Optuna; being plain imports, the
edges from a command to its job are ones the type checker and the import-graph test follow.
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pipeline.cli.flags import (
    ANALYSIS,
    DATA,
    DATASET,
    DEVICE,
    DIAGNOSTICS,
    MODEL_URIS,
    SEED_TABLE,
    SERVE,
    SERVER,
    SET,
    SWEEP,
    TRAIN,
    Flag,
    activations,
    flag,
    port,
    typed,
)
from pipeline.core.schema import job_config as job_cfg
from pipeline.core.schema.fields import Config

C = TypeVar("C", bound=Config)
Job = Callable[[C], int]  # a job: its config in, the exit code out


@dataclass(frozen=True)
class Stage(Generic[C]):
    """A command: its help, its job, the config class the job takes, and its flags."""

    help: str
    load_job: Callable[[], Job[C]]  # imports the job's module, only when the command runs
    config: type[C]
    flags: tuple[Flag, ...] = ()

    def run(self, config: C) -> int:
        """The job on a config of this stage's class (make_config builds it from `config`)."""
        return self.load_job()(config)


def command(
    help: str, load_job: Callable[[], Job[C]], config: type[C], flags: tuple[Flag, ...] = ()
) -> Stage[Any]:
    """A row of the table. Built here, where the type checker still sees that the job takes
    the config class; in the table, a stage of any config class, it no longer could."""
    return Stage(help, load_job, config, flags)


def _data() -> Job[job_cfg.DataConfig]:
    from pipeline.jobs import data

    return data.run


def _train() -> Job[job_cfg.TrainJobConfig]:
    from pipeline.jobs import train

    return train.run


def _evaluate() -> Job[job_cfg.EvaluateConfig]:
    from pipeline.jobs import evaluate

    return evaluate.run


def _curves() -> Job[job_cfg.DiagnosticsConfig]:
    from pipeline.jobs import curves

    return curves.run


def _probe() -> Job[job_cfg.DiagnosticsConfig]:
    from pipeline.jobs import probe

    return probe.run


def _analyze() -> Job[job_cfg.DiagnosticsConfig]:
    from pipeline.jobs import analyze

    return analyze.run


def _figures() -> Job[job_cfg.DiagnosticsConfig]:
    from pipeline.jobs import figures

    return figures.run


def _sweep() -> Job[job_cfg.SweepJobConfig]:
    from pipeline.jobs import sweep

    return sweep.run


def _worker() -> Job[job_cfg.SweepJobConfig]:
    from pipeline.jobs import worker

    return worker.run


def _status() -> Job[job_cfg.SweepJobConfig]:
    from pipeline.jobs import status

    return status.run


def _drain() -> Job[job_cfg.SweepJobConfig]:
    from pipeline.jobs import drain

    return drain.run


def _report() -> Job[job_cfg.SweepJobConfig]:
    from pipeline.jobs import report

    return report.run


def _confirm() -> Job[job_cfg.SweepJobConfig]:
    from pipeline.jobs import confirm

    return confirm.run


def _bench() -> Job[job_cfg.BenchConfig]:
    from pipeline.jobs import bench

    return bench.run


def _promote() -> Job[job_cfg.PromoteConfig]:
    from pipeline.jobs import promote

    return promote.run


def _ui() -> Job[job_cfg.ServerConfig]:
    from pipeline.jobs import ui

    return ui.run


def _serve() -> Job[job_cfg.ServeConfig]:
    from pipeline.jobs import serve

    return serve.run


def _dashboard() -> Job[job_cfg.DashboardConfig]:
    from pipeline.jobs import dashboard

    return dashboard.run


STAGES: dict[str, Stage[Any]] = {
    "data": command(
        "find, verify and load the dataset", _data, job_cfg.DataConfig, (DATA, DATASET)
    ),
    "train": command("train one MLP, tracked in MLflow", _train, job_cfg.TrainJobConfig, TRAIN),
    "evaluate": command(
        "reload a logged model; print test accuracy per class",
        _evaluate,
        job_cfg.EvaluateConfig,
        (
            flag("--model-uri", required=True, help=MODEL_URIS),
            DEVICE,
            DATA,
            DATASET,
        ),
    ),
    "curves": command(
        "each activation and its derivative (seed's Fig. 2)",
        _curves,
        job_cfg.DiagnosticsConfig,
        (
            *DIAGNOSTICS[:2],
            flag("--activations", type=activations, help="module:name ones to draw as well"),
        ),
    ),
    "probe": command(
        "weight gradients at initialisation (seed's Fig. 3)",
        _probe,
        job_cfg.DiagnosticsConfig,
        DIAGNOSTICS,
    ),
    "analyze": command(
        "layer outputs of trained models (seed's Fig. 4)",
        _analyze,
        job_cfg.DiagnosticsConfig,
        ANALYSIS,
    ),
    "figures": command(
        "curves, probe and analyze; PNGs to reports/figures",
        _figures,
        job_cfg.DiagnosticsConfig,
        ANALYSIS,
    ),
    "sweep": command(
        "the study: Optuna over activations x learning rates",
        _sweep,
        job_cfg.SweepJobConfig,
        (
            *SWEEP,
            flag("--workers", type=typed("workers", int), help="worker processes"),
            flag(
                "--dry-run",
                action="store_true",
                help="print the plan and an estimate of its time, writing nothing",
            ),
        ),
    ),
    "worker": command(
        "join a prepared sweep and run its queued trials",
        _worker,
        job_cfg.SweepJobConfig,
        (
            *SWEEP,
            flag(
                "--threads",
                type=typed("threads", int),
                help="torch threads of each worker (default: all cores, shared among --workers)",
            ),
            flag("--workers", type=typed("workers", int), help="worker processes on this host"),
        ),
    ),
    "status": command(
        "a study's live workers, their trials and its queue",
        _status,
        job_cfg.SweepJobConfig,
        (SWEEP[0], SET),
    ),
    "drain": command(
        "this host's workers end their trials, then exit",
        _drain,
        job_cfg.SweepJobConfig,
        (SWEEP[0], SET),
    ),
    "report": command("the results table, from MLflow", _report, job_cfg.SweepJobConfig, SWEEP),
    "confirm": command(
        "more replicate seeds for each activation's best lr",
        _confirm,
        job_cfg.SweepJobConfig,
        (
            *SWEEP,
            flag(
                "--seeds",
                type=typed("seeds", int),
                help="replicate seeds per activation in all (default: the sweep file's)",
            ),
            flag("--workers", type=typed("workers", int), help="worker processes"),
        ),
    ),
    "bench": command(
        "time the training stage against its references",
        _bench,
        job_cfg.BenchConfig,
        (
            flag("--rounds", type=typed("rounds", int), help="measured rounds (default 5)"),
            flag("--out", help="folder for bench.md and bench.json (default: reports)"),
            flag("--seed-table", action=argparse.BooleanOptionalAction, help=SEED_TABLE),
            DEVICE,
            DATA,
        ),
    ),
    "promote": command(
        "put a study's registered model on another name's alias",
        _promote,
        job_cfg.PromoteConfig,
        (
            flag("--model-uri", required=True, help="models:/<name>@<alias> or /<version>"),
            flag("--to", required=True, help="<registered model>@<alias> to put it on"),
            flag("--reason", required=True, help="why, in one line (recorded on the version)"),
        ),
    ),
    "ui": command("the MLflow UI on the project's store", _ui, job_cfg.ServerConfig, SERVER),
    "serve": command("a model's MLflow scoring server", _serve, job_cfg.ServeConfig, SERVE),
    "dashboard": command(
        "optuna-dashboard on a sweep's study, to watch it live",
        _dashboard,
        job_cfg.DashboardConfig,
        (
            SWEEP[0],
            port(job_cfg.DashboardConfig),
            SERVER[1],
        ),
    ),
}
