"""Where a finished sweep's time went: per phase (grid, reference, replicates), its trials and
trial-epochs, its wall time, and the worker-seconds each trial-epoch cost, read from the study.

    python -m benchmarks.sweep_phases --config sweeps/activations.yaml

A phase's wall time runs from its first trial's start to its last trial's end (phases overlap
where one worker trains the reference trials while the other starts the replicates).
Worker-seconds are the time workers spent on the phase: a stack's trials start and end together
on one worker, so each stack counts once, from its start to its last trial's end. Worker-seconds
per trial-epoch is the figure that turns a budget of epochs into minutes on the same machine.
Not a test: numbers depend on the machine and its load.
"""

import argparse
from pathlib import Path

from pipeline.adapters import studies
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.vocabulary import Phase


def worker_seconds(trials: list) -> float:
    """The time workers spent on `trials`: each stack (trials claimed together by one worker,
    starting within a second of each other) once."""
    stacks: dict[tuple, list] = {}
    for t in sorted(trials, key=lambda t: t.datetime_start):
        worker = t.user_attrs.get("worker")
        key = next(
            (
                k
                for k in stacks
                if k[0] == worker and abs((t.datetime_start - k[1]).total_seconds()) < 1
            ),
            (worker, t.datetime_start),
        )
        stacks.setdefault(key, []).append(t)
    return sum(
        (max(t.datetime_complete for t in group) - key[1]).total_seconds()
        for key, group in stacks.items()
    )


def phase_rows(study: studies.Study) -> list[str]:
    done = studies.trials(study, *studies.FINISHED)
    rows = []
    for phase in (Phase.GRID, Phase.REFERENCE, Phase.REPLICATE):
        mine = [t for t in done if studies.phase(t) == phase]
        if not mine:
            continue
        wall = max(t.datetime_complete for t in mine) - min(t.datetime_start for t in mine)
        epochs = sum(len(t.intermediate_values) for t in mine)
        per_epoch = worker_seconds(mine) / epochs if epochs else float("nan")
        rows.append(
            f"| {phase} | {len(mine)} | {epochs} | {wall.total_seconds() / 60:.1f} min | "
            f"{per_epoch:.2f} s |"
        )
    first = min(t.datetime_start for t in done)
    last = max(t.datetime_complete for t in done)
    rows.append(
        f"| all | {len(done)} | {sum(len(t.intermediate_values) for t in done)} | "
        f"{(last - first).total_seconds() / 60:.1f} min | |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("sweeps/activations.yaml"))
    args = parser.parse_args()
    config = SweepConfig.load(args.config)
    study = studies.Study(config, create=False, on_orphan=lambda run_id, why: None)
    print("| phase | trials | trial-epochs | wall time | worker-s per trial-epoch |")
    print("|---|---|---|---|---|")
    print("\n".join(phase_rows(study)))


if __name__ == "__main__":
    main()
