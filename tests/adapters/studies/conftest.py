"""A study of the adapter's own, in a temporary storage, and what it told about orphans."""

from pathlib import Path

import pytest

from pipeline.adapters import studies
from pipeline.core.schema.sweep_config import SweepConfig

STORAGES = {"sqlite": "sqlite:///{}/unit.db", "journal": "journal://{}/unit.journal"}


@pytest.fixture
def orphans() -> list[tuple[str | None, str]]:
    """(MLflow run id, why) for each trial the study failed because its worker died."""
    return []


@pytest.fixture
def make_study(tmp_path: Path, orphans):
    """make_study(kind, create=True, **sweep values): a Study on a SQLite file or a journal file
    in tmp_path; two activations at two learning rates unless told otherwise."""

    def make(kind: str = "sqlite", create: bool = True, **values) -> studies.Study:
        values = {"activations": ("relu", "tanh"), "lrs": (0.01, 0.1), **values}
        config = SweepConfig(study="unit", storage=STORAGES[kind].format(tmp_path), **values)
        return studies.Study(config, create, lambda run_id, why: orphans.append((run_id, why)))

    return make
