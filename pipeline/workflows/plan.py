"""What a sweep will train, in one line before it runs: the trials of each phase and the budget
of each, from the sweep file (and the study's answer seeds)."""

from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import GRID_SAMPLER, Phase


def _epochs(count: int) -> str:
    return "1 epoch" if count == 1 else f"{count} epochs"


def phases(config: SweepConfig, seeds: int) -> list[tuple[Phase, int, int]]:
    """(phase, trials per activation, max epochs of each) of each phase the study trains: the
    grid's points, but the reference lr's where it has a protocol of its own; the replicates."""
    reference = config.reference_budget
    grid = config.points_per_activation
    rows = []
    if reference and config.reference_lr in config.lrs:
        rows = [(Phase.REFERENCE, 1, reference["max_epochs"])]
        grid -= 1
    rows.insert(0, (Phase.GRID, grid, config.train.max_epochs))
    if seeds:
        rows.append((Phase.REPLICATE, seeds, config.replicate_max_epochs))
    return rows


def plan(config: SweepConfig, seeds: int) -> str:
    """What the sweep will run, in one line, before it runs: the trials of each phase and the
    budget of each (a phase the file leaves to its defaults is as visible as one it sets), with
    `seeds` answer seeds per activation."""
    train, counts = config.train, {phase: trials for phase, trials, _ in phases(config, seeds)}
    search = config.sampler if config.sampler == GRID_SAMPLER else f"{config.sampler} sampler"
    text = (
        f"plan: study {config.study}: {len(config.activations)} activations x "
        f"{counts[Phase.GRID]} {search} trials, each up to {_epochs(train.max_epochs)} "
        f"(patience {train.patience}, {train.lr_schedule} lr)"
    )
    if Phase.REFERENCE in counts:
        reference = config.reference_budget
        assert reference is not None  # a reference phase has its own budget
        text += (
            f"; the reference lr {config.reference_lr:g} up to {_epochs(reference['max_epochs'])} "
            f"({reference['lr_schedule']} lr)"
        )
    if config.timeout:
        text += f"; no trial claimed {config.timeout} s after a process starts (timeout)"
    if seeds:
        text += (
            f"; then {seeds} answer seeds of each activation's choice, each up to "
            f"{_epochs(config.replicate_max_epochs)} (patience {config.replicate_patience}, "
            f"{config.replicate_lr_schedule} lr)"
        )
    return text
