"""The bad-input catalogue: every way a user can hold it wrong, one test each.

Each case must give one line on stderr naming the problem (and what is allowed), exit code 2 for
usage/config errors or 1 for runtime ones, no traceback, and nothing new in MLflow or the study.
The store they run against already holds a finished sweep, so "nothing new" is a real check.
"""

from pathlib import Path

import pytest

from pipeline.cli.main import main
from tests.cli.broken_inputs import resolve, snapshot
from tests.conftest import REPO, isolate
from tests.sweeps import sweep_config


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_data) -> Path:
    """A working directory with a finished 1-activation x 1-lr sweep in it."""
    directory = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, directory)
        sweep_config(directory, "good.yaml", {})
        assert (
            main(["sweep", "--config", "good.yaml", "--data-dir", str(tiny_data), "--no-progress"])
            == 0
        )
    return directory


T = ["train", "--data-dir", "{data}"]
S = ["sweep", "--data-dir", "{data}", "--no-progress", "--config"]
E = ["evaluate", "--data-dir", "{data}", "--model-uri"]

# (case, argv, environment, exit code, message)
CATALOGUE = [
    (
        "unknown activation",
        [*T, "--activation", "sigmoidd"],
        {},
        2,
        "unknown activation 'sigmoidd'; choose one of: sigmoid, tanh, relu",
    ),
    ("lr = 0", [*T, "--lr", "0"], {}, 2, "lr must be a positive finite number, got 0.0"),
    ("lr < 0", [*T, "--lr", "-0.1"], {}, 2, "lr must be a positive finite number, got -0.1"),
    ("lr NaN", [*T, "--lr", "nan"], {}, 2, "lr must be a positive finite number, got nan"),
    ("lr text", [*T, "--lr", "fast"], {}, 2, "lr must be a number, got 'fast'"),
    (
        "epochs < 1",
        [*T, "--epochs", "0"],
        {},
        2,
        "max_epochs must be an integer in 1..10000, got 0",
    ),
    (
        "batch size < 1",
        [*T, "--batch-size", "0"],
        {},
        2,
        "batch_size must be an integer >= 1, got 0",
    ),
    (
        "patience < 1",
        [*T, "--patience", "0"],
        {},
        2,
        "patience must be an integer in 1..10000, got 0",
    ),
    (
        "hidden sizes empty",
        [*T, "--hidden-sizes", ","],
        {},
        2,
        "hidden_sizes must be a comma-separated list like 512,256",
    ),
    (
        "hidden size zero",
        [*T, "--hidden-sizes", "64,0"],
        {},
        2,
        "hidden_sizes must all be positive integers, got [64, 0]",
    ),
    (
        "hidden size negative",
        [*T, "--hidden-sizes", "64,-8"],
        {},
        2,
        "hidden_sizes must all be positive integers, got [64, -8]",
    ),
    ("threads < 1", [*T, "--threads", "0"], {}, 2, "threads must be an integer in 1..1024, got 0"),
    (
        "a run to redo that is not in the store",
        [*T, "--from-run", "0123456789abcdef0123456789abcdef"],
        {},
        1,
        "run 0123456789abcdef0123456789abcdef is not in the MLflow store sqlite:///",
    ),
    (
        "unknown flag",
        [*T, "--learning-rate", "0.1"],
        {},
        2,
        "unrecognized arguments: --learning-rate 0.1",
    ),
    (
        "YAML syntax error",
        [*S, "{yaml:activations: [relu\n}"],
        {},
        2,
        "broken.yaml: YAML syntax error at line 2",
    ),
    (
        "unknown YAML key",
        [*S, "{sweep:learning_rate=0.1}"],
        {},
        2,
        "unknown key 'learning_rate'; allowed keys: activations, batch_size",
    ),
    (
        "wrong type for a key",
        [*S, "{sweep:max_epochs=ten}"],
        {},
        2,
        "max_epochs must be an integer in 1..10000, got 'ten'",
    ),
    (
        "empty activation list",
        [*S, "{sweep:activations=[]}"],
        {},
        2,
        "activations must be a non-empty list of: sigmoid",
    ),
    (
        "lr range reversed",
        [*S, "{sweep:lr={'low': 0.1, 'high': 0.01}}"],
        {},
        2,
        "lr range is reversed or empty: low 0.1 >= high 0.01",
    ),
    (
        "lr range <= 0",
        [*S, "{sweep:lr={'low': 0, 'high': 0.01}}"],
        {},
        2,
        "lr.low must be a positive finite number, got 0",
    ),
    (
        "trials < 1",
        [*S, "{sweep:lr={'low': 0.001, 'high': 0.1}|trials_per_activation=0}"],
        {},
        2,
        "trials_per_activation must be an integer in 1..1000, got 0",
    ),
    ("config file missing", [*S, "absent.yaml"], {}, 2, "sweep config absent.yaml does not exist"),
    (
        "data dir missing",
        ["train", "--data-dir", "no/such/dir"],
        {},
        2,
        "data directory no/such/dir does not exist",
    ),
    (
        "truncated IDX file",
        ["train", "--data-dir", "{truncated}"],
        {},
        1,
        "train-images-idx3-ubyte is truncated: 470316 bytes, its header promises 600 items",
    ),
    (
        "altered IDX file",
        ["train", "--data-dir", "{altered}"],
        {},
        1,
        "train-images-idx3-ubyte fails its checksum (altered or corrupt)",
    ),
    (
        "dataset folder with a truncated IDX file",
        ["train", "--dataset", "{own:truncated}"],
        {},
        1,
        "train-images-idx3-ubyte is truncated: 46956 bytes, its header promises 60 items",
    ),
    (
        "label count that does not match the images",
        ["train", "--dataset", "{own:labels}"],
        {},
        1,
        "t10k-labels-idx1-ubyte holds 29 labels but t10k-images-idx3-ubyte holds 30 images",
    ),
    (
        "label beyond the names file",
        ["train", "--dataset", "{own:names}"],
        {},
        1,
        "train-labels-idx1-ubyte holds label 2, but classes.txt names 2 classes (labels 0-1)",
    ),
    (
        "a split of zero images",
        ["train", "--dataset", "{own:empty}"],
        {},
        1,
        "t10k-images-idx3-ubyte holds no images; each split needs at least one",
    ),
    (
        "labels with gaps and no names file",
        ["train", "--dataset", "{own:gap}"],
        {},
        1,
        "train-labels-idx1-ubyte never holds label 3, 4, 5, 6, 7 and 247 more of the 256 classes",
    ),
    (
        "a class the training split never shows",
        ["train", "--dataset", "{own:unseen}"],
        {},
        1,
        "train-labels-idx1-ubyte never holds label 2 (c) of the 3 classes (labels 0-2); every "
        "class needs training images",
    ),
    (
        "images that are not 28x28",
        ["train", "--dataset", "{own:32x32}"],
        {},
        1,
        "train-images-idx3-ubyte holds 32x32 images; only 28x28 grey images are supported",
    ),
    (
        "dataset name without a folder",
        ["train", "--dataset", "kmnist"],
        {},
        2,
        "dataset 'kmnist' not found: no folder data/kmnist",
    ),
    (
        "activation module that does not import",
        [*T, "--activation", "no_such_module:snake"],
        {},
        2,
        "activation 'no_such_module:snake': module 'no_such_module' cannot be imported",
    ),
    (
        "activation that changes the shape of its input",
        [*T, "--activation", "{activation:row_sums}"],
        {},
        2,
        "activation 'bad_activations:row_sums' changes the shape of its input: (4, 8) -> (4,)",
    ),
    (
        "sweep of an activation that does not import",
        [*S, "{sweep:activations=['relu', 'no_such_module:snake']}"],
        {},
        2,
        "activation 'no_such_module:snake': module 'no_such_module' cannot be imported",
    ),
    (
        "unreachable tracking URI",
        [*T],
        {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
        1,
        "MLflow tracking server http://127.0.0.1:9 is unreachable",
    ),
    (
        "unknown tracking URI scheme",
        [*T],
        {"MLFLOW_TRACKING_URI": "ftp://host/store"},
        2,
        "MLFLOW_TRACKING_URI 'ftp://host/store' has an unsupported scheme",
    ),
    (
        "a finished study against another MLflow store",
        [*S, "good.yaml"],
        {"MLFLOW_TRACKING_URI": "sqlite:///elsewhere/mlflow.db"},
        1,
        "study 'tiny' logs to MLflow parent run",
    ),
    (
        "storage URL of unknown scheme",
        [*S, "good.yaml"],
        {"OPTUNA_STORAGE": "redis://h/0"},
        2,
        "study storage 'redis://h/0' has an unknown scheme; use sqlite:///PATH",
    ),
    (
        "model URI missing",
        [*E, "runs:/0123456789abcdef/model"],
        {},
        1,
        "model runs:/0123456789abcdef/model not found: Run with id=0123456789abcdef not found",
    ),
    (
        "model alias missing",
        [*E, "models:/fashion-mlp@nobody"],
        {},
        1,
        "model models:/fashion-mlp@nobody not found",
    ),
    (
        "serve a model that is not there",
        ["serve", "--port", "1", "--model-uri", "models:/fashion-mlp@nobody"],
        {},
        1,
        "model models:/fashion-mlp@nobody not found",
    ),
    (
        "promote onto MLflow's reserved alias",
        ["promote", "--model-uri", "models:/tiny@relu", "--to", "prod@latest", "--reason", "x"],
        {},
        2,
        "to must be <registered model>@<alias>",
    ),
    (
        "promote onto a name with a slash",
        ["promote", "--model-uri", "models:/tiny@relu", "--to", "a/b@c", "--reason", "x"],
        {},
        2,
        "to must be <registered model>@<alias>",
    ),
    (
        "promote with an empty reason",
        ["promote", "--model-uri", "models:/tiny@relu", "--to", "prod@champion", "--reason", " "],
        {},
        2,
        "reason must be one line saying why",
    ),
    (
        "promote a model that is not registered",
        ["promote", "--model-uri", "models:/tiny@nobody", "--to", "prod@champion", "--reason", "x"],
        {},
        1,
        "model models:/tiny@nobody not found",
    ),
    (
        "serve a checkpoint",
        ["serve", "--port", "1", "--model-uri", "runs:/0123456789abcdef/checkpoint"],
        {},
        2,
        "runs:/0123456789abcdef/checkpoint is a checkpoint, not an MLflow model",
    ),
    (
        "model URI of the wrong kind",
        [*E, "s3://bucket/model"],
        {},
        2,
        "unsupported model URI 's3://bucket/model'; use runs:/<run_id>/model",
    ),
    (
        "checkpoint config does not match its weights",
        [*E, "{checkpoint}"],
        {},
        1,
        "checkpoint weights do not match its config: fc1.weight has shape [32, 784] in the "
        "weights but [64, 784]",
    ),
]
# Values that would have run, and failed deep inside a run or run twice: refused up front.
HUGE = "100000,100000,100000"
CATALOGUE += [
    ("lr listed twice", [*S, "{sweep:lr=[0.01, 0.01]}"], {}, 2,
     "lr lists 0.01 twice: [0.01, 0.01]; give each learning rate once"),
    ("lr range that rounds to repeats",
     [*S, "{sweep:lr={'low': 0.01, 'high': 0.0100001}|trials_per_activation=3}"], {}, 2,
     "lr range low 0.01 ... high 0.0100001 holds fewer than 3 learning rates"),
    ("lr written without a value", [*S, "{sweep:lr=null}"], {}, 2,
     "lr must be a positive finite number, a non-empty list of them or a range {low: ..., "
     "high: ...}, got None"),
    ("batch size listed as a dimension with a bad value", [*S, "{sweep:batch_size=[32, 0]}"], {},
     2, "batch_size[1] must be an integer >= 1, got 0"),
    ("a range of a setting that has no order", [*S, "{sweep:optimizer={'low': 1, 'high': 2}}"],
     {}, 2, "optimizer must be one value or a list of them; a range {low, high} is for numbers"),
    ("an unknown lr schedule", [*T, "--lr-schedule", "step"], {}, 2,
     "lr_schedule must be one of: constant, cosine, got 'step'"),
    ("an unknown precision", [*T, "--precision", "fp16"], {}, 2,
     "precision must be one of: fp32, bf16-mixed, got 'fp16'"),
    ("label smoothing of 1", [*T, "--label-smoothing", "1.0"], {}, 2,
     "label_smoothing must be a number with 0 <= x < 1, got 1.0"),
    ("label smoothing text", [*T, "--label-smoothing", "x"], {}, 2,
     "label_smoothing must be a number, got 'x'"),
    ("a negative label smoothing in a sweep's list", [*S, "{sweep:label_smoothing=[0.0, -0.1]}"],
     {}, 2, "label_smoothing[1] must be a number with 0 <= x < 1, got -0.1"),
    ("an unknown replicate lr schedule", [*S, "{sweep:replicate_lr_schedule=linear}"], {}, 2,
     "replicate_lr_schedule must be one of: constant, cosine, got 'linear'"),
    ("an unknown sampler", [*S, "{sweep:sampler=cmaes}"], {}, 2,
     "sampler must be one of: grid, random, tpe, gp, got 'cmaes'"),
    ("a sampler with fewer points than trials", [*S, "{sweep:sampler=tpe|lr=[0.1]}"], {}, 2,
     "sampler tpe draws trials_per_activation 4 points per activation from a space of 1"),
    ("activation listed twice", [*S, "{sweep:activations=[relu, relu]}"], {}, 2,
     "activations lists 'relu' twice: ['relu', 'relu']; give each one once"),
    ("model too large for memory", [*T, "--hidden-sizes", HUGE], {}, 2,
     "hidden_sizes [100000, 100000, 100000] make a model of 20,079,700,010 parameters; training "
     "at batch_size 64 needs about 318 GiB, over the limit of 8.0 GiB"),
    ("batch size larger than the training set", [*T, "--batch-size", "100000"], {}, 2,
     "batch_size 100000 is larger than the training set (480 images: 600 minus val_fraction 0.2)"),
    ("val_fraction that empties a split", [*S, "{sweep:val_fraction=0.0001}"], {}, 2,
     "val_fraction 0.0001 leaves no validation images of the 600 in the training file"),
    ("seed out of range", [*T, "--seed", "99999999999999999999"], {}, 2,
     "seed must be an integer in 0..4294967295, got 99999999999999999999"),
    ("epochs over the limit", [*T, "--epochs", "100000"], {}, 2,
     "max_epochs must be an integer in 1..10000, got 100000"),
    ("heartbeat over the limit", [*S, "{sweep:heartbeat_interval=100000}"], {}, 2,
     "heartbeat_interval must be an integer in 1..3600, got 100000"),
    ("workers over the limit", [*S, "good.yaml", "--workers", "1000"], {}, 2,
     "workers must be an integer in 1..64, got 1000"),
    ("threads over the limit", ["worker", "--config", "good.yaml", "--threads", "100000"], {}, 2,
     "threads must be an integer in 1..1024, got 100000"),
    ("worker processes over the limit", ["worker", "--config", "good.yaml", "--workers", "0"],
     {}, 2, "workers must be an integer in 1..64, got 0"),
    ("status of a study not created yet", ["status", "--config", "{sweep:study=later}"], {}, 1,
     "study 'later' does not exist in sqlite:///sweeps/later.db; create it once"),
    ("drain of a study not created yet", ["drain", "--config", "{sweep:study=later}"], {}, 1,
     "study 'later' does not exist in sqlite:///sweeps/later.db; create it once"),
    ("study name too long", [*S, "{sweep:study=" + "s" * 101 + "}"], {}, 2,
     "study must be a name of ASCII letters, digits, '_', '.' or '-' (at most 100 characters"),
    ("YAML key given twice", [*S, "{yaml:lr: [0.1]\nlr: [0.2]\n}"], {}, 2,
     "broken.yaml: key 'lr' is given twice (lines 1 and 2); give each key once"),
    ("sweep file not UTF-8", [*S, "{latin1:study: caf\xe9\n}"], {}, 2,
     "broken.yaml: not UTF-8 text (byte 0xe9 at offset 10); save it as UTF-8 YAML"),
    ("in-memory study storage", [*S, "good.yaml"], {"OPTUNA_STORAGE": "sqlite://"}, 2,
     "study storage 'sqlite://' is an in-memory database, lost when the sweep ends"),
    ("study storage under a file", [*S, "good.yaml"],
     {"OPTUNA_STORAGE": "sqlite:///good.yaml/tiny.db"}, 2,
     "study storage 'sqlite:///good.yaml/tiny.db' cannot be created: 'good.yaml' is a file"),
    ("figures folder is a file", ["curves", "--figures-dir", "good.yaml/figures"], {}, 2,
     "figures_dir must be a folder that can be written, got 'good.yaml/figures': 'good.yaml' is "
     "a file"),
    ("bench output folder is a file", ["bench", "--out", "good.yaml"], {}, 2,
     "out must be a folder that can be written, got 'good.yaml': 'good.yaml' is a file"),
    ("run id malformed", ["analyze", "--run-id", "nope"], {}, 2,
     "run_id must be an MLflow run id (32 hex digits), got 'nope'"),
    ("host malformed", ["ui", "--host", "bad host"], {}, 2,
     "host must be a host name or an IP address (127.0.0.1, ::1, 0.0.0.0), got 'bad host'"),
    ("a finished study rerun with another training setting", [*S, "{sweep:max_epochs=3}"], {}, 1,
     "study 'tiny' was trained with other settings than bad.yaml gives (max_epochs 2 -> 3); its "
     "trials would not compare with new ones: give `study:` in bad.yaml a new name, delete "
     "sweeps/tiny.db to start it afresh, or put the old values back"),
    ("a misspelled sweep key", [*S, "{sweep:optimiser=[sgd]}"], {}, 2,
     "bad.yaml: unknown key 'optimiser' (did you mean 'optimizer'?); allowed keys:"),
    ("a misspelled sampler", [*S, "{sweep:sampler=rando}"], {}, 2,
     "sampler must be one of: grid, random, tpe, gp, got 'rando' (did you mean 'random'?)"),
    ("a misspelled optimizer", [*T, "--optimizer", "adm"], {}, 2,
     "optimizer must be one of: sgd, adam, adamw, got 'adm' (did you mean 'adam'?)"),
    ("a misspelled flag", [*T, "--optimiser", "adam"], {}, 2,
     "unrecognized arguments: --optimiser adam (did you mean '--optimizer'?)"),
    ("a W&B sweep's parameters", [*S, "{sweep:parameters={lr: {min: 0.001, max: 0.1}}}"], {}, 2,
     "bad.yaml: 'parameters' is a W&B sweep key; here each setting is a top-level key"),
    ("a W&B distribution", [*S,
     "{sweep:lr={distribution: log_uniform_values, min: 0.0001, max: 0.1}}"], {}, 2,
     "bad.yaml: lr: {distribution: log_uniform_values, max: 0.1, min: 0.0001} is W&B's form; "
     "here write `lr: {low: 0.0001, high: 0.1, log: true}`"),
    ("a Hydra interval", [*S, "{sweep:lr=tag(log, interval(0.001, 0.1))}"], {}, 2,
     "bad.yaml: lr: tag(log, interval(0.001, 0.1)) is Hydra's form; here write "
     "`lr: {low: 0.001, high: 0.1, log: true}`"),
    ("a Hydra choice", [*S, "{sweep:optimizer=choice(sgd, adam)}"], {}, 2,
     "bad.yaml: optimizer: choice(sgd, adam) is Hydra's form; here write `optimizer: [sgd, adam]`"),
    ("--set without a value", [*S, "good.yaml", "--set", "max_epochs"], {}, 2,
     "--set must be KEY=VALUE (a sweep file's key and a YAML value), got 'max_epochs'"),
    ("--set of a value that is not YAML", [*S, "good.yaml", "--set", "lr=[0.01"], {}, 2,
     "--set 'lr=[0.01': its value is not YAML; write a list as [0.01,0.1]"),
    ("--set of a misspelled key", [*S, "good.yaml", "--set", "max_epoch=3"], {}, 2,
     "good.yaml with --set max_epoch=3: unknown key 'max_epoch' (did you mean 'max_epochs'?)"),
    ("--set of a bad value", [*S, "good.yaml", "--set", "max_epochs=0"], {}, 2,
     "good.yaml with --set max_epochs=0: max_epochs must be an integer in 1..10000, got 0"),
    ("a flag the optimizer does not have", [*T, "--optimizer", "adam", "--momentum", "0.5"], {},
     2, "--momentum is a setting of SGD alone, and the optimizer is adam; drop --momentum, or "
     "train with --optimizer sgd"),
    ("a swept setting no trial's optimizer has", [*S,
     "{sweep:optimizer=[adam, adamw]|momentum=[0.5, 0.9]}"], {}, 2,
     "momentum is swept, but only SGD has it and the sweep's optimizer is adam/adamw; give "
     "momentum one value, or sweep optimizer: [sgd, ...]"),
    ("a misspelled objective", [*S, "{sweep:objective=val_accuracy}"], {}, 2,
     "bad.yaml: objective must be one of: val_acc, val_loss, epoch_seconds, parameters, got "
     "'val_accuracy' (did you mean 'val_acc'?)"),
    ("a cost as the only objective", [*S, "{sweep:objective=[parameters]}"], {}, 2,
     "bad.yaml: objective must be val_acc or val_loss, or a list of one of them and any of "
     "epoch_seconds, parameters, got ['parameters']: one validation measure, first"),
    ("a pruner with a multi-objective study", [*S,
     "{sweep:objective=[val_acc, epoch_seconds]|pruner=median}"], {}, 2,
     "bad.yaml: pruner median does not take a multi-objective study (objective ['val_acc', "
     "'epoch_seconds']): Optuna's pruners judge one value; drop `pruner:` or set pruner: none"),
    ("a time budget of zero", [*S, "{sweep:timeout=0}"], {}, 2,
     "timeout must be an integer in 1..2592000, got 0"),
    ("analysis of a store that is not there", ["analyze", "--data-dir", "{data}"],
     {"MLFLOW_TRACKING_URI": "sqlite:///elsewhere/mlflow.db"}, 1,
     "there is no tracking store"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "argv", "env", "code", "message"), CATALOGUE, ids=[case[0] for case in CATALOGUE]
)
def test_bad_input(store, tiny_data, monkeypatch, capsys, case, argv, env, code, message):
    monkeypatch.chdir(store)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = [resolve(argument, store, tiny_data) for argument in argv]
    monkeypatch.syspath_prepend(str(store / "bad-data" / "code"))
    before = snapshot(store)
    assert main(args) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert snapshot(store) == before, "bad input must not add runs, trials or files"


def test_the_reliability_docs_list_every_case():
    readme = (REPO / "docs/reliability.md").read_text()
    missing = [case for case, *_ in CATALOGUE if f"| {case} |" not in readme]
    assert not missing, f"docs/reliability.md bad-input table lacks: {missing}"


def test_the_reliability_docs_count_the_cases():
    docs = (REPO / "docs/reliability.md").read_text()
    count = len(CATALOGUE)
    assert f"| bad input | {count} cases below," in docs and f"{count}/{count} one line" in docs
