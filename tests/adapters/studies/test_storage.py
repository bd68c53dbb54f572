"""Storage URLs and the local lock file."""

from pathlib import Path

import pytest

from pipeline.adapters import studies
from pipeline.core.process.errors import UsageError
from pipeline.core.schema.sweep_config import SweepConfig


def test_the_storage_url_is_the_configs_else_a_sqlite_file_named_after_the_study():
    assert studies.storage_url(SweepConfig(study="quick")) == "sqlite:///sweeps/quick.db"
    given = "postgresql://me@db/optuna"
    assert studies.storage_url(SweepConfig(study="quick", storage=given)) == given


@pytest.mark.parametrize(
    ("url", "kind", "file"),
    [
        ("sqlite:///sweeps/a.db", "rdb", Path("sweeps/a.db")),
        ("sqlite:////abs/a.db", "rdb", Path("/abs/a.db")),
        ("postgresql://me@db/optuna", "rdb", None),
        ("postgresql+psycopg://me@db/optuna", "rdb", None),
        ("mysql://me@db/optuna", "rdb", None),
        ("journal://sweeps/a.journal", "journal", Path("sweeps/a.journal")),
        ("sweeps/a.journal", "journal", Path("sweeps/a.journal")),
    ],
)
def test_storage_kind_and_file(url, kind, file):
    assert studies.storage_kind(url) == kind
    assert studies.storage_file(url) == file


def test_an_unknown_scheme_is_a_usage_error_with_the_password_hidden():
    with pytest.raises(UsageError) as error:
        studies.storage_kind("redis://me:secret@host/0")
    assert "secret" not in str(error.value)
    assert "has an unknown scheme; use sqlite:///PATH" in str(error.value)


def test_the_local_lock_is_a_file_beside_the_storage_and_none_for_a_server(tmp_path):
    with studies.local_lock(f"sqlite:///{tmp_path}/deep/a.db"):
        assert (tmp_path / "deep/a.db.claims.lock").exists()
    with studies.local_lock("postgresql://me@db/optuna"):
        pass
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.db.claims.lock", "deep"]
