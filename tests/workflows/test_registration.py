"""When an alias leaves its holder (workflows/registration.moves), over generated choices:
never for a configuration that scores no better (higher accuracy, lower loss), always where
nothing the rule scores is held, and within one configuration only for the run now closest to
its mean."""

from hypothesis import given
from hypothesis import strategies as st

from pipeline.adapters.studies import Choice
from pipeline.workflows.registration import moves

runs = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=4, unique=True)
scores = st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False)


@st.composite
def choices(draw) -> Choice:
    members = draw(runs)
    return Choice(
        activation=draw(st.sampled_from(["relu", "tanh"])),
        params={},
        score=draw(scores),
        seeds=len(members),
        run_id=draw(st.sampled_from(members)),
        runs=frozenset(members),
    )


@given(choices(), choices(), st.sampled_from("abcdefgh"), st.sampled_from(["val_acc", "val_loss"]))
def test_an_alias_moves_only_to_a_winner_or_within_its_configuration(new, held, holder, objective):
    moved = moves(new, held, holder, objective)
    if held.runs != new.runs:
        wins = new.score > held.score if objective == "val_acc" else new.score < held.score
        assert moved == wins, "another configuration: only a better score (lower loss)"
    else:
        assert moved == (holder != new.run_id), "the same: to the run closest to its mean"


@given(choices(), st.none() | st.sampled_from("abcdefgh"))
def test_an_alias_that_holds_nothing_the_rule_scores_always_moves(new, holder):
    assert moves(new, None, holder, "val_acc")
