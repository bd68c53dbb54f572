"""Each job's config: what its flags give it, and what every job is given from the edge (where
the data and the MLflow store are)."""

from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictInt,
    model_validator,
)

from pipeline.core.dataset.datasets import DEFAULT_DATASET
from pipeline.core.network.activations import SEED_ACTIVATIONS
from pipeline.core.schema import limits
from pipeline.core.schema.config import (
    DEFAULT_EXPERIMENT,
    DEFAULT_MODEL_URI,
    DEFAULT_STUDY,
    DEFAULT_SWEEP,
    DEFAULT_TRACKING_URI,
    TrainConfig,
)
from pipeline.core.schema.fields import (
    Config,
    Dataset,
    Device,
    ExperimentName,
    Host,
    ModelUri,
    Name,
    Port,
    RunId,
    activations_check,
    between,
    folder_check,
    model_target,
)
from pipeline.core.schema.sweep_config import SweepConfig, check_replicate_seeds


class JobConfig(Config):
    """What every job is given from the edge (flags and environment, cli/): where the data and
    the MLflow store are, and whether a GPU may replay its training steps as CUDA graphs."""

    data_dir: str | None = None  # None: the data/ cache, Debian's package, a download
    tracking_uri: str = DEFAULT_TRACKING_URI
    cuda_graphs: bool = True


class DataConfig(JobConfig):
    """`make data`: which dataset to find, verify and load."""

    dataset: Dataset = DEFAULT_DATASET


class EvaluateConfig(DataConfig):
    model_uri: ModelUri
    device: Device = "auto"


class DiagnosticsConfig(DataConfig):
    experiment: ExperimentName = DEFAULT_EXPERIMENT
    # Also write the figures as PNGs here.
    figures_dir: Annotated[str | None, BeforeValidator(folder_check("figures_dir"))] = None
    activations: Annotated[tuple[str, ...], AfterValidator(activations_check)] = SEED_ACTIVATIONS
    run_id: RunId | None = Field(None, description="an MLflow run id (32 hex digits)")
    model_uri: ModelUri | None = Field(None, description="a model URI")
    best: bool = False
    study: Name = DEFAULT_STUDY  # whose registered models --best reads


class SweepJobConfig(JobConfig):
    sweep: SweepConfig
    config_path: Path = Path(DEFAULT_SWEEP)
    workers: StrictInt | None = between(1, limits.MAX_WORKERS, None)  # None: the sweep file's
    threads: StrictInt | None = between(1, limits.MAX_THREADS, None)  # None: all cores
    seeds: StrictInt | None = between(1, limits.MAX_SEEDS, None)  # in all; None: the sweep's
    progress: bool = True
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE over the sweep file, applied to `sweep`
    dry_run: bool = False  # print the plan and an estimate of its time; write nothing

    @model_validator(mode="after")
    def _seeds_fit(self) -> "SweepJobConfig":
        if self.seeds is not None:
            check_replicate_seeds(self.sweep, self.seeds, "seeds")
        return self


class BenchConfig(JobConfig):
    rounds: StrictInt = between(1, limits.MAX_ROUNDS, 5)
    out: Annotated[Path, BeforeValidator(folder_check("out"))] = Path("reports")
    device: Device = "auto"
    seed_table: bool | None = None  # None: on a GPU only


class ServerConfig(JobConfig):
    host: Host = "127.0.0.1"
    port: Port = 5000
    experiment: ExperimentName = DEFAULT_EXPERIMENT


class ServeConfig(JobConfig):
    """`make serve`: MLflow's scoring server for one logged or registered model."""

    model_uri: ModelUri = DEFAULT_MODEL_URI
    host: Host = "127.0.0.1"
    # Beside `make ui` on 5000 and `make dashboard` on 8080.
    port: Port = 5001


class PromoteConfig(JobConfig):
    """`make promote`: one registered version put on another registered model's alias."""

    model_uri: ModelUri
    to: Annotated[str, AfterValidator(model_target)]
    reason: Annotated[
        str,
        Field(
            pattern=r"^[^\n\r]*\S[^\n\r]*$",
            max_length=500,
            description="one line saying why (at most 500 characters)",
        ),
    ]


class TrainJobConfig(JobConfig):
    experiment: ExperimentName = DEFAULT_EXPERIMENT
    train: TrainConfig = TrainConfig()
    # None: all cores, or the from_run run's.
    threads: StrictInt | None = between(1, limits.MAX_THREADS, None)
    # A logged run whose training params (threads and seed included) this run takes; the
    # fields set in `train` override them.
    from_run: RunId | None = Field(None, description="an MLflow run id (32 hex digits)")


class DashboardConfig(ServerConfig):
    port: Port = 8080
    sweep: SweepConfig
    config_path: Path = Path(DEFAULT_SWEEP)
