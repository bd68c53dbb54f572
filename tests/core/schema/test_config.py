import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.process.errors import UsageError
from pipeline.core.schema import limits
from pipeline.core.schema.config import PRECISIONS, TrainConfig
from pipeline.core.schema.job_config import SweepJobConfig
from pipeline.core.schema.search_space import lr_grid
from pipeline.core.schema.settings_changes import changed_settings, describe_changes
from pipeline.core.schema.sweep_config import SWEEP_SETTINGS, SweepConfig


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"activation": "nope"}, "unknown activation 'nope'"),
        ({"lr": 0.0}, "lr must be a positive finite number, got 0.0"),
        ({"lr": -1e-3}, "lr must be a positive finite number"),
        ({"lr": math.nan}, "lr must be a positive finite number, got nan"),
        ({"lr": "0.1"}, "lr must be a positive finite number, got '0.1'"),
        ({"max_epochs": 0}, "max_epochs must be an integer in 1..10000, got 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"patience": 0}, "patience must be an integer in 1..10000, got 0"),
        ({"hidden_sizes": ()}, "hidden_sizes must be a non-empty list"),
        ({"hidden_sizes": (64, 0)}, "hidden_sizes must all be positive integers, got [64, 0]"),
        ({"hidden_sizes": (64, -3)}, "hidden_sizes must all be positive integers"),
        ({"momentum": 1.0}, "momentum must be a number with 0 <= x < 1"),
        ({"device": "tpu"}, "device must be one of: auto, cpu, cuda"),
    ],
)
def test_bad_training_values_say_what_is_allowed(overrides, message):
    with pytest.raises(UsageError) as error:
        TrainConfig(**overrides)
    assert message in str(error.value)


def test_params_use_the_architecture_names():
    params = TrainConfig().params()
    assert set(params) == {
        "activation",
        "optimizer",
        "lr",
        "momentum",
        "nesterov",
        "weight_decay",
        "lr_schedule",
        "init",
        "precision",
        "batch_size",
        "max_epochs",
        "patience",
        "hidden_sizes",
        "seed",
        "device",
        "val_fraction",
        "dataset",
    }
    assert params["hidden_sizes"] == "512,256,256,128" and params["dataset"] == "fashion-mnist"
    assert TrainConfig(activation="elu", lr=0.03).run_name == "train-elu-lr0.03"


@pytest.mark.parametrize("precision", PRECISIONS)
def test_both_precisions_are_training_keys_logged_as_given_and_out_of_the_run_name(precision):
    config = TrainConfig(precision=precision)
    assert config.precision == precision and config.params()["precision"] == precision
    assert config.run_name == "train-relu-lr0.001", "as optimizer and init: a param, not a name"
    assert TrainConfig().precision == "fp32", "the seed's arithmetic by default"


@given(st.text(max_size=12) | st.integers() | st.none() | st.sampled_from(["fp16", "bf16", "tf32"]))
def test_any_other_precision_is_one_line_naming_the_allowed_values(value):
    if isinstance(value, str) and value.lower() in PRECISIONS:
        return  # a name in another case is that name (`BF16-mixed`)
    with pytest.raises(UsageError) as error:
        TrainConfig(precision=value)
    message = str(error.value)
    assert message.startswith(f"precision must be one of: fp32, bf16-mixed, got {value!r}")
    assert "\n" not in message


def test_a_near_miss_precision_gets_a_suggestion():
    with pytest.raises(UsageError) as error:
        TrainConfig(precision="bf16_mixed")
    assert str(error.value) == (
        "precision must be one of: fp32, bf16-mixed, got 'bf16_mixed' (did you mean 'bf16-mixed'?)"
    )


def test_lr_grid_is_log_spaced_with_both_ends():
    assert lr_grid(1e-4, 1e-1, 4) == (1e-4, 1e-3, 1e-2, 1e-1)
    grid = lr_grid(1e-4, 0.3, 5)
    assert grid[0] == 1e-4 and grid[-1] == 0.3 and list(grid) == sorted(grid)


def test_sweep_mapping_builds_grid_and_train_config():
    config = SweepConfig.from_mapping(
        {
            "study": "s1",
            "activations": ["relu", "tanh"],
            "lr": [0.01, 0.1],
            "max_epochs": 2,
            "patience": 1,
            "hidden_sizes": [32],
        }
    )
    assert [(p["activation"], p["lr"]) for p in config.grid] == [
        ("relu", 0.01),
        ("relu", 0.1),
        ("tanh", 0.01),
        ("tanh", 0.1),
    ]
    trial = config.train_config("tanh", 0.1)
    assert (trial.activation, trial.lr, trial.max_epochs, trial.hidden_sizes) == (
        "tanh",
        0.1,
        2,
        (32,),
    )
    ranged = SweepConfig.from_mapping(
        {"lr": {"low": 1e-3, "high": 1e-1}, "trials_per_activation": 3}
    )
    assert ranged.lrs == (1e-3, 1e-2, 1e-1)


def test_an_adam_run_logs_no_sgd_setting_and_describes_its_optimizer():
    """momentum and nesterov are SGD's: a run under Adam does not log them (they took no
    effect), and its description names what did."""
    adam = TrainConfig(optimizer="adamw", lr=0.001, weight_decay=0.01)
    assert "momentum" not in adam.params() and "nesterov" not in adam.params()
    assert adam.params()["optimizer"] == "adamw" and adam.params()["weight_decay"] == "0.01"
    assert adam.describe_optimizer() == "AdamW lr 0.001 weight decay 0.01"
    sgd = TrainConfig(lr=0.01, nesterov=True)
    assert sgd.describe_optimizer() == "SGD lr 0.01 momentum 0.9 (Nesterov)"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"optimizer": "rmsprop"}, "optimizer must be one of: sgd, adam, adamw, got 'rmsprop'"),
        ({"init": "he"}, "init must be one of: default, kaiming, xavier, got 'he'"),
        ({"weight_decay": -0.1}, "weight_decay must be a finite number >= 0, got -0.1"),
        ({"nesterov": True, "momentum": 0.0}, "nesterov needs a momentum above 0"),
    ],
)
def test_bad_optimizer_settings_are_one_line(values, message):
    with pytest.raises(UsageError) as error:
        TrainConfig(**values)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"activation": "tanh", "lr": 1e-05, "hidden_sizes": (32, 16), "seed": 7, "device": "cpu"},
        {"optimizer": "sgd", "momentum": 0.5, "nesterov": True, "init": "kaiming"},
        {"optimizer": "adamw", "weight_decay": 0.01, "batch_size": 32, "val_fraction": 0.1},
        {"precision": "bf16-mixed", "lr_schedule": "cosine"},
    ],
)
def test_a_config_reads_back_from_the_params_it_logged(values):
    """`make train FROM_RUN=<id>` rebuilds a run's config from its MLflow params."""
    config = TrainConfig(**values)
    assert TrainConfig.from_params(config.params()) == config


def test_the_replicate_keys_have_defaults_bounds_and_the_same_seeds_for_all():
    config = SweepConfig.from_mapping({"seed": 7, "replicate_seeds": 3})
    assert config.replicate_seed_list() == (8, 9, 10), "never the grid's own seed"
    assert config.replicate_seed_list(5) == (8, 9, 10, 11, 12)
    assert SweepConfig.from_mapping({"replicate_seeds": 0}).replicate_seed_list() == ()
    defaults = SweepConfig()
    assert (defaults.replicate_max_epochs, defaults.replicate_patience) == (13, 3), "the grid's"
    # A file that budgets its grid and says nothing of replicates trains them as briefly.
    brief = SweepConfig.from_mapping({"max_epochs": 1, "patience": 2})
    assert (brief.replicate_max_epochs, brief.replicate_patience) == (1, 2)
    apart = SweepConfig.from_mapping({"max_epochs": 1, "replicate_max_epochs": 9})
    assert (apart.replicate_max_epochs, apart.replicate_patience) == (9, 3)
    assert defaults.replicate_lr_schedule == "constant", "what replicates did before the key"
    for key, bad, rule in [
        ("replicate_seeds", -1, "an integer in 0..100"),
        ("replicate_max_epochs", 0, "an integer in 1..10000"),
        ("replicate_patience", "ten", "an integer in 1..10000"),
        ("replicate_lr_schedule", "linear", "one of: constant, cosine"),
        ("lr_schedule", "step", "one of: constant, cosine"),
    ]:
        with pytest.raises(UsageError) as error:
            SweepConfig.from_mapping({key: bad}, source="s.yaml")
        assert str(error.value) == f"s.yaml: {key} must be {rule}, got {bad!r}"


def test_a_study_records_every_training_key_but_not_its_grid_or_where_it_runs():
    """Every training key but the grid point and the device, and the pruner's and the
    replicates' budget: a key added to TrainConfig is recorded without a change here."""
    config = SweepConfig.from_mapping({"lr": [0.01, 0.1], "max_epochs": 5, "workers": 2})
    settings = config.recorded_settings()
    assert set(TrainConfig.model_fields) - set(settings) == {"activation", "lr", "device"}
    assert set(settings) - set(TrainConfig.model_fields) == {*SWEEP_SETTINGS, "sampler"}
    assert settings["max_epochs"] == "5" and settings["hidden_sizes"] == "512,256,256,128"
    assert all(isinstance(value, str) for value in settings.values())
    # What a rerun may change and go on: the grid's dimensions, where and how fast it runs.
    extended = SweepConfig.from_mapping(
        {"lr": [0.01, 0.1, 0.3], "activations": ["relu", "elu"], "max_epochs": 5,
         "replicate_seeds": 9, "workers": 4, "stack": 1, "heartbeat_interval": 3,
         "data_dir": "elsewhere", "device": "cpu", "experiment": "other",
         "storage": "sqlite:///other.db"}
    )  # fmt: skip
    assert changed_settings(settings, extended.recorded_settings()) == {}
    adam = SweepConfig.from_mapping({"lr": [0.01], "max_epochs": 5, "optimizer": "adam"})
    assert changed_settings(settings, adam.recorded_settings()) == {"optimizer": ("sgd", "adam")}
    # A study recorded before the lr schedule was a key trained at a held lr: a file that now
    # asks for a cosine (on the grid or the replicates) asks for another experiment.
    old = {k: v for k, v in settings.items() if k not in ("lr_schedule", "replicate_lr_schedule")}
    assert changed_settings(old, settings) == {}
    cosine = SweepConfig.from_mapping(
        {"lr": [0.01], "max_epochs": 5, "replicate_lr_schedule": "cosine"}
    )
    assert changed_settings(old, cosine.recorded_settings()) == {
        "replicate_lr_schedule": ("constant", "cosine")
    }


def test_a_study_records_its_space_and_a_swept_key_is_no_fixed_value():
    """A grid's listed setting may gain values on a rerun; a setting that starts or stops being
    swept, another sampler, or a sampler's changed choices or range is another study."""
    grid = SweepConfig.from_mapping({"lr": [0.01], "batch_size": [32, 64]})
    settings = grid.recorded_settings()
    assert "batch_size" not in settings and settings["space.batch_size"] == "a grid's list"
    wider = SweepConfig.from_mapping({"lr": [0.01, 0.1], "batch_size": [32, 64, 128]})
    assert changed_settings(settings, wider.recorded_settings()) == {}
    fixed = SweepConfig.from_mapping({"lr": [0.01], "batch_size": 32})
    assert changed_settings(settings, fixed.recorded_settings()) == {"batch_size": ("64", "32")}
    assert "space.batch_size" in changed_settings(fixed.recorded_settings(), settings)
    sampled = {"sampler": "tpe", "lr": {"low": 0.001, "high": 0.1}, "trials_per_activation": 5}
    tpe = SweepConfig.from_mapping(sampled).recorded_settings()
    assert tpe["space.lr"] == "lr 0.001..0.1 (log)"
    assert changed_settings(settings, tpe)["sampler"] == ("grid", "tpe")
    more = SweepConfig.from_mapping({**sampled, "trials_per_activation": 9}).recorded_settings()
    assert changed_settings(tpe, more) == {}, "more trials per activation go on"
    other = SweepConfig.from_mapping({**sampled, "lr": {"low": 0.001, "high": 0.3}})
    assert changed_settings(tpe, other.recorded_settings()) == {
        "space.lr": ("lr 0.001..0.1 (log)", "lr 0.001..0.3 (log)")
    }


def test_a_setting_the_record_lacks_counts_as_its_default():
    """A key added to the code after a study was made: its default is what the study ran with."""
    current = SweepConfig.from_mapping({"max_epochs": 5, "patience": 4}).recorded_settings()
    recorded = {k: v for k, v in current.items() if k not in ("patience", "max_epochs")}
    assert changed_settings(recorded, current) == {
        "max_epochs": (str(TrainConfig().max_epochs), "5"),
        "patience": (str(TrainConfig().patience), "4"),
    }
    assert (
        describe_changes(changed_settings(recorded, current))
        == "max_epochs 13 -> 5, patience 3 -> 4"
    )
    assert changed_settings({**current, "retired_key": "1"}, current) == {}


def test_replicate_seeds_must_stay_seeds_a_run_can_take():
    top = limits.MAX_SEED
    assert (
        SweepConfig.from_mapping({"seed": top - 3, "replicate_seeds": 3}).replicate_seed_list()[-1]
        == top
    )
    with pytest.raises(UsageError) as error:
        SweepConfig.from_mapping({"seed": top - 2, "replicate_seeds": 3}, source="s.yaml")
    assert str(error.value) == (
        f"s.yaml: replicate_seeds must leave the last replicate seed at most {top} (they count "
        f"up from seed + 1, skipping design_seeds), got seed {top - 2} and replicate_seeds 3: "
        f"the last would be {top + 1}"
    )
    sweep = SweepConfig.from_mapping({"seed": top - 2, "replicate_seeds": 0})
    assert SweepJobConfig(sweep=sweep, seeds=2).seeds == 2
    with pytest.raises(UsageError, match=r"^seeds must leave the last replicate seed at most"):
        SweepJobConfig(sweep=sweep, seeds=3)
    # design seeds are skipped, so they push the last replicate seed up
    skipping = {"seed": top - 4, "replicate_seeds": 3, "design_seeds": [top - 3]}
    assert SweepConfig.from_mapping(skipping).replicate_seed_list() == (top - 2, top - 1, top)
    with pytest.raises(UsageError, match=f"the last would be {top + 1}$"):
        SweepConfig.from_mapping({**skipping, "design_seeds": [top - 3, top - 1]})


def test_the_answer_seeds_skip_the_design_seeds_and_a_bad_design_seed_is_one_line():
    config = SweepConfig.from_mapping({"seed": 42, "replicate_seeds": 4, "design_seeds": [43, 45]})
    assert config.replicate_seed_list() == (44, 46, 47, 48)
    assert config.replicate_seed_list(2) == (44, 46)
    for bad in ([-1], ["43"], 43, [1.5]):
        with pytest.raises(UsageError, match=r"^s\.yaml: design_seeds must be a list of seeds"):
            SweepConfig.from_mapping({"design_seeds": bad}, source="s.yaml")
