"""Sweep specs written for other tools, recognised so that the refusal shows this file's way of
writing the same thing: W&B Sweeps (`parameters:`, `{distribution, min, max}`, `{values}`) and
Hydra's sweepers (`interval(a, b)`, `choice(a, b)`, `tag(log, interval(a, b))`)."""

import re
from typing import Any

from pipeline.core.process.errors import UsageError

# W&B sweep keys with their equivalent here, or what to do instead.
WANDB_KEYS = {
    "parameters": "here each setting is a top-level key (`lr: {low: 0.0001, high: 0.1}`)",
    "method": "here `sampler:` chooses the points (grid, random, tpe, gp; bayes is tpe or gp)",
    "metric": "here `objective:` names it (val_acc, val_loss, or a list with costs)",
    "early_terminate": "here `pruner: median` stops trials early, within each activation",
    "program": "here a sweep trains the pipeline's own model: drop the key",
}
HYDRA_KEYS = ("hydra", "defaults")
_HYDRA_CALL = re.compile(r"^\s*(interval|choice|range)\((.*)\)\s*$")
_HYDRA_LOG = re.compile(r"^\s*tag\(\s*log\s*,\s*(interval|range)\((.*)\)\s*\)\s*$")


def _inline(value: Any) -> str:
    """A value as a sweep file writes it inline: {low: 0.001, high: 0.1, log: true}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_inline, value)) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _wandb_equivalent(spec: dict[str, Any]) -> Any:
    if "values" in spec:
        return spec["values"]
    if "value" in spec:
        return spec["value"]
    low, high = spec.get("min", "..."), spec.get("max", "...")
    log = "log" in str(spec.get("distribution", ""))
    return {"low": low, "high": high, **({"log": True} if log else {})}


def _hydra_equivalent(match: re.Match[str], log: bool) -> Any:
    kind, arguments = match.groups()
    parts = [part.strip() for part in arguments.split(",") if part.strip()]
    if kind == "choice":
        return parts
    low, high = [*parts, "...", "..."][:2]  # range(a, b) too: its integers a..b
    return {"low": low, "high": high, **({"log": True} if log else {})}


def check_native(values: dict[str, Any], source: str) -> None:
    """Refuse, in one line with this file's equivalent, the first key or value written in
    another tool's sweep form; a native file passes untouched."""
    for key, value in values.items():
        if key in WANDB_KEYS:
            raise UsageError(f"{source}: {key!r} is a W&B sweep key; {WANDB_KEYS[key]}")
        if key in HYDRA_KEYS:
            raise UsageError(
                f"{source}: {key!r} is a Hydra config key; a sweep file is flat: give each "
                "setting at the top level (`lr: {low: 0.0001, high: 0.1}`)"
            )
        if isinstance(value, dict) and {"distribution", "min", "max", "values"} & set(value):
            native = _inline(_wandb_equivalent(value))
            raise UsageError(
                f"{source}: {key}: {_inline(value)} is W&B's form; here write `{key}: {native}`"
            )
        text = value if isinstance(value, str) else ""
        log = _HYDRA_LOG.match(text)
        match = log or _HYDRA_CALL.match(text)
        if match:
            native = _inline(_hydra_equivalent(match, log=bool(log)))
            raise UsageError(
                f"{source}: {key}: {value.strip()} is Hydra's form; here write `{key}: {native}`"
            )
