"""A worker's loop: claim queued trials of a prepared study (grid points, then replicates) and
train them, alone or stacked, each as its own nested MLflow run, and tell Optuna how each
ended."""

import contextlib
import math
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from pipeline.adapters import studies
from pipeline.core.dataset import data
from pipeline.core.process import interrupts
from pipeline.core.process.device import configure_torch, resolve_device
from pipeline.core.process.errors import PipelineError
from pipeline.core.schema import limits, objectives
from pipeline.core.schema.config import CPU_STACK, TrainConfig
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import Phase, StopReason, Tag, TrialEnd
from pipeline.stages import training
from pipeline.workflows.sweep import Sweep, SweepBar, check_same_data
from pipeline.workflows.tracked_training import TrainingRun, training_run


@dataclass
class TrialOutcome:
    number: int
    activation: str
    lr: float
    state: TrialEnd
    value: float | None
    reason: str
    train_time_s: float
    at_chance: bool = False  # it learned nothing (best val_acc at chance level)
    phase: Phase = Phase.GRID
    seed: int | None = None
    run_id: str | None = None  # its MLflow run


def _trial_state(result: training.TrainResult) -> tuple[TrialEnd, str]:
    if result.stop_reason == StopReason.DIVERGED:
        return TrialEnd.PRUNED, StopReason.DIVERGED
    if result.stop_reason == StopReason.PRUNED:
        return TrialEnd.PRUNED, f"{StopReason.PRUNED} at epoch {result.history[-1].epoch}"
    return TrialEnd.COMPLETE, result.stop_reason


class TrialObserver(training.Observer):
    """Each epoch goes to the trial's MLflow run and to Optuna, whose pruner answers."""

    def __init__(
        self, study: studies.Study, runs: list[TrainingRun], trials: list[studies.ClaimedTrial]
    ):
        self.study, self.runs, self.trials = study, runs, trials

    def report(self, trial: int, metrics: training.EpochMetrics) -> None:
        self.runs[trial].log_epoch(metrics)
        if self.prunable:  # the first objective, what the pruner judges
            value = getattr(metrics, self.study.config.objective[0])
            studies.outlasting(
                self.study, self.study.report, self.trials[trial], value, metrics.epoch
            )

    def should_prune(self, trial: int) -> bool:
        return self.prunable and studies.outlasting(
            self.study, self.study.should_prune, self.trials[trial]
        )

    @property
    def prunable(self) -> bool:
        """Optuna takes epochs' values, and prunes, in a single-objective study alone."""
        return len(self.study.config.objective) == 1


def run_trials(
    sweep: Sweep,
    trials: list[studies.ClaimedTrial],
    splits: data.Splits,
    settings: dict[str, str],
) -> list[TrialOutcome]:
    """Train claimed trials, each as its own nested MLflow run: one alone, several at once as
    one stacked network (a claim stacks only trials of one seed and budget). `splits` is the
    split of their seed. Tell Optuna how each ended (FAIL for all on any error, Ctrl-C
    included, which then propagates)."""
    try:
        results = _train_tracked(sweep, trials, splits, settings)
    except studies.TrialTakenOver as error:  # retried elsewhere: this worker goes on
        _fail(sweep, trials, f"error: {error}")
        print(f"warning: {error}", file=sys.stderr)
        return []
    except BaseException as error:
        _fail(
            sweep,
            trials,
            StopReason.INTERRUPTED if isinstance(error, KeyboardInterrupt) else f"error: {error}",
        )
        raise
    return [_tell(sweep, trial, result) for trial, result in zip(trials, results, strict=True)]


def _train_tracked(
    sweep: Sweep,
    trials: list[studies.ClaimedTrial],
    splits: data.Splits,
    settings: dict[str, str],
) -> list[training.TrainResult]:
    """The trials' runs opened, their models trained (alone or stacked), their results logged."""
    job, configs = sweep.config, [trial.config for trial in trials]
    with contextlib.ExitStack() as scopes:
        runs = [
            scopes.enter_context(_trial_run(sweep, trial, splits, settings, len(trials)))
            for trial in trials
        ]
        observer = TrialObserver(sweep.study, runs, trials)
        options = {"progress": job.progress, "cuda_graphs": job.cuda_graphs}
        if len(trials) == 1:
            results = [training.train(configs[0], splits, observer, **options)]
        else:
            results = training.train_stacked(configs, splits, observer, **options)
        for run, result in zip(runs, results, strict=True):
            run.log_result(result)
            sweep.tracker.set_tags(run.run_id, {Tag.TRIAL_STATE: _trial_state(result)[0]})
    return results


def _fail(sweep: Sweep, trials: list[studies.ClaimedTrial], why: str) -> None:
    """Tell Optuna and MLflow the trials failed. A storage that stays away cannot be told, nor
    a trial already failed by a reaper: the heartbeat fails the first later."""
    for trial in trials:
        run_id = sweep.study.run_id(trial)  # what this process recorded, before it is told
        with contextlib.suppress(PipelineError):
            studies.outlasting(sweep.study, sweep.study.tell, trial, TrialEnd.FAIL, reason=why)
        _mark_failed(sweep, run_id, why)


def _tell(sweep: Sweep, trial: studies.ClaimedTrial, result: training.TrainResult) -> TrialOutcome:
    """Optuna learns how the trial ended; the worker prints it."""
    state, reason = _trial_state(result)
    study, config = sweep.study, trial.config
    final = result.final_metrics()
    values = [final.get(objectives.metric(name), math.nan) for name in study.config.objective]
    run_id = study.run_id(trial)  # what this process recorded, before it is told
    studies.outlasting(
        study, study.tell, trial, state, values, reason=reason, at_chance=result.at_chance
    )
    value = result.best_val_acc if result.best_epoch else None
    return TrialOutcome(
        trial.number,
        config.activation,
        config.lr,
        state,
        value,
        reason,
        result.train_time_s,
        result.at_chance,
        trial.phase,
        None if trial.phase == Phase.GRID else config.seed,
        run_id,
    )


def _mark_failed(sweep: Sweep, run_id: str | None, why: str) -> None:
    """The failed trial's run (closed KILLED or FAILED) says so in the UI's trial_state column.
    Best effort: the error that stopped the trial may be MLflow's own, and it is the one to
    report."""
    if run_id:
        with contextlib.suppress(Exception):
            sweep.tracker.set_tags(run_id, {Tag.TRIAL_STATE: TrialEnd.FAIL, Tag.STOP_REASON: why})


def run_name(config: TrainConfig, phase: Phase, swept: tuple[str, ...] = ()) -> str:
    """A grid trial is named as `make train` names a run, with the other settings the sweep
    varies that its optimizer has (`train-relu-lr0.01-batch_size32`); a replicate also by its
    seed."""
    left_out = ("lr", "seed" if phase != Phase.GRID else "", *config.unused_keys())
    keys = [key for key in swept if key not in left_out]
    extra = "".join(f"-{key}{_shown(getattr(config, key))}" for key in keys)
    if phase == Phase.GRID:
        return config.run_name + extra
    return f"{phase}-{config.activation}-lr{config.lr:g}{extra}-seed{config.seed}"


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


@contextlib.contextmanager
def _trial_run(
    sweep: Sweep,
    trial: studies.ClaimedTrial,
    splits: data.Splits,
    settings: dict[str, str],
    stack_size: int,
) -> Iterator[TrainingRun]:
    """The trial's nested MLflow run (tag `phase`), its id recorded on the Optuna trial."""
    study, phase, config = sweep.config.sweep.study, trial.phase, trial.config
    tags: dict[str, str] = {
        Tag.SWEEP: study,
        Tag.TRIAL: str(trial.number),
        Tag.STACK_SIZE: str(stack_size),
    }
    with training_run(
        sweep.tracker,
        config,
        splits,
        settings,
        name=run_name(config, phase, sweep.config.sweep.swept_keys),
        parent_run_id=sweep.parent_run_id,
        tags={**tags, Tag.PHASE: phase},
        description=f"Trial {trial.number} of sweep {study} ({phase}).",
    ) as tracked:
        studies.outlasting(sweep.study, sweep.study.set_run_id, trial, tracked.run_id)
        # Which process runs it (host:pid): whose log to read, or which process to stop.
        worker = f"{socket.gethostname()}:{os.getpid()}"
        studies.outlasting(sweep.study, sweep.study.set_worker, trial, worker)
        yield tracked


def work(
    sweep: Sweep, poll_s: float = 1.0, source: data.DataSource | None = None
) -> list[TrialOutcome]:
    """One worker: claim queued trials until none is queued or running anywhere, or until a
    drain is asked for (it ends the trials it holds first). A `source` already verified by the
    caller is loaded without finding and hashing it again."""
    job, config = sweep.config, sweep.config.sweep
    device = resolve_device(config.train.device)
    settings = configure_torch(device, job.threads)
    splits = SeededSplits(job.data_dir, config.train, device, source)
    check_same_data(sweep.study, splits.of(config.train.seed).source.digest, "this worker's")
    me = studies.this_process(studies.WORKER, int(settings.get("threads", 0)))
    with studies.watch(sweep.study, me) as watch:
        if device.type == "cpu":
            warn_oversubscribed(studies.host_threads(sweep.study, me), me.host)
        return _claim_and_train(sweep, watch, splits, settings, poll_s)


def warn_oversubscribed(threads: int, host: str) -> None:
    """One line where this host's workers would run more torch threads than it has cores."""
    cores = os.cpu_count() or 1
    if threads > cores:
        print(
            f"warning: the workers on {host} would run {threads} torch threads on {cores} "
            f"cores, each slowing the others; give each worker a share: make worker "
            f"THREADS=N (workers x N <= {cores}), or WORKERS=N to split the cores",
            file=sys.stderr,
            flush=True,
        )


def _claim_and_train(
    sweep: Sweep,
    watch: studies.Watch,
    splits: "SeededSplits",
    settings: dict[str, str],
    poll_s: float,
) -> list[TrialOutcome]:
    config = sweep.config.sweep
    device = resolve_device(config.train.device)
    outcomes: list[TrialOutcome] = []
    with SweepBar(sweep, f"sweep {config.study}") as bar:
        while not interrupts.draining():
            interrupts.check()
            if sweep.out_of_time():  # the file's time budget: what finished stays, the rest waits
                break
            sizes = stack_size(config, device), replicate_stack_size(config, device)
            trials = studies.claim(sweep.study, *sizes)
            if not trials:
                if not sweep.study.has_heartbeat or studies.idle(sweep.study):
                    break
                # Another worker's trial may still fail and be queued again, or finish the grid;
                # the watch may have failed a stale one since the claim: its retry is queued.
                time.sleep(poll_s)
                continue
            seed = trials[0].seed
            watch.set_state(studies.TRAINING)
            with studies.heartbeat(sweep.study, *trials):
                outcomes += run_trials(sweep, trials, splits.of(seed), settings)
            watch.set_state(studies.WAITING)
            bar.update_from(sweep.study)
    return outcomes


class SeededSplits:
    """The data split of one seed at a time: the grid's, then each replicate seed's (a seed
    picks the validation split as in `make train --seed`). One is held: each is the whole
    set on the device. Found and verified once."""

    def __init__(
        self,
        data_dir: str | None,
        train: TrainConfig,
        device: torch.device,
        source: data.DataSource | None,
    ):
        self.data_dir, self.device = data_dir, device
        self.dataset, self.val_fraction = train.dataset, train.val_fraction
        self.source = source
        self.seed: int | None = None
        self.splits: data.Splits | None = None

    def of(self, seed: int) -> data.Splits:
        if self.splits is None or seed != self.seed:
            self.splits = None  # let the old split go before the new one is made
            self.splits = splits = data.load_splits(
                self.data_dir,
                dataset=self.dataset,
                val_fraction=self.val_fraction,
                seed=seed,
                device=self.device,
                source=self.source,
            )
            self.source, self.seed = splits.source, seed
        return self.splits


def stack_size(config: SweepConfig, device: torch.device) -> int:
    """Trials a worker trains at once: the config's `stack`, else the whole grid on a GPU (one
    trial leaves it launch-bound), as much of it as fits the memory limit, and CPU_STACK on a
    CPU (measured by make bench)."""
    if config.stack is not None:
        return config.stack
    if config.learnable_activations:  # the stacked engine cannot train their parameters
        return 1
    if device.type != "cuda":
        return CPU_STACK
    return _fitting(config, config.trial_count)


def _fitting(config: SweepConfig, count: int) -> int:
    """`count`, or as many trials as fit the memory limit stacked."""
    train = config.largest_train
    per_trial = limits.training_bytes(
        train.parameter_count, train.hidden_sizes, train.batch_size, train.optimizer
    )
    return max(1, min(count, limits.MEMORY_LIMIT_BYTES // per_trial))


def replicate_stack_size(config: SweepConfig, device: torch.device) -> int:
    """Replicates a worker trains at once: as grid trials on a GPU or where `stack` says, else
    one seed's activations (queued together, they share their batches and budget and end
    together) on a CPU, where a stack of the six seed activations trained 1.1x the
    trial-epochs per second of one at a time (docs/performance.md)."""
    if config.stack is not None or config.learnable_activations or device.type == "cuda":
        return stack_size(config, device)
    return _fitting(config, len(config.activations))


def worker_count(config: SweepConfig, device: torch.device, asked: int) -> int:
    """At most one worker per stack the grid fills: on a GPU the default stack holds the whole
    grid, and a second process would only split it (CUDA time-slices between processes)."""
    stacks = math.ceil(config.trial_count / stack_size(config, device))
    return min(asked, stacks)
