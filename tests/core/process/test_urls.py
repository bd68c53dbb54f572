import pytest

from pipeline.core.process.urls import label, redact, sqlalchemy_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://me@db:5432/optuna", "postgresql+psycopg://me@db:5432/optuna"),
        ("postgres://me:pw@db/optuna", "postgresql+psycopg://me:pw@db/optuna"),
        ("postgresql+psycopg2://me@db/optuna", "postgresql+psycopg2://me@db/optuna"),
        ("sqlite:///sweeps/activations.db", "sqlite:///sweeps/activations.db"),
        ("journal://sweeps/activations.journal", "journal://sweeps/activations.journal"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_plain_postgresql_urls_get_the_psycopg_driver_and_others_stay(url, expected):
    assert sqlalchemy_url(url) == expected


def test_passwords_are_redacted_in_messages_and_absent_from_labels():
    url = "postgresql://optuna:s3cr@t@db.lan:5432/optuna"
    assert redact(url) == "postgresql://optuna:***@db.lan:5432/optuna"
    assert redact("postgresql://optuna@db.lan/optuna") == "postgresql://optuna@db.lan/optuna"
    assert label(url) == "postgresql://db.lan:5432/optuna"
    assert label("postgres://me:pw@db/optuna") == "postgresql://db/optuna"
    assert label("sqlite:////home/me/project/sweeps/activations.db") == "sqlite:activations.db"
    assert label("journal://sweeps/activations.journal") == "journal:activations.journal"
