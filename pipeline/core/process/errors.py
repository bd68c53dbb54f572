"""The two kinds of error a user can act on; the CLI turns each into one line and an exit code."""


class PipelineError(Exception):
    """A runtime problem the user can fix: missing or corrupt data, unreachable store (exit 1)."""

    exit_code = 1


class UsageError(PipelineError, ValueError):
    """A bad flag, config key or value (exit 2); a ValueError, so config validators raise it."""

    exit_code = 2
