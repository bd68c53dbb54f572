"""Database URLs, in one place: the PostgreSQL driver they name, and the form shown to people.

Users write the URLs of the documentation (`postgresql://user@host/db`); SQLAlchemy reads a plain
`postgresql://` as the psycopg2 driver, but this project installs psycopg 3 (the `[postgres]`
extra), so both the Optuna storage and the MLflow store get `postgresql+psycopg://`. Messages and
logged params never show a password.
"""

from pathlib import Path
from urllib.parse import urlparse, urlsplit, urlunsplit

from pipeline.core.process.errors import UsageError

PSYCOPG = "postgresql+psycopg"
# Spellings of PostgreSQL without a driver; `postgres://` is what many hosting services hand out.
_PLAIN_POSTGRES = ("postgresql", "postgres")
_FILE_SCHEMES = ("sqlite", "journal", "file")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")
_STORAGE_FORMS = (
    "use sqlite:///PATH, postgresql://USER@HOST/DB, or journal://PATH for Optuna's journal file"
)


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


def storage_kind(url: str) -> str:
    """A study storage URL's kind, "rdb" or "journal"; a UsageError for any other URL, and for
    an in-memory SQLite or a journal without a path (a study there vanishes with the process,
    and workers in other processes would each see an empty one of their own)."""
    scheme = urlparse(url).scheme.split("+")[0]
    if scheme in _DATABASE_SCHEMES:
        if scheme == "sqlite" and url.partition(":///")[2] in ("", ":memory:"):
            raise UsageError(
                f"study storage {redact(url)!r} is an in-memory database, lost when the sweep "
                f"ends and not shared with its workers; {_STORAGE_FORMS}"
            )
        return "rdb"
    if scheme == "journal" or (not scheme and url.endswith((".journal", ".log"))):
        if not url.removeprefix("journal://").strip():
            raise UsageError(f"study storage {redact(url)!r} names no file; {_STORAGE_FORMS}")
        return "journal"
    raise UsageError(f"study storage {redact(url)!r} has an unknown scheme; {_STORAGE_FORMS}")


def storage_file(url: str) -> Path | None:
    """The local file behind a SQLite or journal URL; None for a database server."""
    if storage_kind(url) == "journal":
        return Path(url.removeprefix("journal://"))
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return None
