"""Database URLs, in one place: the PostgreSQL driver they name, and the form shown to people.

Users write the URLs of the documentation (`postgresql://user@host/db`); SQLAlchemy reads a plain
`postgresql://` as the psycopg2 driver, but this project installs psycopg 3 (the `[postgres]`
extra), so both the Optuna storage and the MLflow store get `postgresql+psycopg://`. Messages and
logged params never show a password.
"""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PSYCOPG = "postgresql+psycopg"
# Spellings of PostgreSQL without a driver; `postgres://` is what many hosting services hand out.
_PLAIN_POSTGRES = ("postgresql", "postgres")
_FILE_SCHEMES = ("sqlite", "journal", "file")


def sqlalchemy_url(url: str) -> str:
    """The URL with psycopg 3 as PostgreSQL's driver; any other URL unchanged."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in _PLAIN_POSTGRES:
        return f"{PSYCOPG}://{rest}"
    return url


def redact(url: str) -> str:
    """The URL with its password replaced by `***` (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def label(url: str) -> str:
    """A short name for a store, fit for a logged param: `postgresql://host:port/db` without
    user or password for a server, `sqlite:name.db` without the machine's path for a file."""
    parts = urlsplit(sqlalchemy_url(url))
    scheme = parts.scheme.split("+")[0] or "journal"
    if scheme not in _FILE_SCHEMES:
        host = parts.netloc.rpartition("@")[2]
        return f"{scheme}://{host}{parts.path}".rstrip("/")
    return f"{scheme}:{Path(parts.path).name}"
