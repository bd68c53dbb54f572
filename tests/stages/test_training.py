import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.core.dataset import data
from pipeline.core.network.model import build_model
from pipeline.core.process.device import configure_torch
from pipeline.core.schema.config import TrainConfig
from pipeline.stages import lone, training
from pipeline.stages.probe import PROBE_BATCH_SIZE
from tests.conftest import needs_cuda, needs_real_data

SMALL = {"hidden_sizes": (32, 16), "batch_size": 32}


@pytest.fixture(scope="module")
def splits(tiny_data):
    return data.load_splits(tiny_data)


def test_training_learns_the_synthetic_task(splits):
    result = training.train(TrainConfig(lr=0.05, max_epochs=4, **SMALL), splits, progress=False)
    assert result.stop_reason in ("max_epochs", "early_stopping")
    assert result.best_val_acc > 0.9 and result.test_acc > 0.9
    assert [m.epoch for m in result.history] == list(range(1, len(result.history) + 1))
    assert set(result.history[0].grad_norms) == {"fc1", "fc2", "fc3"}
    assert result.final_metrics().keys() == {
        "best_val_acc",
        "best_epoch",
        "test_acc",
        "test_loss",
        "train_time_s",
        "time_to_best_s",
        "chance_acc",
        "epochs_trained",
        "best_val_loss",
        "epoch_seconds",
        "parameters",
    }
    final, history = result.final_metrics(), result.history
    assert final["epochs_trained"] == len(history)
    assert final["best_val_loss"] == min(m.val_loss for m in history)
    assert final["epoch_seconds"] == pytest.approx(
        sum(m.epoch_time_s for m in history) / len(history)
    )
    assert final["parameters"] == (784 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
    assert not result.at_chance and result.has_best_weights


def test_same_seed_gives_identical_metrics(splits):
    config = TrainConfig(lr=0.02, max_epochs=2, **SMALL)
    first, second = (training.train(config, splits, progress=False) for _ in range(2))
    strip = [m.as_metrics() | {"epoch_time_s": 0} for m in first.history]
    again = [m.as_metrics() | {"epoch_time_s": 0} for m in second.history]
    assert strip == again and first.test_acc == second.test_acc


@pytest.mark.parametrize(("activation", "lr"), [("relu", 0.03), ("tanh", 0.3)])
def test_each_epoch_probes_gradient_norms_and_unit_health(splits, activation, lr):
    """The probe's numbers, computed again by hand on the probe batch with the weights after
    the epoch (one epoch: the model keeps them)."""
    config = TrainConfig(activation=activation, lr=lr, max_epochs=1, patience=1, **SMALL)
    result = training.train(config, splits, progress=False)
    model, epoch = result.model, result.history[0]
    x, y = splits.train_x[:PROBE_BATCH_SIZE], splits.train_y[:PROBE_BATCH_SIZE]
    layers = model.linear_layers()
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), [m.weight for m in layers.values()])
    norms = {name: grad.norm().item() for name, grad in zip(layers, grads, strict=True)}
    expected, h = {}, x.flatten(1)
    with torch.no_grad():
        for index in (1, 2):
            pre = getattr(model, f"fc{index}")(h)
            h = getattr(model, f"act{index}")(pre)
            if activation == "relu":  # dead: no image of the batch gives it a positive input
                dead = (pre.max(dim=0).values <= 0).float().mean().item()
                expected[f"dead_fraction.act{index}"] = dead
            else:  # saturated: within 1% of tanh's range (2) from -1 or 1
                expected[f"saturated_fraction.act{index}"] = (h.abs() >= 0.98).float().mean().item()
    assert epoch.grad_norms == pytest.approx(norms, rel=1e-5)
    assert epoch.unit_health == pytest.approx(expected, abs=1e-6)
    assert max(expected.values()) > 0.2, "a test of zeros would prove little"
    metrics = epoch.as_metrics()
    assert {key: metrics[key] for key in expected} == epoch.unit_health


def test_early_stopping_waits_patience_epochs_and_restores_the_best(splits, monkeypatch):
    """val_acc is scripted: best at epoch 2, then 3 epochs without improvement with patience 3."""
    scripted = iter([0.50, 0.70, 0.60, 0.70, 0.65, 0.99, 0.99])
    snapshots = {}
    real_evaluate = lone.evaluate

    def fake_evaluate(model, x, y):
        if x is splits.test_x:
            return real_evaluate(model, x, y)
        snapshots[len(snapshots) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return 1.0, next(scripted)

    monkeypatch.setattr(lone, "evaluate", fake_evaluate)
    result = training.train(
        TrainConfig(lr=0.01, max_epochs=10, patience=3, **SMALL), splits, progress=False
    )
    assert result.stop_reason == "early_stopping"
    assert len(result.history) == 5  # epochs 3, 4, 5 did not beat epoch 2 (0.70 ties do not count)
    assert result.best_epoch == 2 and result.best_val_acc == 0.70
    best = snapshots[2]
    assert all(torch.equal(v, best[k]) for k, v in result.model.state_dict().items())
    assert result.time_to_best_s < result.train_time_s


class PruneAt(training.Observer):
    """Records the epochs reported, and prunes at `epoch`."""

    def __init__(self, calls: list, epoch: int):
        self.calls, self.epoch = calls, epoch

    def report(self, trial, metrics):
        self.calls.append(metrics.epoch)

    def should_prune(self, trial):
        return self.calls[-1] == self.epoch


def test_a_pruning_callback_stops_training_without_testing(splits):
    calls = []
    result = training.train(
        TrainConfig(lr=0.01, max_epochs=5, **SMALL),
        splits,
        PruneAt(calls, epoch=2),
        progress=False,
    )
    assert calls == [1, 2] and result.stop_reason == "pruned"
    assert math.isnan(result.test_acc) and "test_acc" not in result.final_metrics()


def test_divergence_stops_at_the_first_non_finite_loss(splits):
    result = training.train(TrainConfig(lr=50.0, max_epochs=5), splits, progress=False)
    assert result.stop_reason == "diverged"
    assert result.diverged_at.startswith("epoch 1, step ")
    assert result.history == [] and result.best_epoch == 0
    assert not result.has_best_weights, "no epoch finished: nothing worth a checkpoint"


def test_a_run_that_learned_nothing_is_at_chance(splits):
    """Chance is what always answering the commonest validation class scores; a deep sigmoid
    network at lr 1e-4 answers one class for every image after an epoch, like the seed's
    sigmoid at 1e-3 on the real data."""
    labels = splits.val_y
    commonest = torch.bincount(labels).max().item() / len(labels)
    assert lone.chance_accuracy(labels) == commonest
    config = TrainConfig(activation="sigmoid", lr=1e-4, max_epochs=1, batch_size=32)
    result = training.train(config, splits, progress=False)
    assert result.chance_acc == commonest and result.best_val_acc <= commonest
    assert result.at_chance and result.final_metrics()["chance_acc"] == commonest
    above = training.TrainResult(
        result.model, [], "max_epochs", 1, commonest + 0.06, chance_acc=0.1
    )
    assert not above.at_chance


DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_fast_loop_matches_a_plain_reference_loop(tiny_data, device, schedule):
    """Speed must not change what is learned: the training stage (on CUDA a replayed graph,
    captured again when the schedule moves the lr) and a plain loop (under a cosine schedule,
    torch's CosineAnnealingLR stepped each epoch) give the same weights with the same seed,
    here after three epochs whose last batch is smaller than the others."""
    splits = data.load_splits(tiny_data, device=device)
    config = TrainConfig(lr=0.05, max_epochs=3, patience=3, batch_size=64, lr_schedule=schedule)
    result = training.train(config, splits, progress=False)
    assert result.best_epoch == 3, "the comparison must span the schedule's epochs"
    fast = result.model

    reference = build_model(config.activation, config.hidden_sizes, seed=config.seed).to(device)
    optimizer = torch.optim.SGD(reference.parameters(), lr=config.lr, momentum=config.momentum)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_epochs)
    shuffle = torch.Generator(device=device).manual_seed(config.seed)
    for _ in range(result.best_epoch):
        order = torch.randperm(len(splits.train_y), device=device, generator=shuffle)
        reference.train()
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = F.cross_entropy(reference(splits.train_x[batch]), splits.train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if schedule == "cosine":
            annealing.step()
    for (name, a), (_, b) in zip(
        fast.state_dict().items(), reference.state_dict().items(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), name


@needs_cuda
def test_bf16_mixed_steps_replayed_as_cuda_graphs_match_the_eager_steps(tiny_data):
    """A graph captures the bf16 step's casts (autocast's weight cache is off), so each replay
    casts the weights the last update left: lone and stacked, graphed is eager's arithmetic."""
    splits = data.load_splits(tiny_data, device="cuda")
    config = TrainConfig(lr=0.05, max_epochs=2, patience=2, batch_size=64, precision="bf16-mixed")
    stack = [config, config.replace(activation="tanh", lr=0.01)]
    eager = training.train(config, splits, progress=False, cuda_graphs=False)
    pairs = [
        (training.train(config, splits, progress=False), eager),
        *zip(
            training.train_stacked(stack, splits, progress=False),
            training.train_stacked(stack, splits, progress=False, cuda_graphs=False),
            strict=True,
        ),
    ]
    for graphed, eager in pairs:
        for (name, a), (_, b) in zip(
            graphed.model.state_dict().items(), eager.model.state_dict().items(), strict=True
        ):
            assert torch.allclose(a, b, atol=1e-5, rtol=0), name


@needs_real_data
def test_relu_reaches_70_percent_in_one_epoch_on_the_real_data():
    splits = data.load_splits()
    configure_torch(torch.device("cpu"))
    result = training.train(
        TrainConfig(activation="relu", lr=0.01, max_epochs=1), splits, progress=False
    )
    assert result.test_acc > 0.70, result.test_acc
