"""A team's tracking server with logins (`mlflow server --app-name basic-auth`): a sweep and its
worker processes log to it with the credentials in MLFLOW_TRACKING_USERNAME/PASSWORD; wrong
ones stop the sweep in one line before anything is written."""

import mlflow
import pytest

from tests.conftest import one_line
from tests.services import mlflow_server
from tests.sweeps import SCRATCH, run_sweep, study_of, write_config

pytestmark = pytest.mark.slow  # a server and a sweep of two worker processes

PASSWORD = "a-Long-passw0rd-for-tests"


def test_a_sweep_and_its_workers_log_in_and_wrong_credentials_are_one_line(
    workdir, tiny_data, monkeypatch, capsys
):
    server_dir = workdir / "server"
    server_dir.mkdir()
    with mlflow_server(
        f"sqlite:///{server_dir / 'mlflow.db'}", server_dir, admin_password=PASSWORD
    ) as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
        config = write_config(
            workdir, **SCRATCH, activations=["relu", "tanh"], lr=[0.05], workers=2
        )
        assert run_sweep(config, tiny_data) == 1
        err = one_line(capsys.readouterr().err)
        assert err == (
            f"error: tracking server {server.url} refused the credentials (HTTP 401): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to a user of it\n"
        )
        assert not (workdir / "sweeps").exists(), "no study made before the server answered"

        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
        assert run_sweep(config, tiny_data) == 0
        trials = study_of(config).trials
        assert len(trials) == 2 and all(t.state.is_finished() for t in trials)
        workers = {t.user_attrs["worker"] for t in trials}
        client = mlflow.MlflowClient(server.url)  # with the credentials in the environment
        for trial in trials:
            run = client.get_run(trial.user_attrs["mlflow_run_id"])
            assert run.info.status == "FINISHED" and run.data.tags["sweep"] == "tiny"
        assert len(workers) == 2, "two worker processes, each logged in"
