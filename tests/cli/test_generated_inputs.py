"""Generated inputs at every key of a sweep file and every flag of every stage.

Each input either builds its stage's config, holding what was typed, or stops in one line
(`error: ...` naming the key, saying what is allowed) with exit code 2; either way it writes
nothing. The keys come from SweepConfig.file_keys() and the flags from the table the parser is
built from (cli/commands.STAGES), so a key or flag added later is covered without a change here.

The command line runs in-process up to its job: `run_stage` is replaced by one that keeps the
config it is given, so a valid input is checked to have built its config, not trained. What
the jobs check against the data, the stores or the ports (before they write anything) is the
catalogue's (test_bad_input.py), end to end.
"""

import argparse
import contextlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import main as cli
from pipeline.cli.commands import STAGES
from pipeline.core.network.activations import NAMES
from pipeline.core.schema import limits
from pipeline.core.schema.search_space import SWEEPABLE
from pipeline.core.schema.sweep_config import SweepConfig
from pipeline.core.schema.yaml_files import read_yaml
from tests.conftest import isolate

# ~60 keys and flags: 20 examples each keep the module within ~15 s of CPU here.
EXAMPLES = settings(max_examples=20, deadline=None)
GOOD = {"study": "tiny", "activations": ["relu"], "lr": [0.05], "max_epochs": 1, "patience": 1}
GOOD.update(hidden_sizes=[16], batch_size=32, pruner="none", workers=1)
# Values a required flag gets while another flag of its stage is generated.
REQUIRED = {"--model-uri": "models:/tiny@champion", "--config": "good.yaml"}
REQUIRED.update({"--to": "prod@champion", "--reason": "the demo"})
# Words by which a message says what is allowed, or how to put it right.
ALLOWED = ("must ", "choose one of", "use ", "allowed", "give ", "name a ", "does not exist",
           "is a folder", "save it as", "see --help", "see sweeps/", "activation is")  # fmt: skip


@dataclass
class Place:
    """The working directory inputs are tried in, and the configs the stopped jobs were given."""

    directory: Path
    data: Path
    built: list = field(default_factory=list)


@pytest.fixture(scope="module")
def place(tmp_path_factory, tiny_data):
    directory = tmp_path_factory.mktemp("generated")
    place = Place(directory, tiny_data)
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, directory)
        patch.setattr(cli, "run_stage", lambda stage, config: place.built.append(config) or 0)
        (directory / "good.yaml").write_text(yaml.safe_dump(GOOD))
        yield place


def files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def run(place: Place, argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr of `python -m pipeline ARGV`, stopped where its job would start;
    it must have written nothing."""
    before = files(place.directory)
    place.built.clear()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    assert files(place.directory) == before, f"{argv} wrote files"
    return code, err.getvalue()


def assert_one_line(code: int, err: str, names: set[str]) -> None:
    """A refused input: exit 2, one line naming one of `names`, saying what is allowed."""
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (code, err)
    message = err.lower()
    assert any(name.lower() in message for name in names if name), f"names none of {names}: {err}"
    assert any(words in message for words in ALLOWED), f"says nothing of what is allowed: {err}"
    assert "must be valid" not in message, err


def same(held, given) -> bool:
    """Whether a config holds what was typed: a list as a tuple, text as a path, an integer
    where a number is asked as that number."""
    if isinstance(held, tuple) and isinstance(given, list | tuple):
        return len(held) == len(given) and all(map(same, held, given))
    if isinstance(held, Path):
        return isinstance(given, str | Path) and held == Path(given)
    if isinstance(held, float) and type(given) is int:
        return held == float(given)
    return held == given


# --- values of every type ----------------------------------------------------------------

EDGE_INTS = [0, 1, -1, 2, 64, 480, 481, 3600, 3601, 10_000, 10_001, 2**31, 2**32 - 1, 2**32]
EDGE_INTS += [2**63, 10**30, limits.MAX_WORKERS + 1, limits.MAX_LRS + 1]
# Hypothesis draws no subnormal floats in a process where torch flushes them to zero (any test
# that trained, before this module); 5e-324 stands for them.
EDGE_FLOATS = [0.0, -0.0, 5e-324, 1e-300, 0.001, 0.05, 0.2, 0.5, 0.9999999, 1.0, -0.1, 1e308]
EDGE_FLOATS += [math.inf, -math.inf, math.nan]
TEXTS = ["", " ", "relu", "tanh", "Relu", "sigmoidd", "1e-3", "0.1", "nan", "inf", "-1", "yes",
         "null", "~", "none", "median", "cpu", "cuda", "auto", "a" * 101, "a" * 100, "-study",
         "study name", "é", "x/y", "..", "sqlite://", "sqlite:///", "sqlite:///s.db",
         "sqlite:///:memory:", "journal://", "journal://.", "s.journal", "redis://h/0",
         "postgresql://u@h/db", "good.yaml/x.db", "/etc/passwd", "0x10", "1_000", "grid",
         "random", "tpe", "gp", "cmaes", "adam", "kaiming"]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EDGE_INTS),
    st.floats(allow_subnormal=False),
    st.sampled_from(EDGE_FLOATS),
    st.text(max_size=12),
    st.sampled_from(TEXTS),
)
with_a_repeat = st.lists(scalars, min_size=1, max_size=3).map(lambda items: [*items, items[0]])
ranges = st.fixed_dictionaries(
    {"low": st.sampled_from(EDGE_FLOATS), "high": st.floats(allow_subnormal=False)},
    optional={"log": scalars},
)
int_ranges = st.fixed_dictionaries(
    {"low": st.sampled_from(EDGE_INTS), "high": st.integers(-2, 10**6)},
    optional={"log": st.booleans()},
)
plausible = st.one_of(
    st.lists(st.sampled_from([*NAMES, "nope"]), max_size=4),
    st.lists(st.sampled_from([0.001, 0.01, 0.05, 0.0100000001, 2.0]), max_size=4),
    st.lists(st.integers(-2, 200_000), max_size=4),
    st.lists(st.sampled_from(["sgd", "adam", "adamw", "kaiming", "xavier", "default", "nope"])),
    st.lists(st.lists(st.integers(-2, 300), max_size=3), max_size=3),  # hidden_sizes' dimension
    ranges,
    int_ranges,
)
yaml_values = st.one_of(
    scalars,
    with_a_repeat,
    plausible,
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=6,
    ),
)
FLAG_TEXTS = [*TEXTS, "1e400", "5,", ",", "relu,relu", "relu,,tanh", "100000,100000,100000",
              "64,0", "/etc/passwd/x", "a" * 300, "::1", "0.0.0.0", "bad host", "runs:/x/model",
              "0123456789abcdef0123456789abcdef"]  # fmt: skip
flag_texts = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=16),
    st.integers().map(str),
    st.sampled_from(EDGE_INTS).map(str),
    st.floats(allow_subnormal=False).map(repr),
    st.sampled_from(FLAG_TEXTS),
    st.lists(st.integers(-5, 10**6).map(str), min_size=1, max_size=4).map(",".join),
)


# --- sweep files -------------------------------------------------------------------------


def expected_in_config(sweep: SweepConfig, key: str, value) -> None:
    """A valid value reaches the config as it was read from the file: nothing coerced. A
    sweepable training key given as a list is a dimension of those values, as a range one of
    trials_per_activation points (in a grid) between its ends, as a scalar a fixed value."""
    dimension = next((d for d in sweep.dimensions if d.key == key), None)
    if key == "trials_per_activation":
        assert len(sweep.lrs) == value
    elif key in SWEEPABLE and isinstance(value, dict):
        assert dimension is not None and len(dimension.values) == sweep.trials_per_activation
        # Its ends at 3 significant digits, as the grid's points are written.
        assert math.isclose(min(dimension.values), value["low"], rel_tol=5e-3), key
        assert math.isclose(max(dimension.values), value["high"], rel_tol=5e-3), key
    elif key in SWEEPABLE and isinstance(value, list) and is_dimension(key, value):
        assert dimension is not None and same(dimension.values, value), key
    elif key == "lr":
        assert same(sweep.lrs, [value]) and same(sweep.train.lr, value)  # 2**53 + 1 is a float
    elif key in SweepConfig.model_fields:
        assert same(getattr(sweep, key), value), key
    else:
        assert dimension is None or len(dimension.values) == 1
        assert same(getattr(sweep.train, key), value), key


def is_dimension(key: str, value: list) -> bool:
    """`hidden_sizes` is a list already: a list of lists is its dimension."""
    return key != "hidden_sizes" or any(isinstance(item, list) for item in value)


@pytest.mark.parametrize("key", SweepConfig.file_keys())
@EXAMPLES
@given(value=yaml_values)
def test_every_sweep_file_key_builds_its_config_or_is_one_line(place, key, value):
    values = {**GOOD, key: value}
    if key == "trials_per_activation":
        values.pop("lr")  # it goes with an lr range, the default one here
    path = place.directory / "generated.yaml"
    path.write_text(yaml.safe_dump(values))
    code, err = run(place, ["sweep", "--config", path.name, "--data-dir", str(place.data)])
    if code == 0:
        [config] = place.built
        expected_in_config(config.sweep, key, read_yaml(path, "sweep config")[key])
    else:
        # An entry of a list may be named for itself: `unknown activation 'x'`.
        assert_one_line(code, err, {key, key.removesuffix("s"), key.partition("_")[0]})


@EXAMPLES
@given(key=st.text(min_size=1, max_size=20).filter(lambda k: k not in SweepConfig.file_keys()))
def test_an_unknown_key_is_named_with_the_allowed_ones(place, key):
    (place.directory / "generated.yaml").write_text(yaml.safe_dump({**GOOD, key: 1}))
    code, err = run(place, ["sweep", "--config", "generated.yaml"])
    assert_one_line(code, err, {"unknown key"})
    assert "allowed keys: " + ", ".join(SweepConfig.file_keys()) in err


@EXAMPLES
@given(key=st.sampled_from(sorted(GOOD)), value=scalars)
def test_a_key_given_twice_is_one_line_naming_it(place, key, value):
    text = yaml.safe_dump(GOOD) + yaml.safe_dump({key: value})
    (place.directory / "generated.yaml").write_text(text)
    code, err = run(place, ["sweep", "--config", "generated.yaml"])
    assert_one_line(code, err, {f"key {key!r} is given twice"})


@EXAMPLES
@given(content=st.text(max_size=60) | st.binary(max_size=60))
def test_any_file_as_a_sweep_config_builds_or_is_one_line(place, content):
    path = place.directory / "generated.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    code, err = run(place, ["sweep", "--config", path.name])
    if code != 0:
        assert_one_line(code, err, {"generated.yaml"})


def test_a_sweep_file_writes_numbers_as_yaml_1_2_does(place):
    """`1e-3` is a number (YAML 1.1 reads it as a string unless written 1.0e-3)."""
    (place.directory / "generated.yaml").write_text("lr: [1e-3, 3E-2, +1e0]\nactivations: [relu]\n")
    assert run(place, ["sweep", "--config", "generated.yaml"])[0] == 0
    assert place.built[0].sweep.lrs == (0.001, 0.03, 1.0)


# --- flags -------------------------------------------------------------------------------

SWITCHES = ("store_true", "store_false", argparse.BooleanOptionalAction)


def flag_rows(switches: bool) -> list[tuple[str, str, dict]]:
    """(stage, flag, options) of every flag that takes a value (or of every switch), once per
    config class: stages that share a config and a flag (the four sweep stages' --config,
    say) parse it alike."""
    rows = {}
    for stage, spec in STAGES.items():
        for names, options in spec.flags:
            if (options.get("action") in SWITCHES) == switches:
                rows.setdefault((spec.config, names[0], repr(options)), (stage, names[0], options))
    return list(rows.values())


VALUED, SWITCHED = flag_rows(switches=False), flag_rows(switches=True)


def key_of(flag: str, options: dict) -> str:
    return options.get("dest") or flag.removeprefix("--").replace("-", "_")


def argv_for(stage: str, flag: str | None, value: str | None = None) -> list[str]:
    """The stage with `flag` (=value) and its other required flags; a sweep file where the
    stage reads one."""
    argv = [stage] if flag is None else [stage, flag if value is None else f"{flag}={value}"]
    needs = {names[0] for names, options in STAGES[stage].flags if options.get("required")}
    if "sweep" in STAGES[stage].config.model_fields:
        needs.add("--config")
    return argv + [part for need in needs - {flag} for part in (need, REQUIRED[need])]


def held(config, key: str):
    """The config's value for a flag's key: the job's own, else its sweep's, else its training
    config's (`train --lr`, `sweep --dataset`)."""
    sweep = getattr(config, "sweep", None)
    for holder in (config, sweep, getattr(config, "train", None), getattr(sweep, "train", None)):
        if holder is not None and key in type(holder).model_fields:
            return getattr(holder, key)
    raise AssertionError(f"no config of {type(config).__name__} holds {key}")


@pytest.mark.parametrize(
    ("stage", "flag", "options"), VALUED, ids=[f"{stage} {flag}" for stage, flag, _ in VALUED]
)
@EXAMPLES
@given(value=flag_texts)
def test_every_flag_of_every_stage_builds_its_config_or_is_one_line(
    place, stage, flag, options, value
):
    argv = argv_for(stage, flag, value)
    code, err = run(place, argv)
    key = key_of(flag, options)
    if code == 0:
        [config] = place.built
        parsed = vars(cli.build_parser().parse_args(argv))[key]
        assert same(held(config, key), parsed), (argv, held(config, key))
    else:
        names = {key, flag.removeprefix("--"), key.rstrip("s")}
        if flag == "--config":
            names |= {"sweep config", value[:20]}
        assert_one_line(code, err, names)


@pytest.mark.parametrize(
    ("stage", "flag", "options"), SWITCHED, ids=[f"{stage} {flag}" for stage, flag, _ in SWITCHED]
)
def test_every_switch_builds_its_config(place, stage, flag, options):
    code, err = run(place, argv_for(stage, flag, None))
    assert code == 0, err
    expected = options.get("action") != "store_false"
    assert held(place.built[0], key_of(flag, options)) is expected


@EXAMPLES
@given(
    stage=st.sampled_from(sorted(STAGES)),
    name=st.from_regex(r"--[a-z][a-z-]{0,15}", fullmatch=True),
)
def test_an_unknown_flag_is_one_line(place, stage, name):
    known = {names[0] for names, _ in STAGES[stage].flags} | {"--debug", "--help"}
    if any(flag.startswith(name) for flag in known):  # argparse takes a known flag's prefix
        return
    code, err = run(place, [*argv_for(stage, None), name, "x"])
    assert_one_line(code, err, {"unrecognized arguments"})


@EXAMPLES
@given(url=st.sampled_from(TEXTS) | st.text(st.characters(exclude_characters="\x00"), max_size=20))
def test_the_study_storage_from_the_environment_builds_or_is_one_line(place, url):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPTUNA_STORAGE", url)
        code, err = run(place, ["sweep", "--config", "good.yaml"])
    if code == 0:
        assert place.built[0].sweep.storage in (url, None)  # an empty variable is no setting
    else:
        assert_one_line(code, err, {"storage"})
