"""A sweep's life in both stores: open or prepare its study (the MLflow parent run and the
queue), check that it still meets its stores, data and settings, and finish it (register each
activation's best model, publish the study's report). Each trial, of the grid or a replicate,
is a training run nested under the parent run; a trial whose worker died has its orphaned
MLflow run closed as KILLED with a tag saying why.
"""

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from pipeline.adapters import studies, tracking
from pipeline.core.dataset import data
from pipeline.core.dataset.datasets import dataset_name, display_name
from pipeline.core.process.errors import PipelineError
from pipeline.core.process.urls import label, redact
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.core.schema.settings_changes import changed_settings, describe_changes
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import Tag, TrialEnd
from pipeline.workflows import registration

if TYPE_CHECKING:
    from pipeline.stages.study_report import Report

# Study attributes: the sweep's MLflow parent run, the store it was made in, and the settings
# its trials were trained with (JSON of SweepConfig.recorded_settings()).
PARENT_RUN, STORE, SETTINGS = "mlflow_parent_run_id", "mlflow_tracking_uri", "settings"


@dataclass
class Sweep:
    config: SweepJobConfig
    study: studies.Study
    tracker: tracking.Tracker
    started: float = field(default_factory=time.monotonic)  # the time budget counts from here

    @property
    def parent_run_id(self) -> str:
        run_id = self.study.attr(PARENT_RUN)
        assert run_id is not None  # open_sweep records it when it makes the study
        return run_id

    def out_of_time(self) -> bool:
        """Whether the sweep file's `timeout` has passed since this process opened the sweep."""
        timeout = self.config.sweep.timeout
        return timeout is not None and time.monotonic() - self.started >= timeout


def _orphan_closer(experiment: str, tracking_uri: str) -> studies.OnOrphan:
    def close(run_id: str | None, why: str) -> None:
        # The tracker is made here, when needed: the storage opens before MLflow is written to.
        tracker = tracking.Tracker(experiment, tracking_uri)
        if run_id and tracker.run_status(run_id) == "RUNNING":
            tracker.set_tags(
                run_id, {Tag.STOP_REASON: f"orphaned: {why}", Tag.TRIAL_STATE: TrialEnd.FAIL}
            )
            tracker.end_run(run_id, "KILLED")

    return close


def open_sweep(job: SweepJobConfig, create: bool, data_digest: str | None = None) -> Sweep:
    """Connect to the study (creating it, its MLflow parent run and its queue when `create`).

    Both stores are checked before either is written: a tracking server that does not answer, a
    storage that cannot be reached, (for a worker) a study that does not exist yet, a study
    whose parent run is not in this MLflow store, or one made with other training settings is
    one error, and nothing is left behind in MLflow or the storage.
    """
    config = job.sweep
    studies.storage_kind(studies.storage_url(config))
    tracking.check_tracking_uri(tracking.resolve_uri(job.tracking_uri), create=False)
    tracking.check_experiment(config.experiment, job.tracking_uri)
    close_orphan = _orphan_closer(config.experiment, job.tracking_uri)
    # Creation holds the study's lock: two processes creating the same new SQLite database at
    # once fail (MLflow's and Optuna's alike), and two preparations would queue the grid twice.
    url = studies.storage_url(config)
    with studies.study_lock(url, config.study) if create else contextlib.nullcontext():
        study = studies.Study(config, create, close_orphan)
        if not create and study.attr(PARENT_RUN) is None:
            raise PipelineError(
                f"study {config.study!r} is not prepared (it has no MLflow parent run yet); "
                "`make sweep SWEEP=<config>` prepares it: start workers once it has"
            )
        check_same_store(study, job)
        check_trial_runs_kept(job, _delete(study))
        with contextlib.nullcontext() if create else study.lock():  # recorded once, if new
            check_same_settings(study, job)
        sweep = Sweep(job, study, tracking.Tracker(config.experiment, job.tracking_uri))
        if create:
            _prepare(sweep, data_digest)
    return sweep


def _prepare(sweep: Sweep, data_digest: str | None) -> None:
    """The parent run (created once, reopened on reruns) and the queue, topped up: the grid's
    open points, and the missing replicates where the grid is finished."""
    config, study, tracker = sweep.config.sweep, sweep.study, sweep.tracker
    if data_digest:
        check_same_data(study, data_digest, "this machine's")
    parent = study.attr(PARENT_RUN)
    swept = {"activation", *(d.key for d in config.dimensions)}
    if parent is None:
        parent = tracker.start_run(
            f"sweep-{config.study}",
            "sweep",
            params={
                "study": config.study,
                "activations": ",".join(config.activations),
                "pruner": config.pruner,
                "storage": label(study.url),
                **{k: v for k, v in config.train.params().items() if k not in swept},
            },
            tags={Tag.SWEEP: config.study},
            description=f"sweep {config.study}: {len(config.activations)} activations x "
            f"{config.points_per_activation} trials each ({space_text(config)}) on "
            f"{display_name(dataset_name(config.train.dataset))}, then each activation's best "
            "configuration with more seeds (phase=replicate); one nested run per Optuna trial",
        )
        study.set_attr(PARENT_RUN, parent)
    else:
        tracker.reopen_run(parent)
    study.set_attr(STORE, redact(tracker.uri))
    if sweep.config.seeds:
        studies.ask_for_seeds(study, sweep.config.seeds)
    tracker.set_tags(parent, _plan_tags(sweep))
    studies.fail_orphans(study)  # open_sweep holds the study's lock around all of this
    studies.queue_missing(study)
    studies.queue_replicates(study, retry_failed=True)


def _plan_tags(sweep: Sweep) -> dict[str, str]:
    """The parent run's tags for what the study trains (tags: a rerun may change them)."""
    config = sweep.config.sweep
    seeds = config.replicate_seed_list(studies.seed_count(sweep.study))
    return {
        "lrs": ",".join(f"{lr:g}" for lr in config.lrs),
        "sampler": config.sampler,
        "space": space_text(config),
        "replicate_seeds": ",".join(map(str, seeds)),
        "replicate_max_epochs": str(config.replicate_max_epochs),
        "replicate_patience": str(config.replicate_patience),
        "replicate_lr_schedule": config.replicate_lr_schedule,
        "set": " ".join(sweep.config.overrides) or "none",  # --set over the sweep file, last run
    }


def space_text(config: SweepConfig) -> str:
    """The swept settings: `sampler grid: lr [0.01, 0.1], batch_size [32, 64]`."""
    return f"sampler {config.sampler}: " + ", ".join(d.describe() for d in config.dimensions)


def check_same_store(study: studies.Study, job: SweepJobConfig) -> None:
    """A study logs to one MLflow store: its parent run and every trial's run live there. Run
    against another store (another MLFLOW_TRACKING_URI, or the store deleted), it stops here,
    before anything is written, saying so and the two ways out."""
    config, parent = job.sweep, study.attr(PARENT_RUN)
    uri = tracking.resolve_uri(job.tracking_uri)
    experiment, deleted = tracking.run_experiment(uri, parent) if parent else (None, False)
    if parent is None or (experiment == config.experiment and not deleted):
        return
    if experiment is not None:
        _moved_or_deleted(study, job, parent, experiment, deleted)
    recorded, here = study.attr(STORE), redact(uri)
    if recorded and recorded != here:
        where = f" in {recorded}"
        back = f"run it against that store (MLFLOW_TRACKING_URI={recorded})"
    else:  # the same store, or a study from before stores were recorded
        where, back = "", "restore the store it logs to (or set MLFLOW_TRACKING_URI to it)"
    raise PipelineError(
        f"study {config.study!r} logs to MLflow parent run {parent}{where}, but experiment "
        f"{config.experiment!r} of {here} has no such run; either {back}, or start the study "
        f"afresh in this store ({_delete(study)}, or give `study:` in {job.config_path} a new "
        "name)"
    )


def _moved_or_deleted(
    study: studies.Study, job: SweepJobConfig, parent: str, experiment: str, deleted: bool
) -> None:
    """The store has the study's parent run, but deleted (`mlflow runs delete`) or in another
    experiment (one renamed with `mlflow experiments rename`): say which, and how back."""
    name = job.sweep.study
    if deleted:
        raise PipelineError(
            f"study {name!r} logs to MLflow parent run {parent}, which is deleted; restore it "
            f"(`mlflow runs restore --run-id {parent}`, with MLFLOW_TRACKING_URI set to this "
            f"store), or start the study afresh ({_delete(study)})"
        )
    raise PipelineError(
        f"study {name!r} logs to MLflow parent run {parent} in experiment {experiment!r}, not "
        f"{job.sweep.experiment!r} (renamed?); give `experiment: {experiment}` in "
        f"{job.config_path}, or rename the experiment back"
    )


def check_trial_runs_kept(job: SweepJobConfig, afresh: str) -> None:
    """A study's report is built from its finished trials' MLflow runs: one deleted in MLflow
    stops it here, in one line naming the runs and how to restore them."""
    config = job.sweep
    uri = tracking.resolve_uri(job.tracking_uri)
    deleted = tracking.deleted_trial_runs(uri, config.experiment, config.study)
    if deleted:
        runs = "run is" if len(deleted) == 1 else "runs are"
        raise PipelineError(
            f"study {config.study!r}: {len(deleted)} of its finished trials' MLflow {runs} "
            f"deleted (first {deleted[0]}), and its report is built from them; restore them "
            f"(`mlflow runs restore --run-id {deleted[0]}`, and so on, with "
            f"MLFLOW_TRACKING_URI set to this store), or start the study afresh ({afresh})"
        )


def _delete(study: studies.Study) -> str:
    """How to delete a study: its file, or the study in its database."""
    local = studies.storage_file(study.url)
    return (
        f"delete {local}"
        if local
        else f"delete study {study.config.study!r} from {label(study.url)}"
    )


def check_same_settings(study: studies.Study, job: SweepJobConfig) -> None:
    """A study's trials are trained with one set of settings (SweepConfig.recorded_settings):
    the first open records them, every later one must give the same, or stops before anything
    is written, naming each changed key. Call under the study's lock: two first opens of a
    study made before settings were recorded record them once."""
    current = job.sweep.recorded_settings()
    stored = study.attr(SETTINGS)
    recorded = json.loads(stored) if stored else _settings_of_parent(study, job, current)
    if changed := changed_settings(recorded, current):
        raise PipelineError(
            f"study {study.config.study!r} was trained with other settings than "
            f"{job.config_path} gives ({describe_changes(changed)}); its trials would not compare "
            f"with new ones: give `study:` in {job.config_path} a new name, {_delete(study)} to "
            "start it afresh, or put the old values back"
        )
    if stored is None:
        study.set_attr(SETTINGS, json.dumps(current, sort_keys=True))


def _settings_of_parent(
    study: studies.Study, job: SweepJobConfig, current: dict[str, str]
) -> dict[str, str]:
    """The settings of a study made before they were recorded: those its MLflow parent run
    logged as params (every training key and the pruner), and this run's for the others, which
    nothing kept. A new study (no parent run yet) takes this run's."""
    parent = study.attr(PARENT_RUN)
    if parent is None:
        return current
    tracker = tracking.Tracker(job.sweep.experiment, job.tracking_uri, create=False)
    _, params, _ = tracker.logged_run(parent)
    return {**current, **{key: value for key, value in params.items() if key in current}}


def check_same_data(study: studies.Study, digest: str, whose: str) -> None:
    """Every machine of a study trains on the same files: the first to come records their
    digest (a study attribute), the others must match it."""
    recorded = study.attr("data_digest")
    if recorded is None:
        study.set_attr("data_digest", digest)
    elif recorded != digest:
        dataset = display_name(dataset_name(study.config.train.dataset))
        raise PipelineError(
            f"{whose} {dataset} (sha256 {digest[:12]}) differs from the one study "
            f"{study.config.study!r} trains on (sha256 {recorded[:12]}); give every machine the "
            "same files (for Fashion-MNIST: Debian's dataset-fashion-mnist, --data-dir or "
            "FASHION_MNIST_DIR; for another dataset: the same folder's files)"
        )


def finish(sweep: Sweep, source: data.DataSource) -> list[registration.Registered]:
    """Register the study's models by its rule (workflows/registration.py; real test images of
    `source` as their input example), record the grid's choice of lr on the parent run, and log
    the study's figures there. What each of the study's aliases holds."""
    tracker, parent = sweep.tracker, sweep.parent_run_id
    best = studies.best_trials(sweep.study)
    registered = []
    if sweep.config.sweep.registry:
        registered = registration.register_study(tracker, sweep.study, source)
    metrics, objective = {}, sweep.config.sweep.objective[0]
    for activation, trial in best.items():
        metrics[f"best_{objective}.{activation}"] = trial.score
        metrics[f"best_lr.{activation}"] = trial.lr
    counts = studies.counts(sweep.study)
    for state in TrialEnd:
        metrics[f"trials_{state.lower()}"] = counts.get(state, 0)
    tracker.log_metrics(parent, metrics)
    tags = {f"best_lr.{a}": f"{b.lr:g}" for a, b in best.items()}
    for activation, trial in best.items():  # the other settings the sweep varies
        for key, value in trial.params.items():
            if key not in ("activation", "lr") and key in sweep.config.sweep.swept_keys:
                tags[f"best_{key}.{activation}"] = str(value)
    tracker.set_tags(parent, tags)
    for path, figure in studies.static_figures(sweep.study).items():
        tracking.log_figure(tracker, parent, figure, path)
    for path, page in studies.interactive_figures(sweep.study).items():
        tracking.log_text(tracker, parent, page, path)
    return registered


def budget_cut(sweep: Sweep) -> str:
    """Where the sweep file's time budget ended the sweep with trials left, the report's note
    of it (how many trials each activation got: equal budgets no longer hold); else ""."""
    study, timeout = sweep.study, sweep.config.sweep.timeout
    left = studies.open_points(study) or studies.missing_replicates(study, retry_failed=True)
    if not sweep.out_of_time() or not left:
        return ""
    got = ", ".join(f"{a} {n}" for a, n in studies.finished_per_activation(study).items())
    return (
        f"**Cut by the time budget.** `timeout: {timeout}` (seconds) ended this sweep before "
        f"its end; finished trials per activation: {got}. The activations' budgets were not "
        "equal: read the tables as partial. `make sweep` again goes on where it stopped.\n"
    )


def publish_report(
    tracker: tracking.Tracker,
    job: SweepJobConfig,
    parent: str | None,
    registered: Sequence[registration.Registered] = (),
    note: str = "",
) -> "Report":
    """The study's report files in reports/<study>/, from what MLflow recorded (and the
    registry's aliases, `registered`; `note` under its title), logged on the parent run under
    results/ (with the replicates' means and intervals as metrics)."""
    runs = tracking.sweep_runs(tracker, job.sweep.study)
    sweep = job.sweep
    # Here, not at the top: a worker process never writes a report, and the report's
    # statistics and figures (scipy, matplotlib) cost each worker about a second to import.
    from pipeline.stages import study_report

    report = study_report.write_report(
        runs,
        sweep.study,
        sweep.activations,
        settings=sweep.swept_keys,
        sampler=sweep.sampler,
        design_seeds=sweep.design_seeds,
        registry=[row.as_row() for row in registered],
        replicate_seeds=sweep.replicate_seeds,
        note=note,
        objective=sweep.objective,
    )
    if parent:
        for path in report.files:
            tracking.log_file(tracker, parent, path, "results")
        tracker.log_metrics(parent, study_report.summary_metrics(report.summary))
    return report


class SweepBar(tqdm):  # type: ignore[type-arg]  # tqdm's stubs make it generic in what it iterates
    """The sweep's bar: finished trials of the grid and the replicates planned, and the best
    value so far with the phase of its trial (a replicate's lucky seed is no grid choice)."""

    def __init__(self, sweep: Sweep, desc: str):
        config = sweep.config.sweep
        replicates = len(config.activations) * studies.seed_count(sweep.study)
        total = config.trial_count + replicates
        super().__init__(total=total, desc=desc, unit="trial", disable=not sweep.config.progress)

    def update_from(self, study: studies.Study) -> None:
        """Its reads wait out a busy storage (SQLite locked by the workers' writes under load)
        as a trial's calls do: a progress bar must not end a sweep."""
        if (finished := studies.outlasting(study, studies.finished_count, study)) != self.n:
            self.n = finished
            value, phase = studies.outlasting(study, studies.best_value, study)
            self.set_postfix(best=f"{value:.4f} ({phase})" if phase else "none yet")
            self.refresh()
