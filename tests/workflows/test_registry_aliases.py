"""The registry keeps its word: each study fills a registered model of its own (named as the
study); one rule ranks and registers (the best mean validation accuracy over the answer seeds,
registered as the seed run closest to that mean); an alias moves only to a choice that wins;
the report names what the registry holds; promotion is a checked, recorded command."""

import pandas as pd
import pytest
from optuna.trial import TrialState

from pipeline.cli.main import main
from tests.conftest import client, one_line, write_dataset
from tests.sweeps import run_sweep, study_of, write_config

pytestmark = pytest.mark.slow  # small sweeps, their models exported


def aliases(model: str) -> dict[str, tuple[str, str]]:
    """alias -> (version, run id) of a registered model."""
    found = client().get_registered_model(model)
    return {
        alias: (str(version), client().get_model_version(model, version).run_id)
        for alias, version in found.aliases.items()
    }


def versions(model: str) -> list[tuple[str, str]]:
    found = client().search_model_versions(f"name = '{model}'")
    return sorted((v.version, v.run_id) for v in found)


def expected_by_rule(config) -> dict[str, str]:
    """The rule, computed from the study's own trials: activation -> the replicate run whose
    val_acc is closest to its mean (of equals, the lowest seed); champion -> that of the
    activation with the highest mean."""
    replicates = [
        t
        for t in study_of(config).get_trials(states=[TrialState.COMPLETE])
        if t.user_attrs.get("phase") == "replicate"
    ]
    frame = pd.DataFrame(
        {
            "activation": [t.params["activation"] for t in replicates],
            "seed": [t.user_attrs["seed"] for t in replicates],
            "val_acc": [t.value for t in replicates],
            "run": [t.user_attrs["mlflow_run_id"] for t in replicates],
        }
    )
    chosen, means = {}, frame.groupby("activation")["val_acc"].mean()
    for activation, rows in frame.groupby("activation"):
        distance = (rows["val_acc"] - means[activation]).abs()
        chosen[activation] = rows.assign(d=distance).sort_values(["d", "seed"])["run"].iloc[0]
    return {**chosen, "champion": chosen[means.idxmax()]}


def test_one_rule_ranks_and_registers_and_the_report_says_what_the_registry_holds(
    workdir, tiny_data
):
    config = write_config(workdir, lr=[0.05], replicate_seeds=3)
    assert run_sweep(config, tiny_data) == 0
    held = aliases("tiny")
    assert {alias: run for alias, (_, run) in held.items()} == expected_by_rule(config)
    report = pd.read_csv(workdir / "reports/tiny/registry.csv", dtype={"version": str})
    assert {r.alias: (r.version, r.run_id) for r in report.itertuples()} == held
    assert set(report["basis"]) == {"mean of 3 answer seeds"}
    markdown = (workdir / "reports/tiny/registry.md").read_text()
    assert "closest to that mean" in markdown and "`models:/tiny@champion`" in markdown
    model = client().get_registered_model("tiny")
    assert model.tags["study"] == "tiny" and model.tags["metric"] == "val_acc"
    assert "closest to that mean" in model.tags["rule"] and "study 'tiny'" in model.description
    version = client().get_model_version_by_alias("tiny", "champion")
    assert (
        version.tags["study"] == "tiny" and version.tags["rule_basis"] == "mean of 3 answer seeds"
    )
    assert set(client().get_run(version.run_id).data.params) >= {"seed", "activation"}


def test_a_scratch_study_never_moves_another_studys_aliases(workdir, tiny_data, capsys):
    config = write_config(workdir, lr=[0.05])
    assert run_sweep(config, tiny_data) == 0
    before = aliases("tiny"), versions("tiny")
    scratch = write_config(workdir, study="scratch", lr=[0.3], max_epochs=1, hidden_sizes=[8])
    assert run_sweep(scratch, tiny_data) == 0
    assert (aliases("tiny"), versions("tiny")) == before, "the first study's models stay"
    assert set(aliases("scratch")) == {"relu", "tanh", "champion"}
    capsys.readouterr()
    assert main(["evaluate", "--model-uri", "models:/tiny@relu", "--data-dir", str(tiny_data)]) == 0
    loaded = [line for line in capsys.readouterr().out.splitlines() if line.startswith("loaded:")]
    version, run = before[0]["relu"]
    assert loaded == [f"loaded: registered model tiny version {version} (study tiny), run {run}"]


def test_without_replicates_aliases_move_only_to_a_better_grid_trial(workdir, tiny_data):
    # 2 epochs of the tiny MLP here: lr 0.001 learns less than 0.01 (relu 0.08 against 0.64
    # val_acc, tanh 0.25 against 1.0); lr 0.1 learns more for relu (1.0), as much for tanh.
    config = write_config(workdir, lr=[0.01])
    assert run_sweep(config, tiny_data) == 0
    first = aliases("tiny")
    assert first["champion"] == first["tanh"], "tanh learned more at lr 0.01"
    basis = pd.read_csv(workdir / "reports/tiny/registry.csv")["basis"]
    assert set(basis) == {"the grid's trial alone"}

    write_config(workdir, lr=[0.01, 0.001])  # worse points: nothing moves, nothing is added
    assert run_sweep(config, tiny_data) == 0
    assert aliases("tiny") == first and len(versions("tiny")) == 2

    write_config(workdir, lr=[0.01, 0.001, 0.1])  # relu does better; tanh only as well
    assert run_sweep(config, tiny_data) == 0
    moved = aliases("tiny")
    assert moved["relu"] != first["relu"] and moved["tanh"] == first["tanh"]
    assert moved["champion"] == first["champion"], "a model as good does not take @champion"
    report = pd.read_csv(workdir / "reports/tiny/registry.csv").set_index("alias")
    assert report.loc["relu", "moved"] and not report.loc["champion", "moved"]
    assert len(versions("tiny")) == 3, "one new version, for relu's new best run"


def test_promotion_is_checked_and_recorded(workdir, tiny_data, tmp_path, capsys):
    assert run_sweep(write_config(workdir, lr=[0.05]), tiny_data) == 0
    promote = ["promote", "--model-uri", "models:/tiny@tanh", "--to", "fashion-prod@champion"]
    assert main([*promote, "--reason", "the tiny study's tanh, for the demo"]) == 0
    assert (
        "models:/fashion-prod@champion: version 1, a copy of models:/tiny/"
        in capsys.readouterr().out
    )
    copy = client().get_model_version_by_alias("fashion-prod", "champion")
    source = client().get_model_version_by_alias("tiny", "tanh")
    assert copy.tags["promoted_from"] == f"models:/tiny/{source.version}"
    assert copy.tags["study"] == "tiny" and copy.tags["source_run"] == source.run_id
    assert copy.tags["promoted_why"] == "the tiny study's tanh, for the demo"
    assert "promoted_at" in copy.tags and aliases("tiny")["tanh"][0] == str(source.version)

    three = write_dataset(tmp_path / "three", 120, 60, classes=3)
    other = write_config(workdir, study="three", lr=[0.05], dataset=str(three))
    assert main(["sweep", "--config", str(other), "--no-progress"]) == 0
    capsys.readouterr()
    refused = [*promote[:2], "models:/three@relu", *promote[3:], "--reason", "wrong data"]
    assert main(refused) == 2
    err = one_line(capsys.readouterr().err)
    assert "does not fit fashion-prod@champion: it answers 3 classes" in err
    assert "nothing changed" in err and len(versions("fashion-prod")) == 1
