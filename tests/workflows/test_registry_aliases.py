"""The registry follows the sweep: fashion-mlp@<activation> points at each activation's best run
and @champion at the best of all; an extended sweep (new grid points) moves an alias only to a
better run, and registers a run once however many sweeps point at it."""

import pytest
from optuna.trial import TrialState

from tests.conftest import client
from tests.sweeps import run_sweep, study_of, write_config

pytestmark = pytest.mark.slow  # three small sweeps, four models exported


def aliases() -> dict[str, tuple[str, str]]:
    """alias -> (version, run id) of fashion-mlp."""
    model = client().get_registered_model("fashion-mlp")
    return {
        alias: (version, client().get_model_version("fashion-mlp", version).run_id)
        for alias, version in model.aliases.items()
    }


def versions() -> list[tuple[str, str]]:
    """(version, run id) of every version of fashion-mlp."""
    found = client().search_model_versions("name = 'fashion-mlp'")
    return sorted((v.version, v.run_id) for v in found)


def best_runs(config) -> dict[str, str]:
    """activation -> the run of its best completed trial (the earliest of equals), and
    champion -> the best of those."""
    best = {}
    for trial in study_of(config).get_trials(states=[TrialState.COMPLETE]):
        activation = trial.params["activation"]
        if activation not in best or trial.value > best[activation].value:
            best[activation] = trial
    top = max(best.values(), key=lambda t: (t.value, -t.number))
    runs = {activation: t.user_attrs["mlflow_run_id"] for activation, t in best.items()}
    return {**runs, "champion": top.user_attrs["mlflow_run_id"]}


def test_aliases_point_at_each_best_run_and_move_only_to_a_better_one(workdir, tiny_data):
    # 2 epochs of the tiny MLP here: lr 0.001 learns less than 0.01 (relu 0.08 against 0.64
    # val_acc, tanh 0.25 against 1.0); lr 0.1 learns more for relu (1.0), as much for tanh.
    config = write_config(workdir, lr=[0.01])
    assert run_sweep(config, tiny_data) == 0
    first = aliases()
    assert {alias: run for alias, (_, run) in first.items()} == best_runs(config)
    assert first["champion"] == first["tanh"], "tanh learned more at lr 0.01"
    assert len(versions()) == 2

    write_config(workdir, lr=[0.01, 0.001])  # worse points: nothing moves, nothing is added
    assert run_sweep(config, tiny_data) == 0
    assert len(study_of(config).get_trials()) == 4
    assert aliases() == first and len(versions()) == 2

    write_config(workdir, lr=[0.01, 0.001, 0.1])  # relu does better; tanh only as well
    assert run_sweep(config, tiny_data) == 0
    moved = aliases()
    assert {alias: run for alias, (_, run) in moved.items()} == best_runs(config)
    assert moved["relu"] != first["relu"] and moved["tanh"] == first["tanh"]
    assert moved["champion"] == first["champion"], "a model as good does not take @champion"
    all_versions = versions()
    assert len(all_versions) == 3, "one new version, for relu's new best run"
    assert len({run for _, run in all_versions}) == len(all_versions), "a run registered twice"
