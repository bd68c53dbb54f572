"""The kinds of value a config holds, each with its check and the description its one-line
message quotes (`lr must be a positive finite number, got 0.0`), and the base class that makes a
validation error that one line."""

import difflib
import ipaddress
import os
import re
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)

from pipeline.core.dataset.datasets import DEFAULT_DATASET, dataset_name, is_path
from pipeline.core.network.activations import CUSTOM, NAMES, get_activation
from pipeline.core.process.errors import UsageError
from pipeline.core.process.urls import redact, storage_file, storage_kind
from pipeline.core.schema import limits

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
RUN_ID = r"^[0-9a-f]{32}$"  # MLflow's run ids: a uuid4's 32 hex digits
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def shown(value: Any) -> str:
    """What was given, for a one-line message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:76]}...{text[-1]}"


def did_you_mean(value: Any, allowed: Iterable[Any]) -> str:
    """` (did you mean 'x'?)` where a string is close to one allowed (case aside), else ''."""
    if not isinstance(value, str):
        return ""
    names = {str(a).lower(): str(a) for a in allowed}
    found = difflib.get_close_matches(value.lower(), list(names), n=1, cutoff=0.6)
    return f" (did you mean {names[found[0]]!r}?)" if found else ""


def choices(annotation: Any) -> tuple[Any, ...]:
    """The values a Literal annotation allows (through `X | None` too); () for other types."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(c for arg in get_args(annotation) for c in choices(arg))
    return ()


def in_its_case(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """A mapping with each name a Literal field allows written in that field's own case:
    `sampler: TPE` is `tpe`, `optimizer: [Adam, SGD]` is [adam, sgd]."""

    def fixed(field: Any, value: Any) -> Any:
        if isinstance(value, list):
            return [fixed(field, item) for item in value]
        if not isinstance(value, str):
            return value
        names = {c.lower(): c for c in choices(field.annotation) if isinstance(c, str)}
        return names.get(value.lower(), value)

    fields = model.model_fields
    return {k: fixed(fields[k], v) if k in fields else v for k, v in values.items()}


def _activation(name: str) -> str:
    get_activation(name)  # a UsageError (a ValueError too) naming the registered ones
    return name


def hidden_sizes_check(sizes: tuple[int, ...]) -> tuple[int, ...]:
    if not sizes:
        raise UsageError("hidden_sizes must be a non-empty list of positive integers, got []")
    if min(sizes) < 1:
        raise UsageError(f"hidden_sizes must all be positive integers, got {list(sizes)}")
    return sizes


def lrs_check(values: tuple[float, ...]) -> tuple[float, ...]:
    """Each learning rate once, told apart as run names and tags show them (6 digits, `:g`)."""
    seen: set[str] = set()
    for value in values:
        if f"{value:g}" in seen:
            raise UsageError(
                f"lr lists {value:g} twice: {shown(list(values))}; give each learning rate once "
                "(they are told apart by 6 significant digits, as run names show them)"
            )
        seen.add(f"{value:g}")
    return values


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be a folder to write into, or None: it is one, or can be made (no file
    in the way, the nearest existing folder writable)."""
    try:
        existing = next(p for p in (path, *path.parents) if p.exists())
    except OSError as error:  # a name too long, say
        return f"it is not a usable path ({error.strerror})"
    except ValueError as error:  # a NUL character
        return f"it is not a usable path ({error})"
    if not existing.is_dir():
        return f"{shown(str(existing))} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{shown(str(existing))} is not writable"
    return None


def folder_check(key: str) -> Callable[[Any], Any]:
    """A folder the job writes into, checked (as typed: an empty name is not `.`) before the
    job starts, so it never fails at its end."""

    def check(value: Any) -> Any:
        if not isinstance(value, str | os.PathLike):
            return value  # None, or not a path at all: the field's type says so
        problem = "an empty name" if str(value) == "" else folder_problem(Path(value))
        if problem:
            raise UsageError(
                f"{key} must be a folder that can be written, got {shown(str(value))}: {problem}"
            )
        return value

    return check


def storage_check(url: str | None) -> str | None:
    """A study storage URL of a known form whose file, if it has one, can be made."""
    if url is None:
        return url
    storage_kind(url)
    file = storage_file(url)
    if file is not None:
        problem = folder_problem(file.parent) or (
            f"{shown(str(file))} is a folder" if file.is_dir() else None
        )
        if problem:
            raise UsageError(
                f"study storage {shown(redact(url))} cannot be created: {problem}; name a "
                "file in a folder that can be written"
            )
    return url


def model_uri_check(uri: str | None) -> str | None:
    """A model URI (runs:/, models:/, ...: its scheme is checked where it is loaded), or a
    checkpoint folder's path that the system can look up."""
    if uri and ":/" not in uri:
        try:
            Path(uri).exists()
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            raise UsageError(
                f"model_uri must be a model URI (runs:/<id>/model, models:/<name>@<alias>) or a "
                f"checkpoint folder, got {shown(uri)} ({reason})"
            ) from None
    return uri


def _host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.fullmatch(host):
            raise UsageError(
                "host must be a host name or an IP address (127.0.0.1, ::1, 0.0.0.0), "
                f"got {shown(host)}"
            ) from None
    return host


_MODEL_TARGET = re.compile(r"[^/:@\s]+@[\w-]+")
TARGET_CHOICES = (
    "<registered model>@<alias>: a model name without '/', ':', '@' or spaces, an alias of "
    "letters, digits, '_' or '-' other than 'latest' and v<digits> (MLflow's own)"
)


def model_target(value: str) -> str:
    """A registered model and alias to put a model on, as MLflow takes them."""
    alias = value.rpartition("@")[2]
    reserved = alias.lower() == "latest" or re.fullmatch(r"v\d+", alias)
    if not _MODEL_TARGET.fullmatch(value) or reserved:
        raise UsageError(f"to must be {TARGET_CHOICES}, got {shown(value)}")
    return value


ACTIVATION_CHOICES = f"{', '.join(NAMES)} or {CUSTOM}"
DATASET_CHOICES = (
    f"{DEFAULT_DATASET}, a folder (a path with a '/': ./mine, /data/kmnist) or a dataset name of "
    "letters, digits, '_', '.' or '-'"
)


def _dataset(value: str) -> str:
    """A name or a folder; the folder's own name is what runs record, so it must be a name."""
    try:
        name = dataset_name(value) if is_path(value) else value
    except RuntimeError:  # `~user/...` for a user this system does not have
        raise UsageError(
            f"dataset {value!r} starts with a home folder this system does not have; give the "
            "folder's path (./mine, /data/kmnist, ~/kmnist)"
        ) from None
    if not re.match(NAME, name):
        what = f"folder name {name!r} of {value!r}" if is_path(value) else repr(value)
        raise UsageError(f"dataset must be {DATASET_CHOICES}; got {what}")
    return value


def activations_check(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise UsageError(f"activations must be a non-empty list of: {ACTIVATION_CHOICES}")
    for index, name in enumerate(names):
        get_activation(name)
        if name in names[:index]:
            raise UsageError(
                f"activations lists {name!r} twice: {shown(list(names))}; give each one once"
            )
    return names


PositiveNumber = Annotated[
    float, Field(gt=0, allow_inf_nan=False, strict=True, description="a positive finite number")
]
Activation = Annotated[str, AfterValidator(_activation)]
Dataset = Annotated[str, Field(description=DATASET_CHOICES), AfterValidator(_dataset)]
Name = Annotated[
    str,
    Field(
        pattern=NAME,
        max_length=limits.MAX_NAME_LENGTH,
        description=f"a name of ASCII letters, digits, '_', '.' or '-' (at most "
        f"{limits.MAX_NAME_LENGTH} characters, a letter or digit first: it names files)",
    ),
]
# MLflow takes any experiment name up to 500 characters; one printable line here, so that it
# prints and passes through a shell as one word.
ExperimentName = Annotated[
    str,
    Field(
        pattern=r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$",
        max_length=limits.MAX_EXPERIMENT_NAME_LENGTH,
        description="an experiment name: one line of printable characters, not only spaces "
        f"(at most {limits.MAX_EXPERIMENT_NAME_LENGTH}, MLflow's limit)",
    ),
]
Device = Annotated[Literal["auto", "cpu", "cuda"], Field(description="one of: auto, cpu, cuda")]
Host = Annotated[str, AfterValidator(_host)]
Port = Annotated[StrictInt, Field(ge=1, le=65535, description="an integer in 1..65535")]
ModelUri = Annotated[
    str, Field(min_length=1, description="a model URI"), AfterValidator(model_uri_check)
]
RunId = Annotated[str, Field(pattern=RUN_ID, description="an MLflow run id (32 hex digits)")]


def at_least(minimum: int, default: int | None) -> Any:
    return Field(default, ge=minimum, description=f"an integer >= {minimum}")


def between(low: int, high: int, default: int | None) -> Any:
    return Field(default, ge=low, le=high, description=f"an integer in {low}..{high}")


def fraction(default: float, low: Literal["<", "<="]) -> Any:
    bounds: dict[str, Any] = {"gt": 0} if low == "<" else {"ge": 0}
    description = f"a number with 0 {low} x < 1"
    return Field(default, lt=1, allow_inf_nan=False, strict=True, description=description, **bounds)


class Config(BaseModel):
    """Immutable, no unknown keys; a validation error becomes one UsageError line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _names_in_any_case(cls, values: Any) -> Any:
        return in_its_case(cls, values) if isinstance(values, dict) else values

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise UsageError(self._one_line(error)) from None

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, validated like a new config."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def _one_line(cls, error: ValidationError) -> str:
        first = error.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "config"
        if first["type"] == "value_error":  # our own validators say it in full
            return str(first["ctx"]["error"])
        if first["type"] == "extra_forbidden":
            allowed = sorted(cls.model_fields)
            hint = did_you_mean(key, allowed)
            return f"unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}"
        field = cls.model_fields.get(key)
        rule = field.description if field else None
        hint = did_you_mean(first["input"], choices(field.annotation)) if field else ""
        return f"{key} must be {rule or 'valid'}, got {shown(first['input'])}{hint}"


def param_value(text: str, default: Any) -> Any:
    """A param's string as the type of its field's default."""
    try:
        if isinstance(default, tuple):
            return tuple(int(part) for part in text.split(","))
        if isinstance(default, bool):
            return text == "True"
        if isinstance(default, int | float):
            return type(default)(text)
    except ValueError:
        raise UsageError(f"a logged param is not {type(default).__name__}: {text!r}") from None
    return None if text == "None" else text


def memory_check(config: Any, stack: int) -> None:
    """A model (or `stack` of them trained at once) too large for memory is refused up front,
    with its parameter count and the limit, instead of failing minutes into a run."""
    parameters = config.parameter_count
    needed = stack * limits.training_bytes(
        parameters, config.hidden_sizes, config.batch_size, config.optimizer
    )
    if needed <= limits.MEMORY_LIMIT_BYTES:
        return
    what = f"{stack} models of" if stack > 1 else "a model of"
    raise UsageError(
        f"hidden_sizes {shown(list(config.hidden_sizes))} make {what} {parameters:,} parameters; "
        f"training at batch_size {config.batch_size} needs about {limits.gib(needed)}, over the "
        f"limit of {limits.gib(limits.MEMORY_LIMIT_BYTES)} (docs/reliability.md); use fewer or "
        "narrower hidden layers"
        + (", a smaller stack" if stack > 1 else "")
        + ", or a smaller batch_size"
    )
