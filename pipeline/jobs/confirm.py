"""`make confirm`: retrain each activation's best configuration of a sweep with more seeds."""

from tqdm.auto import tqdm

from pipeline.adapters import studies, tracking
from pipeline.core import data
from pipeline.core.config import SweepJobConfig
from pipeline.core.device import configure_torch, resolve_device
from pipeline.stages import training
from pipeline.workflows.sweep import open_sweep, publish_report
from pipeline.workflows.tracked_training import training_run


def run(job: SweepJobConfig) -> int:
    """Retrain each activation's best configuration with `seeds` further seeds (stage=confirm);
    configurations already confirmed are skipped."""
    # Bad data fails here, before a run exists.
    source = data.locate(job.data_dir, dataset=job.sweep.train.dataset)
    data.check_fits(source, job.sweep.train.batch_size, job.sweep.train.val_fraction)
    sweep = open_sweep(job, create=False)
    config, tracker = job.sweep, sweep.tracker
    done = tracking.search_runs(
        tracker,
        f"tags.sweep = '{config.study}' and tags.stage = 'confirm' "
        "and attributes.status = 'FINISHED'",
    )
    columns = ("params.activation", "params.lr", "params.seed")
    done_keys = set() if done.empty else set(zip(*(done[c] for c in columns), strict=True))
    device = resolve_device(config.train.device)
    settings = configure_torch(device)
    todo = [
        config.train_config(b.activation, b.lr, seed=config.train.seed + offset)
        for b in studies.best_trials(sweep.study).values()
        for offset in range(1, job.seeds + 1)
    ]
    todo = [c for c in todo if (c.activation, str(c.lr), str(c.seed)) not in done_keys]
    for run_config in tqdm(todo, desc="confirm", unit="run", disable=not job.progress):
        splits = data.load_splits(
            val_fraction=run_config.val_fraction,
            seed=run_config.seed,
            device=device,
            source=source,
        )
        with training_run(
            tracker,
            run_config,
            splits,
            settings,
            stage="confirm",
            name=f"confirm-{run_config.activation}-lr{run_config.lr:g}-seed{run_config.seed}",
            parent_run_id=sweep.parent_run_id,
            tags={"sweep": config.study},
            description="Best configuration of the sweep, another seed.",
        ) as tracked:
            result = training.train(
                run_config, splits, tracked, job.progress, cuda_graphs=job.cuda_graphs
            )
            tracked.log_result(result)
    print(publish_report(tracker, job, sweep.parent_run_id), end="")
    print(f"{len(todo)} confirmation runs added")
    return 0
