"""`make analyze`: layer outputs of trained networks, the seed's Figure 4, with their dead and
saturated units, tracked as a parent run and a child run per activation."""

from pipeline.adapters import downloads, tracking
from pipeline.core.dataset import data
from pipeline.core.network.model import MLP
from pipeline.core.schema.job_config import DiagnosticsConfig
from pipeline.jobs.diagnostic_runs import HistogramJob, Item, record, source_runs
from pipeline.stages import analysis

# What analyze prints for an activation that declares neither an off region nor bounds.
NO_HEALTH = "neither dead nor saturated units counted (it declares no relu_like or bounds)"

ANALYSIS = HistogramJob(
    "analysis",
    "layer_outputs.png",
    "histograms/outputs.npz",
    50,
    "layer outputs of trained networks (1024 training images)",
    "{activation}: layer outputs",
    "analysis: layer-output histograms of trained networks (seed's Figure 4), dead and "
    "saturated units.",
)


def models_to_analyse(config: DiagnosticsConfig) -> list[tuple[MLP, dict[str, str]]]:
    """(model, tags) for --model-uri, --run-id, or each activation's latest trained run (or,
    with --best, its registered best)."""
    if config.model_uri:
        model = tracking.load_model(config.model_uri, config.tracking_uri)
        return [(model, {"source_model_uri": config.model_uri})]
    # Only reads: a store or experiment that is not there is an error, not made empty.
    tracker = tracking.Tracker(config.experiment, config.tracking_uri, create=False)
    if config.run_id:
        return [
            (tracking.load_run_checkpoint(tracker, config.run_id), {"source_run_id": config.run_id})
        ]
    found = source_runs(config, tracker, "analysing")
    return [
        (tracking.load_run_checkpoint(tracker, run_id), {"source_run_id": run_id})
        for run_id in found.values()
    ]


def run(config: DiagnosticsConfig) -> int:
    models = models_to_analyse(config)
    splits = data.load_splits(
        config.data_dir, dataset=config.dataset, download=downloads.fashion_mnist
    )
    items = []
    for model, tags in models:
        found = analysis.analyse(model, splits.train_x)
        health = {
            **{f"dead {k}": v for k, v in found.dead_fraction.items()},
            **{f"saturated {k}": v for k, v in found.saturated_fraction.items()},
        }
        items.append(
            Item(
                found.activation,
                found.outputs,
                found.metrics(),
                tags,
                f"analysis: layer outputs of a trained {found.activation} MLP on 1024 training "
                f"images; dead/saturated units over {splits.sizes['train']} training images.",
                ", ".join(f"{k} {v:.3f}" for k, v in health.items()) or NO_HEALTH,
            )
        )
    params = {
        "sample_size": str(analysis.SAMPLE_SIZE),
        "data_source": splits.source.label,
        "dataset": splits.source.name,
    }
    record(ANALYSIS, items, params, config)
    return 0
