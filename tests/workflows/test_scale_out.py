"""Scale-out on real services: one study in PostgreSQL, one MLflow tracking server, and workers
that are separate processes, as they would be on separate machines.

The suite starts the services itself, on loopback (tests/services.py), and stops them by their
process ids; it is skipped only where PostgreSQL or its driver is not installed (`make test`
installs both): an installed PostgreSQL that does not start fails it.
"""

import contextlib
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from pipeline.adapters import studies
from pipeline.cli.main import main
from pipeline.core.process.urls import sqlalchemy_url
from tests.conftest import open_sweep, write_dataset
from tests.services import (
    MlflowServer,
    NotInstalled,
    Postgres,
    free_port,
    leftover_processes,
    mlflow_server,
    throwaway_postgres,
)
from tests.sweeps import SCRATCH, kill_mid_trial, write_config

pytestmark = pytest.mark.slow

PASSWORD = "never-logged"  # trust auth ignores it; it must not show up in MLflow or messages
ACTIVATIONS = ["relu", "tanh", "sigmoid"]
LRS = [0.01, 0.03, 0.1, 0.3]
EPOCH_METRICS = {"train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s"}
FINAL_METRICS = {"best_val_acc", "best_epoch", "test_acc", "test_loss", "train_time_s"}


@dataclass
class Services:
    postgres: Postgres
    mlflow: MlflowServer


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """A throwaway PostgreSQL with databases `optuna` and `mlflow`, and an MLflow server on it."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the PostgreSQL driver is not installed: pip install -e '.[postgres]'")
    groups = []
    with contextlib.ExitStack() as stack:
        try:
            postgres = stack.enter_context(throwaway_postgres(("optuna", "mlflow")))
        except NotInstalled as reason:
            pytest.skip(str(reason))
        groups.append(postgres.process.pid)
        server = stack.enter_context(
            mlflow_server(
                sqlalchemy_url(postgres.url("mlflow")), tmp_path_factory.mktemp("mlflow-server")
            )
        )
        groups.append(server.process.pid)
        yield Services(postgres, server)
    assert leftover_processes(groups) == [], "a service outlived the tests"


def use_services(monkeypatch, services: Services) -> str:
    """Point this process and the workers it starts at the two services; the storage URL."""
    storage = services.postgres.url("optuna", password=PASSWORD)
    monkeypatch.setenv("OPTUNA_STORAGE", storage)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", services.mlflow.url)
    return storage


def start_worker(config: Path, data_dir: Path, cwd: Path) -> subprocess.Popen:
    """`python -m pipeline worker`, what `make worker` runs on each machine."""
    command = [sys.executable, "-m", "pipeline", "worker", "--config", str(config)]
    command += ["--data-dir", str(data_dir), "--threads", "1", "--no-progress"]
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# --- the MLflow REST API, in plain HTTP -----------------------------------------------------


def rest(server: MlflowServer, endpoint: str, body: dict | None = None, **query) -> dict:
    """GET (with `query`) or POST (with a JSON `body`) /api/2.0/mlflow/<endpoint>."""
    url = f"{server.url}/api/2.0/mlflow/{endpoint}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def experiment_id(server: MlflowServer, name: str) -> str | None:
    found = rest(server, "experiments/search", {"filter": f"name = '{name}'", "max_results": 10})
    experiments = found.get("experiments", [])
    return experiments[0]["experiment_id"] if experiments else None


def search_runs(server: MlflowServer, experiment: str, filter_string: str = "") -> list[dict]:
    body = {"experiment_ids": [experiment], "filter": filter_string, "max_results": 1000}
    return rest(server, "runs/search", body).get("runs", [])


def as_dict(entries: list[dict] | None) -> dict[str, str]:
    return {entry["key"]: entry["value"] for entry in entries or []}


# --- the tests ----------------------------------------------------------------------------


def test_three_workers_share_one_study_through_postgresql_and_a_tracking_server(
    services, workdir, tiny_data, monkeypatch
):
    storage = use_services(monkeypatch, services)
    config_path = write_config(
        workdir, **SCRATCH, study="scale", experiment="scale-out", activations=ACTIVATIONS, lr=LRS,
        replicate_seeds=1, replicate_max_epochs=2,
    )  # fmt: skip
    # `make sweep` on the first machine creates the study, its parent run and the queue...
    handle = open_sweep(config_path, create=True)
    assert len(studies.trials(handle.study, TrialState.WAITING)) == 12

    # ...and three workers (separate processes, as on separate machines) share it: the grid,
    # then one replicate per activation, queued once by whichever claimed first after the grid.
    workers = [start_worker(config_path, tiny_data, workdir) for _ in range(3)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err.decode()[-3000:]
    assert leftover_processes([worker.pid for worker in workers]) == []

    # Each trial ran in exactly one worker.
    claimed = [
        int(line.split(":")[0].removeprefix("trial "))
        for out, _ in outputs
        for line in out.decode().splitlines()
        if line.startswith("trial ")
    ]
    assert sorted(claimed) == list(range(15))

    # Optuna, read back from PostgreSQL: the budget, every grid point and replicate once, no
    # number twice.
    study = optuna.load_study(study_name="scale", storage=sqlalchemy_url(storage))
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 15
    assert sorted(t.number for t in trials) == list(range(15))
    points = [(t.params["activation"], t.params["lr"]) for t in trials]
    assert sorted(points[:12]) == sorted((a, lr) for a in ACTIVATIONS for lr in LRS)
    replicates = [t.user_attrs for t in trials[12:]]
    assert [(r["phase"], r["seed"]) for r in replicates] == [("replicate", 43)] * 3
    assert sorted(r["activation"] for r in replicates) == sorted(ACTIVATIONS)

    # MLflow, read back through the server's REST API: one child run per trial under one parent.
    server = services.mlflow
    experiment = experiment_id(server, "scale-out")
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    all_runs = search_runs(server, experiment)
    top_level = [r for r in all_runs if "mlflow.parentRunId" not in as_dict(r["data"]["tags"])]
    assert [r["info"]["run_id"] for r in top_level] == [parent_id]
    children = search_runs(server, experiment, f"tags.mlflow.parentRunId = '{parent_id}'")
    assert len(children) == 15 == len(all_runs) - 1
    by_trial = {int(as_dict(run["data"]["tags"])["optuna.trial"]): run for run in children}
    assert sorted(by_trial) == list(range(15)), "a trial number appears twice or is missing"

    for trial in trials:
        run = by_trial[trial.number]
        run_id = run["info"]["run_id"]
        params, tags = as_dict(run["data"]["params"]), as_dict(run["data"]["tags"])
        metrics = {metric["key"] for metric in run["data"]["metrics"]}
        assert run_id == trial.user_attrs["mlflow_run_id"]
        assert run["info"]["status"] == "FINISHED" and tags["trial_state"] == "COMPLETE"
        assert (params["activation"], float(params["lr"])) == points[trial.number]
        assert tags["phase"] == trial.user_attrs.get("phase", "grid")
        assert params["seed"] == str(trial.user_attrs.get("seed", 42))
        assert metrics >= EPOCH_METRICS | FINAL_METRICS
        # Every worker trained on the data the study recorded (its digest, from the data stage).
        assert study.user_attrs["data_digest"].startswith(params["data_digest"])
        history = rest(server, "metrics/get-history", run_id=run_id, metric_key="val_acc")
        assert [m["step"] for m in history["metrics"]] == [1, 2]
        assert sorted(m["value"] for m in history["metrics"])[-1] == trial.value
        # Artifacts went through the server's proxy into its --artifacts-destination.
        listed = rest(server, "artifacts/list", run_id=run_id)
        assert {"checkpoint", "figures", "histograms"} <= {f["path"] for f in listed["files"]}
        stored = services.mlflow.artifacts / experiment / run_id / "artifacts"
        assert (stored / "figures" / "learning_curves.png").is_file()

    # The storage is a password-free label in the parent run; the password is nowhere.
    parent = rest(server, "runs/get", run_id=parent_id)["run"]
    assert as_dict(parent["data"]["params"])["storage"] == (
        f"postgresql://127.0.0.1:{services.postgres.port}/optuna"
    )
    assert PASSWORD not in json.dumps(all_runs)


def test_sigkill_mid_trial_then_resume_with_postgresql(services, workdir, tiny_data, monkeypatch):
    """kill -9 of a sweep whose study is in PostgreSQL, mid-trial: the rerun fails the trial by
    its heartbeat, retries it once, and completes the grid; its MLflow run is closed KILLED."""
    storage = use_services(monkeypatch, services)
    config = write_config(
        workdir, **SCRATCH, study="killed", experiment="kill-resume", activations=["relu"],
        lr=[0.02, 0.05, 0.1], max_epochs=20, patience=20, heartbeat_interval=1,
    )  # fmt: skip
    open_sweep(config, create=True)  # made here: two first connections would race to make it
    sweep = ["sweep", "--config", str(config), "--data-dir", str(tiny_data), "--no-progress"]
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *sweep], cwd=workdir, stderr=subprocess.PIPE
    )

    def read_trials():
        return optuna.load_study(study_name="killed", storage=sqlalchemy_url(storage)).get_trials()

    [victim] = kill_mid_trial(process, read_trials, completed=1)
    process.wait()
    finished = {t.number: t.datetime_complete for t in read_trials() if t.state.is_finished()}

    assert main(sweep) == 0
    trials = read_trials()
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.params["lr"] for t in completed) == [0.02, 0.05, 0.1]
    assert {t.number: t.datetime_complete for t in trials if t.number in finished} == finished
    assert trials[victim.number].state == TrialState.FAIL
    [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert retry.state == TrialState.COMPLETE and retry.params == victim.params
    runs = search_runs(services.mlflow, experiment_id(services.mlflow, "kill-resume"))
    status = {run["info"]["run_id"]: run["info"]["status"] for run in runs}
    assert status[victim.user_attrs["mlflow_run_id"]] == "KILLED"
    assert "RUNNING" not in status.values()
    orphan = rest(services.mlflow, "runs/get", run_id=victim.user_attrs["mlflow_run_id"])["run"]
    assert as_dict(orphan["data"]["tags"])["stop_reason"].startswith("orphaned")


def test_a_worker_that_starts_before_the_study_exists_says_so(
    services, workdir, tiny_data, monkeypatch
):
    use_services(monkeypatch, services)
    config = write_config(workdir, **SCRATCH, study="not-yet", experiment="worker-first")
    worker = start_worker(config, tiny_data, workdir)
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 1
    message = err.decode()
    assert message.count("\n") == 1, message
    assert "study 'not-yet' does not exist in postgresql://postgres:***@127.0.0.1" in message
    assert "make sweep SWEEP=<config>" in message and "make worker" in message
    assert PASSWORD not in message
    assert experiment_id(services.mlflow, "worker-first") is None, "nothing written in MLflow"


def test_an_unreachable_storage_is_one_line_and_writes_nothing(
    bare_workdir, tiny_data, capsys, monkeypatch
):
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed")
    nobody_listens = free_port()
    monkeypatch.setenv(
        "OPTUNA_STORAGE", f"postgresql://postgres:{PASSWORD}@127.0.0.1:{nobody_listens}/optuna"
    )
    config = write_config(bare_workdir)
    assert main(["sweep", "--config", str(config), "--data-dir", str(tiny_data)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: study storage postgresql://postgres:***@127.0.0.1:{nobody_listens}/optuna "
        "is unreachable: "
    )
    assert err.count("\n") == 1 and PASSWORD not in err, err
    assert not (bare_workdir / "mlflow.db").exists() and not (bare_workdir / "sweeps").exists()


def test_a_worker_before_make_sweep_on_the_default_store_creates_no_file(
    bare_workdir, tiny_data, capsys
):
    config = write_config(bare_workdir)
    assert main(["worker", "--config", str(config), "--data-dir", str(tiny_data)]) == 1
    err = capsys.readouterr().err
    assert "study 'tiny' does not exist in sqlite:///sweeps/tiny.db; create it once" in err
    assert not (bare_workdir / "sweeps").exists() and not (bare_workdir / "mlflow.db").exists()


# Each process: wait for the others, then claim queued trials as fast as it can, telling each at
# once, and keep asking while another process still runs a trial (its end may queue more: the
# grid's last one queues the replicates); print the numbers it got. Two processes printing one
# number = a trial run twice.
CLAIMING_PROCESS = """
import sys, time
from pathlib import Path
from pipeline.adapters import studies
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.workflows.sweep import open_sweep

studies.configure_logging()  # as `python -m pipeline worker` does
config_path, barrier, index = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
handle = open_sweep(SweepJobConfig(sweep=SweepConfig.load(config_path)), create=False)
(barrier / f"ready-{index}").touch()
while not (barrier / "go").exists():
    time.sleep(0.01)
while True:
    claimed = studies.claim(handle.study)
    if not claimed:
        if not studies.pending_count(handle.study):
            break
        continue
    trial = claimed[0]
    handle.study.set_run_id(trial, "none")
    print(trial.number, flush=True)
    handle.study.tell(trial, "COMPLETE", 0.5)
"""


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_processes_claiming_from_one_queue_never_get_the_same_trial(
    store, request, workdir, tiny_data
):
    """SQLite ignores SELECT ... FOR UPDATE: without a lock two processes can both move one
    queued trial to RUNNING (optuna#4002). Here three processes race for 90 queued trials, then
    for the replicates, which whichever claims first after the grid's end queues: once, under
    the study's lock (a lock file; on PostgreSQL the server's advisory lock)."""
    lrs = [round(0.001 * (n + 1), 3) for n in range(45)]
    storage = {}
    if store == "postgresql":
        services = request.getfixturevalue("services")
        storage = {"storage": services.postgres.url("optuna")}
    config = write_config(
        workdir, **SCRATCH, study=f"race-{store}", activations=["relu", "tanh"], lr=lrs,
        replicate_seeds=3,
        **storage,
    )  # fmt: skip
    handle = open_sweep(config, create=True)
    assert len(studies.trials(handle.study, TrialState.WAITING)) == 90
    barrier = workdir / "barrier"
    barrier.mkdir()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMING_PROCESS, str(config), str(barrier), str(index)],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for index in range(3)
    ]
    while len(list(barrier.glob("ready-*"))) < 3 and all(p.poll() is None for p in processes):
        time.sleep(0.05)
    (barrier / "go").touch()
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()[-3000:]
    claimed = [int(n) for out, _ in outputs for n in out.split()]
    assert sorted(claimed) == list(range(96)), "a trial was claimed twice, or queued twice"
    keys = [studies.replicate_key(t) for t in studies.trials(handle.study, of_phase="replicate")]
    # Every grid trial ties at 0.5: each activation's first wins, queued first as the middle of
    # the lrs (their logs' median, 0.023)
    expected = [(a, 0.023, seed) for a in ("relu", "tanh") for seed in (43, 44, 45)]
    assert sorted(keys) == sorted(expected)


def test_a_worker_with_other_data_than_the_study_stops(workdir, tiny_data, capsys):
    config = write_config(workdir, **SCRATCH)
    assert main(["sweep", "--config", str(config), "--data-dir", str(tiny_data)]) == 0
    other = write_dataset(workdir / "other-data", seed=1)
    assert main(["worker", "--config", str(config), "--data-dir", str(other)]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error: this worker's Fashion-MNIST (sha256 ")
    assert "differs from the one study 'tiny' trains on" in err
