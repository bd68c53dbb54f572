"""The study's PostgreSQL, or the MLflow tracking server, restarts while a worker trains: the
worker waits for it (each storage call on its trial made again until the server answers; MLflow's
client retries its requests) and the study goes on, nothing lost."""

import os
import subprocess
import sys
import time

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from pipeline.core.process.urls import sqlalchemy_url
from tests.conftest import client, open_sweep, runs_of
from tests.services import NotInstalled, mlflow_server, throwaway_postgres
from tests.sweeps import SCRATCH, worker_pid, write_config

pytestmark = pytest.mark.slow  # a PostgreSQL cluster and a worker process

EPOCHS = 150  # a few seconds a trial: the restart lands inside one
STUDY = "sqlite:///{}/sweeps/tiny.db"


@pytest.fixture
def postgres():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the PostgreSQL driver is not installed: pip install -e '.[postgres]'")
    try:
        with throwaway_postgres(("optuna",)) as server:
            yield server
    except NotInstalled as reason:
        pytest.skip(str(reason))


def test_a_worker_rides_through_a_postgresql_restart_mid_trial(
    postgres, workdir, tiny_data, monkeypatch
):
    storage = postgres.url("optuna")
    monkeypatch.setenv("OPTUNA_STORAGE", storage)
    config = write_config(
        workdir, **SCRATCH, activations=["relu"], lr=[0.02, 0.1],
        max_epochs=EPOCHS, patience=EPOCHS,
        heartbeat_interval=10,  # its grace (20 s) outlasts the restart: no trial reaped
    )  # fmt: skip
    open_sweep(config, create=True)

    def load() -> optuna.Study:  # a new handle: one from before the restart holds dead connections
        return optuna.load_study(study_name="tiny", storage=sqlalchemy_url(storage))

    study = load()

    command = [sys.executable, "-m", "pipeline", "worker", "--config", str(config)]
    worker = subprocess.Popen(
        [*command, "--data-dir", str(tiny_data), "--no-progress", "--threads", "1"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
    )
    while not (held := [t for t in study.get_trials() if t.intermediate_values]):
        assert worker.poll() is None, worker.communicate()
        time.sleep(0.2)
    postgres.restart(down_s=3)  # sessions cut, 3 s without a server
    study = load()
    during = study.get_trials()[held[0].number]
    _, err = worker.communicate(timeout=300)

    assert during.state == TrialState.RUNNING, "the restart came mid-trial"
    assert worker.returncode == 0 and "Traceback" not in err, err
    done = study.get_trials()
    assert [t.state for t in done] == [TrialState.COMPLETE] * 2
    assert sorted(t.params["lr"] for t in done) == [0.02, 0.1]
    restarted = done[held[0].number]
    assert sorted(restarted.intermediate_values) == list(range(1, EPOCHS + 1)), "no epoch lost"
    assert worker_pid(restarted) == worker.pid
    parent = (
        done[0].user_attrs
        and optuna.load_study(study_name="tiny", storage=sqlalchemy_url(storage)).user_attrs[
            "mlflow_parent_run_id"
        ]
    )
    assert sorted(r.info.status for r in runs_of(parent)) == ["FINISHED"] * 2
    assert client().get_run(restarted.user_attrs["mlflow_run_id"]).info.status == "FINISHED"


def test_a_worker_rides_through_a_tracking_server_restart_mid_trial(workdir, tiny_data):
    server_dir = workdir / "server"
    server_dir.mkdir()
    with mlflow_server(f"sqlite:///{server_dir / 'mlflow.db'}", server_dir) as server:
        # MLflow's client retries a request 7 times, 2 s x 2^n apart by default; 1 s here
        env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
        env["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
        epochs = 30  # each epoch is an HTTP request: the server's restart (~10 s) falls in one
        config = write_config(
            workdir, **SCRATCH, activations=["relu"], lr=[0.05], max_epochs=epochs, patience=epochs
        )
        command = [sys.executable, "-m", "pipeline", "sweep", "--config", str(config)]
        sweep = subprocess.Popen(
            [*command, "--data-dir", str(tiny_data), "--no-progress"],
            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        # The first line comes once the study is made: reading it sooner would race its creation.
        assert sweep.stdout.readline().startswith("plan: "), sweep.communicate()
        study = optuna.load_study(study_name="tiny", storage=STUDY.format(workdir))
        while not any(t.intermediate_values for t in study.get_trials()):
            assert sweep.poll() is None, sweep.communicate()
            time.sleep(0.5)
        server.restart(down_s=3)
        during = [t.state for t in study.get_trials() if t.intermediate_values]
        _, err = sweep.communicate(timeout=300)
        assert TrialState.RUNNING in during, "the restart came mid-trial"
        assert sweep.returncode == 0 and "Traceback" not in err, err
        done = study.get_trials()
        assert [t.state for t in done] == [TrialState.COMPLETE]
        tracking = mlflow.MlflowClient(server.url)
        for trial in done:
            run_id = trial.user_attrs["mlflow_run_id"]
            assert tracking.get_run(run_id).info.status == "FINISHED"
            history = tracking.get_metric_history(run_id, "val_acc")
            assert sorted(m.step for m in history) == list(range(1, epochs + 1)), "no epoch lost"
