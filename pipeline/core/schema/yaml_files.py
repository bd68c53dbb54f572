"""Reading a YAML file a person wrote: every problem one UsageError line naming the file.

PyYAML reads YAML 1.1, where `1e-3` is the string '1e-3' (a float needs a dot: `1.0e-3`) and a
key given twice silently keeps its last value. People write `lr: [1e-3, 1e-2]` and repeat a key
when they edit a file, so here `1e-3` is a number and a repeated key is an error.
"""

import re
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.process.errors import UsageError
from pipeline.core.schema.fields import shown

# YAML 1.2's floats that YAML 1.1 leaves as strings: an exponent without a dot.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = lines.setdefault(key, line)
            except TypeError:  # an unhashable key: PyYAML's own error says so below
                continue
            if first != line:
                raise UsageError(
                    f"key {key!r} is given twice (lines {first} and {line}); give each key once"
                )
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def read_yaml(path: Path, what: str) -> Any:
    """The file's content as Python values; `what` names the file in messages (`sweep config`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist; see sweeps/*.yaml for examples") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a folder; give a YAML file") from None
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
            f"{error.start}); save it as UTF-8 YAML"
        ) from None
    except OSError as error:  # a name too long, no permission, a file where a folder should be
        raise UsageError(
            f"{what} {shown(str(path))} cannot be read ({error.strerror}); give a YAML file"
        ) from None
    except ValueError as error:  # a NUL in the name
        raise UsageError(f"{what} {shown(str(path))} is not a file name ({error})") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except UsageError as error:
        raise UsageError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise UsageError(
            f"{path}: YAML syntax error{where}: {problem}; see sweeps/*.yaml for the form"
        ) from None


def overridden(values: Any, overrides: tuple[str, ...]) -> Any:
    """A file's mapping with each `KEY=VALUE` of `overrides` set over it, VALUE read as YAML
    (`max_epochs=1`, `lr=[0.01,0.1]`, `lr={low: 0.001, high: 0.1}`) by the file's own rules."""
    if not overrides or not isinstance(values, dict):
        return values
    values = dict(values)
    for override in overrides:
        key, equals, text = override.partition("=")
        if not equals or not key.strip():
            raise UsageError(
                f"--set must be KEY=VALUE (a sweep file's key and a YAML value), got "
                f"{shown(override)}"
            )
        try:
            values[key.strip()] = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError:
            raise UsageError(
                f"--set {shown(override)}: its value is not YAML; write a list as [0.01,0.1] "
                "and a range as {low: 0.001, high: 0.1}"
            ) from None
    return values
