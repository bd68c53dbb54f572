"""Where a finished sweep's time went: per phase (grid, replicates), its wall time, its trials
and trial-epochs, and the worker-seconds each trial-epoch cost, read from the study.

    python -m benchmarks.sweep_phases --config sweeps/activations.yaml [--workers 2]

The wall time of a phase runs from its first trial's start to its last trial's end (the grid
from the sweep's first claim; the replicates from the grid's last tell). Worker-seconds per
trial-epoch = wall time x workers / trial-epochs: the figure that turns a budget of epochs into
minutes on the same machine. Not a test: numbers depend on the machine and its load.
"""

import argparse
from pathlib import Path

from optuna.trial import TrialState

from pipeline.adapters import studies
from pipeline.core.config import GRID, REPLICATE
from pipeline.core.sweep_config import SweepConfig


def phase_rows(study: studies.Study, workers: int) -> list[str]:
    done = studies.trials(study, TrialState.COMPLETE, TrialState.PRUNED)
    grid = [t for t in done if studies.phase(t) == GRID]
    grid_end = max(t.datetime_complete for t in grid)
    rows = []
    for phase, start in ((GRID, min(t.datetime_start for t in grid)), (REPLICATE, grid_end)):
        mine = [t for t in done if studies.phase(t) == phase]
        if not mine:
            continue
        wall = (max(t.datetime_complete for t in mine) - start).total_seconds()
        epochs = sum(len(t.intermediate_values) for t in mine)
        per_epoch = wall * workers / epochs if epochs else float("nan")
        rows.append(
            f"| {phase} | {len(mine)} | {epochs} | {wall / 60:.1f} min | {per_epoch:.2f} s |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("sweeps/activations.yaml"))
    parser.add_argument("--workers", type=int, help="default: the sweep file's")
    args = parser.parse_args()
    config = SweepConfig.load(args.config)
    study = studies.Study(config, create=False, on_orphan=lambda run_id, why: None)
    print("| phase | trials | trial-epochs | wall time | worker-s per trial-epoch |")
    print("|---|---|---|---|---|")
    print("\n".join(phase_rows(study, args.workers or config.workers)))


if __name__ == "__main__":
    main()
