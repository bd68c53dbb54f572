"""The training flags are made from TrainConfig's fields: one declaration per setting."""

import pytest

from pipeline.cli.commands import STAGES
from pipeline.cli.flags import ALIASES, default_text
from pipeline.cli.main import build_parser, make_config
from pipeline.core.process.environment import read_settings
from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import TrainConfig
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.core.schema.sweep_config import SweepConfig


def train_flags() -> dict[str, tuple[tuple[str, ...], dict]]:
    """The train command's flags by the config key each sets."""
    return {
        options.get("dest", names[0]): (names, options) for names, options in STAGES["train"].flags
    }


def test_every_training_key_has_its_flag_and_its_description_as_help():
    flags = train_flags()
    for key, field in TrainConfig.model_fields.items():
        assert key in flags, f"no flag sets {key}"
        names, options = flags[key]
        assert names == (ALIASES.get(key, "--" + key.replace("_", "-")),)
        assert field.description, f"{key} has no description for its help"
        assert options["help"] == f"{field.description} (default: {default_text(field.default)})"


def config_of(*argv: str) -> TrainConfig:
    values = vars(build_parser().parse_args(["train", *argv]))
    return make_config(values.pop("stage"), values).train


def test_the_flags_the_makefile_and_the_docs_use_still_parse():
    config = config_of(
        *("--epochs", "5", "--lr-schedule", "cosine", "--precision", "bf16-mixed"),
        *("--optimizer", "adam", "--init", "kaiming", "--lr", "0.01", "--activation", "tanh"),
    )
    assert (config.max_epochs, config.lr_schedule, config.precision) == (5, "cosine", "bf16-mixed")
    assert (config.optimizer, config.init, config.lr, config.activation) == (
        "adam", "kaiming", 0.01, "tanh"
    )  # fmt: skip


def test_each_kind_of_field_parses_as_its_type():
    config = config_of(
        *("--label-smoothing", "0.1", "--hidden-sizes", "64, 32", "--batch-size", "16"),
        *("--nesterov", "--val-fraction", "0.25", "--device", "cpu"),
    )
    assert config.label_smoothing == 0.1 and config.hidden_sizes == (64, 32)
    assert config.batch_size == 16 and config.nesterov is True and config.val_fraction == 0.25
    assert config_of("--no-nesterov").nesterov is False
    assert TrainConfig().label_smoothing == 0.0, "the seed's plain cross-entropy by default"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-0.1", "label_smoothing must be a number with 0 <= x < 1, got -0.1"),
        ("1.0", "label_smoothing must be a number with 0 <= x < 1, got 1.0"),
        ("x", "label_smoothing must be a number, got 'x'"),
    ],
)
def test_a_bad_label_smoothing_is_one_line(value, message):
    with pytest.raises(UsageError) as error:
        config_of("--label-smoothing", value)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_worker_reads_its_whole_job_from_the_file_its_sweep_wrote(tmp_path, monkeypatch):
    """`worker --job FILE`: the job as data (workflows/workers.py writes it), read back as the
    same config, the stores from the environment and never from the file."""
    sweep = SweepConfig.from_mapping(
        {"study": "s", "lr": [0.01], "hidden_sizes": [[32, 16], [64]], "label_smoothing": [0, 0.1]}
    )
    job = SweepJobConfig(sweep=sweep, threads=2, progress=False, overrides=("max_epochs=1",))
    path = tmp_path / "worker.job.json"
    path.write_text(job.model_dump_json(exclude={"tracking_uri": True, "sweep": {"storage": True}}))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    monkeypatch.setenv("OPTUNA_STORAGE", "sqlite:///study.db")
    values = vars(build_parser().parse_args(["worker", "--job", str(path)]))
    read = make_config(values.pop("stage"), values, read_settings())
    assert read == job.replace(
        job_file=path,
        tracking_uri="sqlite:///elsewhere.db",
        sweep=sweep.replace(storage="sqlite:///study.db"),
    )
    assert read.sweep.grid == job.sweep.grid


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--job", "missing.json"], "job_file must be a JSON file of a worker's job"),
        (["--job", "."], "job_file must be a JSON file of a worker's job"),
        (["--job", "x.json"], "got 'x.json' (not an object)"),
        (["--job", "x.json", "--threads", "2"], "--job is a worker's whole job: give no other"),
    ],
)
def test_a_bad_job_file_is_one_line(tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.json").write_text("[1]")
    with pytest.raises(UsageError) as error:
        values = vars(build_parser().parse_args(["worker", *argv]))
        make_config(values.pop("stage"), values)
    assert message in str(error.value) and "\n" not in str(error.value)
