"""`sweep --dry-run` prints what a sweep would train, phase by phase, and about how long, from
an epoch measured here, and writes nothing; `--set KEY=VALUE` changes a sweep-file key for one
run, reaches every worker, and is recorded on the study's parent run; `timeout:` stops claiming,
keeps what finished, says so in the report, and a rerun goes on."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli.main import main
from tests.conftest import client
from tests.sweeps import SCRATCH, run_sweep, study_of, write_config

ESTIMATE = re.compile(
    r"^at most (\d+) trial-epochs; one epoch of (\w+) \(lr ([\d.e-]+), batch (\d+)\) on cpu "
    r"took ([\d.]+) s here with (\d+) thread\(s\): at most ~([\d.]+) min over (\d+) worker\(s\)"
)


def files(directory) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    activations=st.lists(
        st.sampled_from(["relu", "tanh", "elu", "swish"]), min_size=1, max_size=3, unique=True
    ),
    lrs=st.lists(st.sampled_from([0.003, 0.01, 0.03, 0.1]), min_size=1, max_size=3, unique=True),
    max_epochs=st.integers(1, 40),
    seeds=st.integers(0, 5),
    replicate_epochs=st.integers(1, 40),
)
def test_a_dry_run_counts_every_phase_and_writes_nothing(
    workdir, tiny_data, capsys, activations, lrs, max_epochs, seeds, replicate_epochs
):
    config = write_config(
        workdir,
        **SCRATCH,
        activations=activations,
        lr=lrs,
        max_epochs=max_epochs,
        patience=max_epochs,
        replicate_seeds=seeds,
        replicate_max_epochs=replicate_epochs,
    )
    before = files(workdir)
    capsys.readouterr()
    assert run_sweep(config, tiny_data, "--dry-run") == 0
    assert files(workdir) == before, "no study, no store, no report, no cached data"
    plan, counts, space, estimate = capsys.readouterr().out.splitlines()
    assert plan.startswith(f"plan: study tiny: {len(activations)} activations x {len(lrs)} grid")
    phases = f"grid {len(lrs)}" + (f", replicate {seeds}" if seeds else "")
    trials = len(activations) * (len(lrs) + seeds)
    assert counts == f"dry run: nothing written. {trials} trials: per activation {phases}"
    assert space == f"space: sampler grid: lr {lrs}"
    found = ESTIMATE.match(estimate)
    epochs = len(activations) * (len(lrs) * max_epochs + seeds * replicate_epochs)
    assert int(found[1]) == epochs and found[2] == activations[0] and found[4] == "32"
    assert float(found[3]) == lrs[0] and float(found[5]) > 0
    minutes = epochs * float(found[5]) / int(found[8]) / 60
    assert float(found[7]) == pytest.approx(minutes, abs=0.051 + 0.006 * minutes)


@pytest.mark.slow  # a sweep of two workers
def test_set_overrides_the_file_for_the_sweep_and_its_workers(workdir, tiny_data, capsys):
    config = write_config(workdir, **SCRATCH, activations=["relu", "tanh"], workers=2)
    overrides = ["--set", "max_epochs=1", "--set", "lr=[0.05]", "--set", "Patience=1"]
    assert run_sweep(config, tiny_data, *overrides[:4]) == 0
    trials = study_of(config).trials
    assert sorted(t.params["activation"] for t in trials) == ["relu", "tanh"]
    assert {t.params["lr"] for t in trials} == {0.05}
    for trial in trials:
        run = client().get_run(trial.user_attrs["mlflow_run_id"])
        assert run.data.params["max_epochs"] == "1" and run.data.metrics["epochs_trained"] == 1
    parent = client().get_run(study_of(config).user_attrs["mlflow_parent_run_id"])
    assert parent.data.tags["set"] == "max_epochs=1 lr=[0.05]"

    capsys.readouterr()  # a key misspelled in --set: the file's own one-line error, named
    assert run_sweep(config, tiny_data, *overrides) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {config} with --set max_epochs=1 lr=[0.05] Patience=1: unknown key 'Patience' "
        f"(did you mean 'patience'?); allowed keys: {err.split('allowed keys: ')[1]}"
    )
    assert main(["report", "--config", str(config), *overrides]) == 2, "so is report's"


def test_a_dry_run_counts_the_reference_lr_apart_from_the_grid(workdir, tiny_data, capsys):
    config = write_config(
        workdir, **SCRATCH, lr=[0.001, 0.01, 0.1], reference_lr=0.001, reference_max_epochs=13
    )
    assert run_sweep(config, tiny_data, "--dry-run") == 0
    plan, counts, _, estimate = capsys.readouterr().out.splitlines()
    assert "2 activations x 2 grid trials" in plan
    assert "; the reference lr 0.001 up to 13 epochs (constant lr)" in plan
    assert counts == "dry run: nothing written. 6 trials: per activation grid 2, reference 1"
    assert estimate.startswith(f"at most {2 * (2 * 2 + 13)} trial-epochs")


@pytest.mark.slow  # two sweeps
def test_a_time_budget_stops_claiming_keeps_the_work_and_a_rerun_goes_on(
    workdir, tiny_data, capsys
):
    # 40 epochs a trial: the four take well over the budget's second, however fast the host
    config = write_config(
        workdir, **SCRATCH, timeout=1, activations=["relu", "tanh"], lr=[0.02, 0.1],
        max_epochs=40, patience=40,
    )  # fmt: skip
    assert run_sweep(config, tiny_data) == 0
    out = capsys.readouterr().out
    assert "; no trial claimed 1 s after a process starts (timeout)" in out.splitlines()[0]
    finished = [t for t in study_of(config).trials if t.state.is_finished()]
    assert 1 <= len(finished) < 4, "the first claim comes before the budget, the last after it"
    results = (workdir / "reports" / "tiny" / "results.md").read_text()
    got = {a: sum(t.params["activation"] == a for t in finished) for a in ("relu", "tanh")}
    assert (
        "**Cut by the time budget.** `timeout: 1` (seconds) ended this sweep before its end; "
        f"finished trials per activation: relu {got['relu']}, tanh {got['tanh']}."
    ) in results
    assert "**Cut by the time budget.**" in out, "the printed report says so too"

    assert run_sweep(config, tiny_data, "--set", "timeout=600") == 0, "not a setting: a rerun"
    trials = study_of(config).trials
    assert len(trials) == 4 and all(t.state.is_finished() for t in trials)
    assert {t.number for t in finished} <= {t.number for t in trials}, "kept, not redone"
    assert "Cut by" not in (workdir / "reports" / "tiny" / "results.md").read_text()
