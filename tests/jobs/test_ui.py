"""The two ways people use a finished sweep: comparing runs in the MLflow UI (driven in a real
headless Chromium) and reloading the registered models in a fresh process."""

import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli.main import main
from pipeline.core.dataset import data
from pipeline.core.network.model import CHECKPOINT_CONFIG
from pipeline.jobs.ui import dataset_filter, view_key
from tests.browser import needs_browser
from tests.conftest import isolate, one_line, run_cli
from tests.services import free_port, serving, taken_port
from tests.sweeps import run_sweep, write_config

UI_DEADLINE_S = 60  # `mlflow ui` answers after ~10 s here; a minute means it never will


@dataclass
class Trial:
    run_id: str
    name: str
    activation: str
    val_acc: float  # the last epoch's, which the runs table shows
    test_acc: float


@dataclass
class Store:
    """A finished tiny sweep (2 activations x 2 lrs) in its own directory."""

    directory: Path
    experiment_id: str
    parent_id: str
    parent_description: str
    trials: list[Trial]
    champion: Trial
    champion_description: str

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.directory}/mlflow.db"


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_data) -> Store:
    directory = tmp_path_factory.mktemp("sweep-store")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, directory)
        # Tiny trials last about a second: sample the system often enough to see them.
        patch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
        # Small learning rates: 2 epochs leave the trials apart and short of 100% accuracy.
        assert run_sweep(write_config(directory, lr=[0.001, 0.003]), tiny_data) == 0
    client = mlflow.MlflowClient(f"sqlite:///{directory}/mlflow.db")
    experiment_id = client.get_experiment_by_name("activation-study").experiment_id
    parent = client.search_runs([experiment_id], "tags.stage = 'sweep'")[0]
    children = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    trials = [
        Trial(
            r.info.run_id,
            r.info.run_name,
            r.data.params["activation"],
            r.data.metrics["val_acc"],
            r.data.metrics["test_acc"],
        )
        for r in children
    ]
    champion_id = client.get_model_version_by_alias("tiny", "champion").run_id
    return Store(
        directory,
        experiment_id,
        parent.info.run_id,
        parent.data.tags["mlflow.note.content"],
        trials,
        next(t for t in trials if t.run_id == champion_id),
        client.get_run(champion_id).data.tags["mlflow.note.content"],
    )


# --- `python -m pipeline ui`, without a browser ------------------------------------------------


def test_ui_execs_mlflow_on_the_project_store_on_loopback(store, monkeypatch, capsys):
    monkeypatch.chdir(store.directory)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", raising=False)
    started = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append((path, argv, env)))
    port = free_port()

    assert main(["ui", "--port", str(port)]) == 0
    [(path, argv, env)] = started
    assert path == sys.executable and argv[:4] == [sys.executable, "-m", "mlflow", "ui"]
    options = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert options["--backend-store-uri"] == store.uri
    assert options["--host"] == "127.0.0.1" and options["--port"] == str(port)
    assert options["--default-artifact-root"] == str(store.directory / "mlruns")
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    url = re.search(r"^url=(\S+)$", capsys.readouterr().out, re.M).group(1)
    assert url == (
        f"http://127.0.0.1:{port}/#/experiments/{store.experiment_id}/runs"
        "?viewStateShareKey=compare-fashion-mnist&workflowType=machine_learning"
    )

    # The saved view the URL opens: the comparison columns of Fashion-MNIST's runs, best first.
    client = mlflow.MlflowClient(store.uri)
    tag = "mlflow.sharedViewState.compare-fashion-mnist"
    saved = json.loads(client.get_experiment(store.experiment_id).tags[tag])
    state = json.loads(saved["state"])
    assert saved["name"] == "Compare activations on Fashion-MNIST"
    assert state["searchFilter"] == "params.dataset = 'fashion-mnist'"
    assert {
        "params.`dataset`",
        "tags.`sweep`",
        "params.`activation`",
        "params.`lr`",
        "metrics.`val_acc`",
        "metrics.`test_acc`",
        "tags.`trial_state`",
        "tags.`at_chance`",
    } <= set(state["selectedColumns"])
    assert (state["orderByKey"], state["orderByAsc"]) == ("metrics.`best_val_acc`", False)

    # The experiment's kind is model training, as the UI's experiment-type selector stores it.
    kind = client.get_experiment(store.experiment_id).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"

    # A view the user changed in the UI is theirs: starting the UI again keeps it.
    client.set_experiment_tag(store.experiment_id, tag, json.dumps({**saved, "name": "mine"}))
    assert main(["ui", "--port", str(port), "--host", "localhost"]) == 0
    assert json.loads(client.get_experiment(store.experiment_id).tags[tag])["name"] == "mine"
    assert started[-1][1][started[-1][1].index("--host") + 1] == "localhost"
    client.set_experiment_tag(store.experiment_id, tag, json.dumps(saved))


def log_runs(uri: str, datasets: list[str], experiment: str = "activation-study", start=0) -> str:
    """One run per dataset, started in this order from `start`, in `experiment` (made if
    absent); the experiment's id."""
    client = mlflow.MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    for index, dataset in enumerate(datasets):
        run = client.create_run(experiment_id, start_time=1_000 + start + index)
        client.log_param(run.info.run_id, "dataset", dataset)
        client.set_terminated(run.info.run_id)
    return experiment_id


def test_each_dataset_gets_its_own_view_and_the_newest_opens(workdir, monkeypatch, capsys):
    monkeypatch.setattr(os, "execve", lambda path, argv, env: None)
    uri = f"sqlite:///{workdir}/mlflow.db"
    experiment_id = log_runs(uri, ["fashion-mnist", "digits 3/class", "fashion-mnist"])
    log_runs(uri, ["digits 3/class"], start=3)  # the newest run: its dataset's view opens first
    port = free_port()
    assert main(["ui", "--port", str(port)]) == 0

    out = capsys.readouterr().out
    base = f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs?viewStateShareKey="
    [first] = re.findall(r"^url=(\S+)$", out, re.M)
    key = first.removeprefix(base).split("&")[0]
    assert re.fullmatch(r"compare-digits-3-class-[0-9a-f]{8}", key)
    assert f"  runs on Fashion-MNIST: {base}compare-fashion-mnist&" in out
    tags = mlflow.MlflowClient(uri).get_experiment(experiment_id).tags
    views = {k: json.loads(v) for k, v in tags.items() if k.startswith("mlflow.sharedViewState.")}
    assert {name.split(".")[-1] for name in views} == {key, "compare-fashion-mnist"}
    digits = json.loads(views[f"mlflow.sharedViewState.{key}"]["state"])
    assert views[f"mlflow.sharedViewState.{key}"]["name"] == "Compare activations on digits 3/class"
    assert digits["searchFilter"] == "params.dataset = 'digits 3/class'"


def test_an_experiment_without_runs_gets_one_unfiltered_view(workdir, monkeypatch, capsys):
    monkeypatch.setattr(os, "execve", lambda path, argv, env: None)
    uri = f"sqlite:///{workdir}/mlflow.db"
    experiment_id = log_runs(uri, [])
    assert main(["ui", "--port", str(free_port())]) == 0
    assert "viewStateShareKey=compare-activations&" in capsys.readouterr().out
    saved = mlflow.MlflowClient(uri).get_experiment(experiment_id).tags
    state = json.loads(json.loads(saved["mlflow.sharedViewState.compare-activations"])["state"])
    assert state["searchFilter"] == ""


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=20
    )
)
def test_a_views_filter_finds_its_datasets_runs_whatever_the_name(name, workdir):
    """MLflow's filter strings take no escapes: every name, quotes and all, finds its runs, and
    a name with one kind of quote or none finds nothing else."""
    uri = f"sqlite:///{workdir}/mlflow.db"
    other = name + "x"
    experiment_id = log_runs(uri, [name, other], experiment=f"e{len(name)}-{abs(hash(name))}")
    runs = mlflow.MlflowClient(uri).search_runs([experiment_id], dataset_filter(name))
    found = [r.data.params["dataset"] for r in runs]
    assert name in found
    if not ("'" in name and '"' in name):
        assert found == [name]
    assert view_key(name).isascii() and " " not in view_key(name)


def test_ui_for_an_experiment_not_in_the_store_opens_the_start_page(store, monkeypatch, capsys):
    monkeypatch.chdir(store.directory)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(os, "execve", lambda path, argv, env: None)
    port = free_port()
    assert main(["ui", "--port", str(port), "--experiment", "nope"]) == 0
    captured = capsys.readouterr()
    assert f"url=http://127.0.0.1:{port}/\n" in captured.out
    assert "no experiment 'nope'" in captured.err and "activation-study" in captured.err


def test_ui_on_a_taken_port_says_so_and_names_PORT(bare_workdir, capsys):
    with taken_port() as port:
        assert main(["ui", "--port", str(port)]) == 1
    err = one_line(capsys.readouterr().err)
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert "PORT=" in err and "--port" in err
    assert not (bare_workdir / "mlflow.db").exists(), "a refused start touches no store"


@pytest.mark.parametrize(
    ("port", "message"),
    [("0", "port must be an integer in 1..65535, got 0"), ("web", "port must be an integer")],
)
def test_ui_rejects_a_bad_port(workdir, capsys, port, message):
    assert main(["ui", "--port", port]) == 2
    assert message in one_line(capsys.readouterr().err)


# --- the UI in a browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui(store, tmp_path_factory) -> Iterator[str]:
    """`python -m pipeline ui` on a free loopback port, for the tests of this module that need
    it; yields the experiment URL it printed."""
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    command = [sys.executable, "-m", "pipeline", "ui", "--port"]
    with serving(command, store.directory, env, log, "/health", UI_DEADLINE_S):
        yield re.search(r"^url=(\S+)$", log.read_text(), re.M).group(1)


def row(page, run_id: str, column: str):
    """A cell of the runs table: its rows are keyed by run id, its columns by MLflow key."""
    return page.locator(f'.ag-center-cols-container .ag-row[row-id="{run_id}"] [col-id="{column}"]')


def shows_number(cell_text: str, value: float) -> bool:
    """The table shows a metric in full or cut with an ellipsis: 0.8481666… for 0.848166666."""
    shown = cell_text.strip().rstrip(".…")
    return bool(shown) and repr(value).startswith(shown)


@pytest.mark.slow
@needs_browser
def test_comparing_the_sweep_in_the_mlflow_ui(store, ui, page, tmp_path):
    from playwright.sync_api import expect

    base = ui.split("#")[0].rstrip("/")
    experiment = f"{base}/#/experiments/{store.experiment_id}/runs"
    names = sorted(t.name for t in store.trials)

    # The experiment's runs: the sweep's parent run, its 4 trials nested under its expander.
    page.goto(experiment, wait_until="domcontentloaded")
    parent = page.locator(f'.ag-row[row-id="{store.parent_id}"]').filter(has_text="sweep-tiny")
    expect(parent).to_be_visible()
    for name in names:
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    parent.get_by_role("button").first.click()
    for name in names:
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    page.screenshot(path=tmp_path / "1-nested-trials.png")

    # The URL `make ui` prints: the comparison view in the UI's "Model training" mode (its runs
    # page is "Runs" there, "Training runs" in the GenAI mode), every trial with its values and
    # no run on another dataset, however well it did.
    client = mlflow.MlflowClient(store.uri)
    foreign = client.create_run(store.experiment_id, run_name="train-relu-3class").info.run_id
    client.log_param(foreign, "dataset", "digits-3")
    client.log_metric(foreign, "best_val_acc", 0.99)
    client.set_terminated(foreign)
    page.goto(ui, wait_until="domcontentloaded")
    expect(page.get_by_role("link", name=names[0], exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="train-relu-3class", exact=True)).to_have_count(0)
    client.delete_run(foreign)
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    for genai in ("Judges", "Evaluation runs", "Prompts", "Agent versions"):
        expect(page.get_by_role("link", name=genai, exact=True)).to_have_count(0)
    columns = ["params.`dataset`", "tags.`sweep`", "params.`activation`", "params.`lr`"]
    columns += ["metrics.`val_acc`", "metrics.`test_acc`"]
    for column in [*columns, "tags.`trial_state`", "tags.`at_chance`"]:
        header = page.locator(f'.ag-header-cell[col-id="{column}"]')
        expect(header).to_have_text(column.split("`")[1])
        box = header.bounding_box()  # at a glance: on screen, no scrolling to the right
        assert box["x"] + box["width"] <= page.viewport_size["width"], column
    for trial in store.trials:
        expect(page.get_by_role("link", name=trial.name, exact=True)).to_be_visible()
        expect(row(page, trial.run_id, "params.`activation`")).to_have_text(trial.activation)
        expect(row(page, trial.run_id, "params.`dataset`")).to_have_text("fashion-mnist")
        expect(row(page, trial.run_id, "tags.`sweep`")).to_have_text("tiny")
        expect(row(page, trial.run_id, "tags.`trial_state`")).to_have_text("COMPLETE")
        shown = row(page, trial.run_id, "metrics.`val_acc`").inner_text()
        assert shows_number(shown, trial.val_acc), (trial.name, shown, trial.val_acc)
    expect(row(page, store.champion.run_id, "attributes.`Models`")).to_contain_text("tiny")
    page.screenshot(path=tmp_path / "2-comparison-view.png")

    # Two runs selected -> Compare: the compare page with both and its parallel coordinates.
    first, second = store.trials[:2]
    for trial in (first, second):
        page.locator(f'.ag-row[row-id="{trial.run_id}"]').get_by_role(
            "checkbox", name=re.compile("toggle row selection")
        ).check()
    page.get_by_test_id("runs-compare-button").click()
    expect(page.get_by_text("Comparing 2 Runs from 1 Experiment")).to_be_visible()
    assert first.run_id in page.url and second.run_id in page.url
    expect(page.get_by_text("Parallel Coordinates Plot")).to_be_visible()
    for trial in (first, second):
        expect(page.get_by_text(trial.name, exact=True).first).to_be_visible()
    page.screenshot(path=tmp_path / "3-compare.png", full_page=True)

    # The champion's run page in the training layout. MLflow 3.17's UI lays pages out by its
    # GenAI / Model training switch (the URL's workflowType, else the browser's last choice,
    # GenAI at first), not by the experiment's kind: one click, which the browser keeps.
    run_page = f"{experiment}/{store.champion.run_id}"
    page.goto(run_page, wait_until="domcontentloaded")
    expect(page.get_by_role("link", name="Judges")).to_be_visible()  # GenAI, a fresh browser's
    page.get_by_text("Model training", exact=True).click()
    expect(page.get_by_role("link", name="Judges")).to_have_count(0)
    page.goto(run_page, wait_until="domcontentloaded")
    for tab in ("Model metrics", "System metrics"):
        expect(page.get_by_role("tab", name=tab)).to_be_visible()
    for genai in ("Judges", "Evaluation runs", "Prompts", "Agent versions"):
        expect(page.get_by_role("link", name=genai, exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Models", exact=True)).to_be_visible()

    # The champion's run page: description, metrics, and its logged model `model`, registered.
    expect(page.get_by_text(store.champion_description)).to_be_visible()
    metric_row = page.get_by_role("row").filter(has=page.get_by_text("test_acc", exact=True))
    expect(metric_row.first).to_contain_text(repr(store.champion.test_acc))
    models = page.get_by_text(re.compile(r"^Logged models \(1\)$"))
    expect(models).to_be_visible()
    logged = page.get_by_role("row").filter(has=page.get_by_text("model", exact=True))
    expect(logged.filter(has_text="tiny").first).to_be_visible()
    models.scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "4-champion-run.png")
    # MLflow 3 keeps logged models out of the run's artifacts: the checkpoint is there, no model/.
    page.get_by_role("tab", name="Artifacts").click()
    for folder in ("checkpoint", "figures", "histograms"):
        expect(page.get_by_text(folder, exact=True)).to_be_visible()
    expect(page.get_by_text("model", exact=True)).to_have_count(0)
    page.screenshot(path=tmp_path / "5-champion-artifacts.png")

    # A trial's System metrics tab draws what MLflow sampled while it trained.
    page.goto(f"{experiment}/{store.champion.run_id}", wait_until="domcontentloaded")
    page.get_by_role("tab", name="System metrics").click()
    expect(page.get_by_text("cpu_utilization_percentage").first).to_be_visible()
    page.screenshot(path=tmp_path / "6-system-metrics.png")

    # The sweep's parent run says what it is, too, and shows its interactive comparison inline:
    # the page runs in the UI's sandboxed frame, offline, and plotly draws the figure.
    page.goto(f"{experiment}/{store.parent_id}", wait_until="domcontentloaded")
    expect(page.get_by_text(store.parent_description)).to_be_visible()
    page.screenshot(path=tmp_path / "7-parent-run.png")
    page.get_by_role("tab", name="Artifacts").click()
    for folder, name, text in (
        ("results", "lr_response.html", "learning rate"),
        ("figures", "parallel_coordinate.html", "Parallel Coordinate Plot"),
    ):
        page.get_by_text(folder, exact=True).click()
        page.get_by_text(name, exact=True).click()
        expect(page.get_by_text(f"{folder}/{name}", exact=True)).to_be_visible()
        frame = page.frame_locator("iframe.mlflow-html-iframe")
        expect(frame.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        expect(frame.get_by_text(text).first).to_be_visible()
        page.screenshot(path=tmp_path / f"8-{Path(name).stem}.png")


@pytest.mark.slow
def test_ui_with_a_tracking_server_points_at_it_and_starts_nothing(
    store, ui, tmp_path, monkeypatch, capsys
):
    server = ui.split("#")[0].rstrip("/")
    monkeypatch.chdir(tmp_path)  # no local store here: everything comes from the server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("started a second UI"))
    assert main(["ui"]) == 0
    out = capsys.readouterr().out
    assert f"url={server}/#/experiments/{store.experiment_id}/runs?viewStateShareKey=" in out
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()


# --- reloading the registered models ----------------------------------------------------------


def test_the_champion_reloads_in_a_fresh_process_with_its_logged_test_acc(store, tiny_data):
    client = mlflow.MlflowClient(store.uri)
    best_val_acc = {
        t.run_id: client.get_run(t.run_id).data.metrics["best_val_acc"] for t in store.trials
    }
    assert best_val_acc[store.champion.run_id] == max(best_val_acc.values())
    assert 0 < store.champion.test_acc < 1, "a perfect score would not tell models apart"
    result = run_cli(
        "evaluate",
        "--model-uri",
        "models:/tiny@champion",
        "--data-dir",
        str(tiny_data),
        cwd=store.directory,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == f"test_acc={store.champion.test_acc:.4f}"
    per_class = [
        float(re.search(rf"^{re.escape(name)} +(\d\.\d{{4}})$", result.stdout, re.M).group(1))
        for name in data.CLASSES
    ]
    assert all(0 <= accuracy <= 1 for accuracy in per_class)
    # The tiny test set has 20 images of each class, so overall accuracy is the classes' mean.
    assert sum(per_class) / len(per_class) == pytest.approx(store.champion.test_acc, abs=1e-4)


def mismatched_checkpoint(store: Store, tmp_path: Path) -> Path:
    """A trial's checkpoint whose config.json describes other layers than its weights have."""
    directory = Path(
        mlflow.MlflowClient(store.uri).download_artifacts(
            store.trials[0].run_id, "checkpoint", str(tmp_path)
        )
    )
    config = json.loads((directory / CHECKPOINT_CONFIG).read_text())
    config["hidden_sizes"] = [64, 8]
    (directory / CHECKPOINT_CONFIG).write_text(json.dumps(config))
    return directory


@pytest.mark.parametrize(
    ("uri", "code", "message"),
    [
        ("models:/fashion-mlp@nobody", 1, "model models:/fashion-mlp@nobody not found"),
        ("models:/no-such-model@champion", 1, "model models:/no-such-model@champion not found"),
        ("runs:/WITHOUT_MODEL/model", 1, "model runs:/WITHOUT_MODEL/model not found"),
        ("s3://bucket/model", 2, "unsupported model URI 's3://bucket/model'"),
        ("mlruns", 1, "checkpoint is incomplete: config.json missing"),
        ("MISMATCHED", 1, "checkpoint weights do not match its config: fc1.weight has shape"),
    ],
)
def test_evaluate_bad_model_uris_are_one_line(
    store, tiny_data, tmp_path, monkeypatch, capsys, uri, code, message
):
    monkeypatch.chdir(store.directory)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if uri == "MISMATCHED":
        uri = str(mismatched_checkpoint(store, tmp_path))
    if "WITHOUT_MODEL" in uri:  # a trial that was not its activation's best keeps no model
        client = mlflow.MlflowClient(store.uri)
        registered = {v.run_id for v in client.search_model_versions("name = 'tiny'")}
        without = next(t.run_id for t in store.trials if t.run_id not in registered)
        uri, message = (
            uri.replace("WITHOUT_MODEL", without),
            message.replace("WITHOUT_MODEL", without),
        )
    assert main(["evaluate", "--model-uri", uri, "--data-dir", str(tiny_data)]) == code
    assert message in one_line(capsys.readouterr().err)
