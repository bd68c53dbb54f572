"""A sweep whose study lives in Optuna's journal file (`storage: journal://...`), end to end:
two worker processes share it, a rerun adds nothing, a late worker finds nothing left."""

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from pipeline.cli.main import main
from tests.conftest import client, runs_of
from tests.sweeps import run_sweep, write_config

pytestmark = pytest.mark.slow  # two worker processes


def journal_study(path) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=JournalStorage(JournalFileBackend(path)))


def test_a_sweep_on_a_journal_file_with_two_workers(workdir, tiny_data, capsys):
    config = write_config(workdir, storage="journal://sweeps/tiny.journal", lr=[0.02, 0.1])
    assert run_sweep(config, tiny_data, "--workers", "2") == 0
    journal = workdir / "sweeps/tiny.journal"
    assert journal.is_file() and not (workdir / "sweeps/tiny.db").exists()
    logs = sorted((workdir / "sweeps/logs").glob("tiny-worker*.log"))
    assert len(logs) == 2 and all("Traceback" not in log.read_text() for log in logs)

    study = journal_study(str(journal))
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    points = sorted((t.params["activation"], t.params["lr"]) for t in trials)
    assert points == [("relu", 0.02), ("relu", 0.1), ("tanh", 0.02), ("tanh", 0.1)]
    workers = {t.user_attrs["worker"] for t in trials}
    assert 1 <= len(workers) <= 2, "trials ran in the worker processes"

    parent_id = study.user_attrs["mlflow_parent_run_id"]
    parent = client().get_run(parent_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["storage"] == "journal:tiny.journal", "a label, not a path"
    children = {r.info.run_id: r for r in runs_of(parent_id)}
    assert set(children) == {t.user_attrs["mlflow_run_id"] for t in trials}
    assert {r.info.status for r in children.values()} == {"FINISHED"}
    assert set(client().get_registered_model("tiny").aliases) == {
        "relu",
        "tanh",
        "champion",
    }

    finished = {t.number: t.datetime_complete for t in trials}
    assert run_sweep(config, tiny_data) == 0  # a rerun: nothing left to do
    assert {t.number: t.datetime_complete for t in journal_study(str(journal)).get_trials()} == (
        finished
    )
    capsys.readouterr()
    worker = ["worker", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]
    assert main(worker) == 0
    assert "no queued trial was left for this worker" in capsys.readouterr().out
    assert len(runs_of(parent_id)) == 4
