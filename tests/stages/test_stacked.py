"""Stacked trials are the same experiments as lone trials: same weights, metrics and stops."""

import math

import pytest
import torch

from pipeline.core.dataset import data
from pipeline.core.network.model import MLP
from pipeline.core.process.errors import UsageError
from pipeline.core.schema.config import TrainConfig
from pipeline.stages import training
from tests.conftest import needs_cuda

# Patience 1 over 3 epochs: some trials stop early (they leave the stack after epoch 2) and
# some run to max_epochs, on the tiny synthetic task.
SMALL = TrainConfig(hidden_sizes=(32, 16), batch_size=32, max_epochs=3, patience=1)
# Activations interleaved on purpose: the stack reorders its slices, the results must not.
GRID = [SMALL.replace(activation=a, lr=lr) for lr in (0.003, 0.03, 0.3) for a in ("tanh", "relu")]


@pytest.fixture(scope="module")
def splits(tiny_data):
    return data.load_splits(tiny_data)


@pytest.fixture(scope="module")
def stacked_grid(splits):
    return training.train_stacked(GRID, splits, progress=False)


def assert_same_weights(a: MLP, b: MLP, tolerance: float) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.allclose(x, y, rtol=tolerance, atol=tolerance), name


@pytest.mark.parametrize("index", range(len(GRID)))
def test_a_stacked_trial_matches_its_lone_run(splits, stacked_grid, index):
    config, result = GRID[index], stacked_grid[index]
    lone = training.train(config, splits, progress=False)
    assert isinstance(result.model, MLP) and result.model.config.activation == config.activation
    # bmm is not bit-equal to F.linear: float tolerance, not equality.
    assert_same_weights(result.model, lone.model, tolerance=1e-4)
    assert (result.stop_reason, result.best_epoch) == (lone.stop_reason, lone.best_epoch)
    assert len(result.history) == len(lone.history)
    for mine, theirs in zip(result.history, lone.history, strict=True):
        assert mine.epoch == theirs.epoch
        assert mine.val_acc == pytest.approx(theirs.val_acc, abs=0.002)
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)
        assert mine.grad_norms == pytest.approx(theirs.grad_norms, rel=1e-3, abs=1e-4)
        # Fractions of 32 or 16 units, of 256 x 32 outputs: a flip of one would show.
        assert mine.unit_health == pytest.approx(theirs.unit_health, abs=1e-3)
        assert mine.as_metrics().keys() == theirs.as_metrics().keys()
    assert result.test_acc == pytest.approx(lone.test_acc, abs=0.002)
    assert result.final_metrics().keys() == lone.final_metrics().keys()


# Adam and AdamW in one stack, each slice with its own lr, weight decay and initialisation.
ADAM_GRID = [
    SMALL.replace(activation="relu", optimizer="adam", lr=0.001, init="default"),
    SMALL.replace(
        activation="tanh", optimizer="adamw", lr=0.003, weight_decay=0.01, init="kaiming"
    ),
    SMALL.replace(
        activation="relu", optimizer="adam", lr=0.0003, weight_decay=0.001, init="xavier"
    ),
]


@pytest.mark.parametrize("index", range(len(ADAM_GRID)))
def test_a_stacked_trial_under_adam_matches_its_lone_run(splits, index):
    """Under Adam too a stacked trial is the same experiment as its lone run (its own state,
    settings and initial weights): per-epoch val accuracy within 0.002, the same stop."""
    results = training.train_stacked(ADAM_GRID, splits, progress=False)
    result, lone = results[index], training.train(ADAM_GRID[index], splits, progress=False)
    assert_same_weights(result.model, lone.model, tolerance=1e-3)
    assert (result.stop_reason, result.best_epoch) == (lone.stop_reason, lone.best_epoch)
    for mine, theirs in zip(result.history, lone.history, strict=True):
        assert mine.val_acc == pytest.approx(theirs.val_acc, abs=0.002)
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)


@pytest.mark.parametrize("grid", [GRID, ADAM_GRID], ids=["sgd", "adam"])
def test_stacked_trials_follow_a_cosine_schedule_as_their_lone_runs_do(splits, grid):
    """Each slice's own lr scaled each epoch, kept when the stack drops the trials that stop
    (patience 1: some leave after epoch 2)."""
    configs = [config.replace(lr_schedule="cosine") for config in grid]
    results = training.train_stacked(configs, splits, progress=False)
    assert {result.stop_reason for result in results} == {"max_epochs", "early_stopping"}
    for config, result in zip(configs, results, strict=True):
        lone = training.train(config, splits, progress=False)
        assert_same_weights(result.model, lone.model, tolerance=1e-3)
        assert (result.stop_reason, result.best_epoch) == (lone.stop_reason, lone.best_epoch)
        for mine, theirs in zip(result.history, lone.history, strict=True):
            assert mine.val_acc == pytest.approx(theirs.val_acc, abs=0.002)
            assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)


# bf16-mixed: tanh and relu at a low and a high lr, the high ones stopping early (patience 1).
BF16_GRID = [
    SMALL.replace(activation=a, lr=lr, precision="bf16-mixed") for lr in (0.003, 0.3)
    for a in ("tanh", "relu")
]  # fmt: skip


def test_a_bf16_mixed_stacked_trial_matches_its_lone_bf16_run(splits):
    """Under bf16 autocast too a stacked trial is its lone run, to float rounding far below
    what bf16 itself moves: the fp32 run of the same config is 10x farther from either."""
    results = training.train_stacked(BF16_GRID, splits, progress=False)
    for config, result in zip(BF16_GRID, results, strict=True):
        lone = training.train(config, splits, progress=False)
        assert_same_weights(result.model, lone.model, tolerance=1e-4)
        assert (result.stop_reason, result.best_epoch) == (lone.stop_reason, lone.best_epoch)
        for mine, theirs in zip(result.history, lone.history, strict=True):
            assert mine.val_acc == pytest.approx(theirs.val_acc, abs=0.002)
            assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)
        fp32 = training.train(config.replace(precision="fp32"), splits, progress=False)
        assert largest_gap(lone.model, fp32.model) > 10 * largest_gap(result.model, lone.model)


def largest_gap(a: MLP, b: MLP) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return max((x - y).abs().max().item() for x, y in pairs)


def test_trials_of_two_precisions_do_not_stack_together(splits):
    configs = [SMALL, SMALL.replace(precision="bf16-mixed")]
    with pytest.raises(UsageError, match="stacked trials must share precision"):
        training.train_stacked(configs, splits, progress=False)


def test_sgd_and_adam_trials_do_not_stack_together(splits):
    with pytest.raises(UsageError, match="one stack cannot mix sgd with adam or adamw"):
        training.train_stacked([SMALL, ADAM_GRID[0]], splits, progress=False)


def test_the_grid_covers_both_stops(stacked_grid):
    """Guards the test above: it must see slices leave the stack and slices stay."""
    reasons = {result.stop_reason for result in stacked_grid}
    assert reasons == {"early_stopping", "max_epochs"}


def test_the_grid_measures_dead_and_saturated_units(stacked_grid):
    """Guards the equality above: the stack's groups each measure their own kind, and the
    fractions are not all zero."""
    for config, result in zip(GRID, stacked_grid, strict=True):
        kind = "saturated_fraction" if config.activation == "tanh" else "dead_fraction"
        for metrics in result.history:
            assert set(metrics.unit_health) == {f"{kind}.act1", f"{kind}.act2"}
    tanh_high, relu_high = stacked_grid[4].history[-1], stacked_grid[5].history[-1]
    assert tanh_high.unit_health["saturated_fraction.act1"] > 0.5
    assert relu_high.unit_health["dead_fraction.act1"] > 0.5


def test_a_diverging_slice_leaves_the_others_untouched(splits):
    # The default shape diverges at lr 50 within epoch 1 (the lone run's test does the same).
    base = TrainConfig(max_epochs=2, patience=2)
    healthy = [base.replace(lr=0.01), base.replace(activation="tanh", lr=0.02)]
    wild = base.replace(lr=50.0)
    with_it = training.train_stacked([healthy[0], wild, healthy[1]], splits, progress=False)
    without = training.train_stacked(healthy, splits, progress=False)

    diverged = with_it[1]
    assert diverged.stop_reason == "diverged"
    assert diverged.diverged_at.startswith("epoch 1, step ")
    assert diverged.history == [] and diverged.best_epoch == 0
    assert math.isnan(diverged.test_acc) and "test_acc" not in diverged.final_metrics()
    for mine, alone in zip([with_it[0], with_it[2]], without, strict=True):
        assert mine.stop_reason == "max_epochs" and len(mine.history) == 2
        # No NaN crossed over: same weights, up to BLAS blocking for another batch count.
        assert_same_weights(mine.model, alone.model, tolerance=1e-6)


def test_a_pruned_slice_stops_and_the_others_run_on(splits):
    keep_going = SMALL.replace(patience=5)  # nothing stops early but the pruned trial
    configs = [keep_going.replace(lr=0.03), keep_going.replace(activation="tanh", lr=0.03)]
    events = []

    class PruneTheFirstAtEpoch2(training.Observer):
        def report(self, trial: int, metrics: training.EpochMetrics) -> None:
            events.append(("report", trial, metrics.epoch))

        def should_prune(self, trial: int) -> bool:
            epoch = events[-1][2]
            events.append(("ask", trial, epoch))
            return trial == 0 and epoch == 2

    pruned, other = training.train_stacked(configs, splits, PruneTheFirstAtEpoch2(), progress=False)
    # Every running trial reports the epoch before any is asked: the pruner sees the whole epoch.
    assert events == [
        ("report", 0, 1), ("report", 1, 1), ("ask", 0, 1), ("ask", 1, 1),
        ("report", 0, 2), ("report", 1, 2), ("ask", 0, 2), ("ask", 1, 2),
        ("report", 1, 3), ("ask", 1, 3),
    ]  # fmt: skip
    assert pruned.stop_reason == "pruned" and len(pruned.history) == 2
    assert math.isnan(pruned.test_acc)
    assert other.stop_reason == "max_epochs" and len(other.history) == 3
    alone = training.train_stacked(configs[1:], splits, progress=False)[0]
    assert_same_weights(other.model, alone.model, tolerance=1e-6)


def test_configs_of_different_shapes_do_not_stack(splits):
    configs = [SMALL, SMALL.replace(batch_size=64, activation="tanh")]
    with pytest.raises(UsageError) as error:
        training.train_stacked(configs, splits, progress=False)
    assert "batch_size" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(UsageError, match="stacked trials must share lr_schedule"):
        training.train_stacked([SMALL, SMALL.replace(lr_schedule="cosine")], splits)
    with pytest.raises(UsageError):
        training.train_stacked([], splits, progress=False)


@needs_cuda
def test_the_graphed_stack_matches_lone_runs_on_cuda(tiny_data):
    """On CUDA the stacked step is a replayed graph, captured again after each compaction."""
    splits = data.load_splits(tiny_data, device="cuda")
    configs = [config.replace(batch_size=64) for config in GRID]
    results = training.train_stacked(configs, splits, progress=False)
    for result, config in zip(results, configs, strict=True):
        lone = training.train(config, splits, progress=False)
        assert (result.stop_reason, result.best_epoch) == (lone.stop_reason, lone.best_epoch)
        assert_same_weights(result.model, lone.model, tolerance=1e-4)
