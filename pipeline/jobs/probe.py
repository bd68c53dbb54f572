"""`make probe`: weight gradients of fresh networks at initialisation, the seed's Figure 3,
tracked as a parent run and a child run per activation."""

from pipeline.adapters import downloads
from pipeline.core.dataset import data
from pipeline.core.schema.job_config import DiagnosticsConfig
from pipeline.jobs.diagnostic_runs import HistogramJob, Item, record
from pipeline.stages import probe

PROBE = HistogramJob(
    "probe",
    "gradient_histograms.png",
    "histograms/grad.npz",
    30,
    "weight gradients at initialisation (one batch of 256)",
    "{activation}: weight gradients at init",
    "probe: weight-gradient histograms of fresh networks (seed's Figure 3).",
)


def run(config: DiagnosticsConfig) -> int:
    splits = data.load_splits(
        config.data_dir, dataset=config.dataset, download=downloads.fashion_mnist
    )
    images = splits.train_x[: probe.PROBE_BATCH_SIZE]
    labels = splits.train_y[: probe.PROBE_BATCH_SIZE]
    items = []
    for name in config.activations:
        found = probe.probe_gradients(name, images, labels, num_classes=splits.num_classes)
        norms = ", ".join(f"{k} {v.norm():.2e}" for k, v in found.gradients.items())
        items.append(
            Item(
                name,
                found.gradients,
                found.metrics(),
                {},
                f"probe: gradients of a fresh {name} MLP (seed {probe.PROBE_SEED}) on one fixed "
                "batch of 256 training images.",
                f"grad norms {norms}; first/last {found.first_to_last_ratio:.2e}",
            )
        )
    params = {
        "seed": str(probe.PROBE_SEED),
        "batch_size": str(probe.PROBE_BATCH_SIZE),
        "data_source": splits.source.label,
        "dataset": splits.source.name,
        "activations": ",".join(config.activations),
    }
    record(PROBE, items, params, config)
    return 0
