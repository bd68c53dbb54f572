"""A stacked optimizer moves every slice as torch.optim moves its lone twin: params and state
agree to float rounding, before and after the stack drops slices, on random gradients and on
the real MLP."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from pipeline.core.network.model import build_model
from pipeline.stages.optimizers import (
    KINDS,
    OptimizerSettings,
    StackedOptimizer,
    lone_optimizer,
    lr_factor,
    scale_lr,
)
from tests.conftest import needs_cuda

# Per slice: two layers' weights `[in, out]` and biases `[1, out]`, as a stack lays them out.
SHAPES = [(6, 4), (1, 4), (4, 3), (1, 3)]


def assert_close(actual, expected, name: str, tolerance: float = 1e-6) -> None:
    """Within `tolerance` of each value, or of the tensor's largest value for values near 0
    (a param that crosses zero keeps the rounding of the steps that brought it there)."""
    scale = expected.abs().max().item()
    torch.testing.assert_close(
        actual, expected, rtol=tolerance, atol=tolerance * scale, msg=lambda _: name
    )


class Twins:
    """A stack of K slices and K lone copies under torch.optim, fed the same random gradients;
    `slices[position]` is the twin of the stack's slice at `position`."""

    def __init__(self, stack_settings: list[OptimizerSettings], seed: int = 0, device="cpu"):
        self.generator, self.device = torch.Generator().manual_seed(seed), torch.device(device)
        k = len(stack_settings)
        self.params = [self.random((k, *shape)) for shape in SHAPES]
        self.stacked = StackedOptimizer(stack_settings, self.device)
        self.lone = [[nn.Parameter(p[i].clone()) for p in self.params] for i in range(k)]
        self.optimizers = [
            lone_optimizer(params, s, self.device.type)
            for params, s in zip(self.lone, stack_settings, strict=True)
        ]
        self.slices = list(range(k))
        self.settings = stack_settings

    def scale_lr(self, factor: float) -> None:
        """What the epoch loop does at an epoch of a schedule, to the stack and every twin."""
        self.stacked.scale_lr(factor)
        for optimizer, s in zip(self.optimizers, self.settings, strict=True):
            scale_lr(optimizer, s.lr, factor)

    def random(self, shape) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator).to(self.device)

    def step(self, count: int) -> None:
        for _ in range(count):
            self.stacked.step(self.params, self.step_lone())

    def step_lone(self) -> list[torch.Tensor]:
        """One step of every twin on new random gradients; returns the stack's gradients."""
        grads = [self.random(p.shape) for p in self.params]
        for position, twin in enumerate(self.slices):
            for param, grad in zip(self.lone[twin], grads, strict=True):
                param.grad = grad[position].clone()
            self.optimizers[twin].step()
        return grads

    def keep(self, positions: list[int]) -> None:
        index = torch.tensor(positions, device=self.device)
        self.params = [p.index_select(0, index) for p in self.params]
        self.stacked = self.stacked.keep(index)
        self.slices = [self.slices[i] for i in positions]

    def assert_match(self, tolerance: float = 1e-6) -> None:
        for position, twin in enumerate(self.slices):
            for layer, (p, lone) in enumerate(zip(self.params, self.lone[twin], strict=True)):
                name = f"slice {position}, param {layer}"
                assert_close(p[position], lone.detach(), name, tolerance)
            mine = self.stacked.state_of(position)
            theirs = [self.optimizers[twin].state[p] for p in self.lone[twin]]
            assert [sorted(s) for s in mine] == [sorted(s) for s in theirs], position
            for layer, (a, b) in enumerate(zip(mine, theirs, strict=True)):
                for key in a:
                    name = f"slice {position}, param {layer}, {key}"
                    assert_close(a[key], b[key], name, tolerance)


def sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0) -> OptimizerSettings:
    return OptimizerSettings("sgd", lr, momentum, nesterov, weight_decay)


def adam(kind, lr, weight_decay=0.0, betas=(0.9, 0.999)) -> OptimizerSettings:
    return OptimizerSettings(kind, lr, weight_decay=weight_decay, betas=betas)


# Four slices each, every hyperparameter different in each slice: a slice given another's
# settings or state would not match its twin.
STACKS = {
    "sgd": [sgd(lr) for lr in (0.5, 0.1, 0.01, 1e-3)],
    "sgd momentum": [sgd(0.3, 0.9), sgd(0.1, 0.5), sgd(0.05, 0.0), sgd(0.01, 0.99)],
    "sgd nesterov": [
        sgd(0.3, 0.9, nesterov=True),
        sgd(0.1, 0.5, nesterov=True),
        sgd(0.05, 0.2, nesterov=True),
        sgd(0.01, 0.99, nesterov=True),
    ],
    "sgd weight decay": [
        sgd(0.3, 0.9, weight_decay=0.1),
        sgd(0.1, 0.5, weight_decay=0.01),
        sgd(0.05, 0.0, weight_decay=0.05),
        sgd(0.01, 0.9, weight_decay=0.0),
    ],
    "sgd all mixed": [
        sgd(0.3, 0.9, nesterov=True, weight_decay=0.1),
        sgd(0.1, 0.5, weight_decay=0.01),
        sgd(0.05),
        sgd(0.01, 0.99, nesterov=True),
    ],
    "adam": [adam("adam", lr) for lr in (0.3, 0.1, 0.01, 1e-3)],
    "adam weight decay": [
        adam("adam", 0.3, 0.1, (0.9, 0.999)),
        adam("adam", 0.1, 0.01, (0.5, 0.9)),
        adam("adam", 0.01, 0.0, (0.8, 0.99)),
        adam("adam", 1e-3, 0.05, (0.95, 0.9999)),
    ],
    "adamw": [
        adam("adamw", 0.3, 0.1),
        adam("adamw", 0.1, 0.0),
        adam("adamw", 0.01, 0.05),
        adam("adamw", 1e-3, 0.01),
    ],
    "adam and adamw": [
        adam("adamw", 0.3, 0.1),
        adam("adam", 0.1, 0.01, (0.5, 0.9)),
        adam("adamw", 0.01, 0.05, (0.8, 0.99)),
        adam("adam", 1e-3, 0.0),
    ],
}


@pytest.mark.parametrize("name", STACKS)
def test_twenty_stacked_steps_match_torch_optim_slice_by_slice(name):
    twins = Twins(STACKS[name])
    twins.step(20)
    twins.assert_match()


@pytest.mark.parametrize("name", ["sgd all mixed", "adam and adamw"])
def test_the_survivors_of_keep_go_on_matching_their_twins(name):
    twins = Twins(STACKS[name], seed=1)
    twins.step(5)
    twins.keep([3, 1])  # out of order: the survivors' settings and state follow them
    twins.step(10)
    twins.assert_match()
    assert twins.stacked.settings == (STACKS[name][3], STACKS[name][1])


@pytest.mark.parametrize("name", STACKS)
def test_a_scheduled_lr_moves_every_slice_as_torch_optim_moves_its_twin(name):
    """The schedule scales every slice's own lr (and AdamW's decay with it) in place, and a
    stack that drops slices keeps the factor for its survivors."""
    twins = Twins(STACKS[name], seed=2)
    twins.step(5)
    twins.scale_lr(0.5)
    twins.step(5)
    twins.keep([3, 1])
    twins.step(3)
    twins.scale_lr(0.1)
    twins.step(3)
    twins.assert_match()
    assert twins.stacked.lr_factor == 0.1


@given(epochs=st.integers(1, 200))
def test_the_cosine_schedule_is_torchs_cosine_annealing_stepped_once_an_epoch(epochs):
    """lr_factor("cosine") is CosineAnnealingLR(T_max=max_epochs) read at each epoch: lr at the
    first epoch, falling every epoch, above 0 at the last; "constant" stays at 1."""
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    factors = [lr_factor("cosine", epoch, epochs) for epoch in range(1, epochs + 1)]
    expected = []
    for _ in range(epochs):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        annealing.step()
    assert factors == pytest.approx(expected, abs=1e-12)
    assert factors[0] == 1.0 and factors[-1] > 0
    assert all(a > b for a, b in itertools.pairwise(factors))
    assert {lr_factor("constant", epoch, epochs) for epoch in range(1, epochs + 1)} == {1.0}


@st.composite
def slice_settings(draw, family: str) -> OptimizerSettings:
    # No subnormal floats: once a test has trained, this process flushes them
    # (core/process/device.py).
    lr = draw(st.floats(1e-4, 1.0, allow_subnormal=False))
    weight_decay = draw(st.just(0.0) | st.floats(0.0, 0.1, allow_subnormal=False))
    if family == "sgd":
        momentum = draw(st.just(0.0) | st.floats(0.0, 0.99, allow_subnormal=False))
        nesterov = momentum > 0 and draw(st.booleans())
        return sgd(lr, momentum, nesterov, weight_decay)
    betas = draw(
        st.just((0.9, 0.999))
        | st.tuples(
            st.floats(0.5, 0.99, allow_subnormal=False),
            st.floats(0.9, 0.9999, allow_subnormal=False),
        )
    )
    return adam(draw(st.sampled_from(["adam", "adamw"])), lr, weight_decay, betas)


@st.composite
def stacks(draw) -> list[OptimizerSettings]:
    family = draw(st.sampled_from(["sgd", "adam"]))
    return draw(st.lists(slice_settings(family), min_size=1, max_size=5))


# Data generation is cheap; a loaded machine only makes it look slow to the health check.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=stacks(), seed=st.integers(0, 2**16))
def test_any_stack_of_settings_matches_torch_optim(stack, seed):
    twins = Twins(stack, seed)
    twins.step(10)
    twins.assert_match()
    if len(stack) > 1:
        twins.keep([len(stack) - 1, 0])
        twins.step(3)
        twins.assert_match()


@needs_cuda
@pytest.mark.parametrize("name", ["sgd all mixed", "adam and adamw"])
def test_a_step_replayed_as_a_cuda_graph_matches_torch_optim_on_the_gpu(name):
    """The step reads nothing back to the host: captured once, replays go on updating every
    slice as the lone twins' optimizers (foreach; Adam capturable) update them."""
    twins = Twins(STACKS[name], device="cuda")
    static_grads = [torch.zeros_like(p) for p in twins.params]
    for grad, new in zip(static_grads, twins.step_lone(), strict=True):
        grad.copy_(new)
    side = torch.cuda.Stream()  # the eager first step creates the state, off the capture
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        twins.stacked.step(twins.params, static_grads)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        twins.stacked.step(twins.params, static_grads)
    for _ in range(10):
        for grad, new in zip(static_grads, twins.step_lone(), strict=True):
            grad.copy_(new)
        graph.replay()
    torch.cuda.synchronize()
    # torch's capturable Adam computes 1 - beta2^t in float32: 1.3e-5 off at t = 1 for 0.999
    twins.assert_match(tolerance=1e-4)


# --- on the MLP ------------------------------------------------------------------------------


def stack_models(models) -> list[torch.Tensor]:
    """The layout of stacked.build_stack: weights `[K, in, out]`, biases `[K, 1, out]`."""
    params = []
    for layers in zip(*(m.linear_layers().values() for m in models), strict=True):
        params.append(torch.stack([layer.weight.detach().t() for layer in layers]))
        params.append(torch.stack([layer.bias.detach().unsqueeze(0) for layer in layers]))
    return [p.contiguous().requires_grad_() for p in params]


def slice_loss(model, params, position, x, y) -> torch.Tensor:
    """Slice `position`'s loss through `model`'s forward: the same matmuls as the lone model's
    (the weight made contiguous `[out, in]` again), so the gradients are its gradients."""
    weights = {}
    for index, name in enumerate(model.linear_layers()):
        weights[f"{name}.weight"] = params[2 * index][position].t().contiguous()
        weights[f"{name}.bias"] = params[2 * index + 1][position].view(-1)
    return F.cross_entropy(functional_call(model, weights, (x,)), y)


MLP_STACKS = {
    "sgd": [sgd(0.01, 0.9, True), sgd(0.005, 0.5, False, 0.01), sgd(0.003)],
    "adam": [adam("adam", 1e-3), adam("adamw", 3e-3, 0.01), adam("adam", 5e-4, 1e-3, (0.8, 0.99))],
}
# Adam does not damp a rounding difference: it divides each gradient by its own running size,
# so a weight one ulp off gives a gradient that is off relative to itself. torch's own fused
# and single-tensor Adam end 4.4e-6 (of the largest weight) apart after these 10 steps; a rule
# wrong in any term (bias correction, eps, where the decay goes) is off by ~1e-2.
MLP_TOLERANCE = {"sgd": 1e-6, "adam": 3e-5}


@pytest.mark.parametrize("name", MLP_STACKS)
def test_ten_steps_on_the_mlp_match_lone_models_under_lone_optimizer(name):
    stack_settings = MLP_STACKS[name]
    activations = ["relu", "tanh", "elu"]
    models = [build_model(a, seed=10 + i) for i, a in enumerate(activations)]
    params = stack_models(models)
    stacked = StackedOptimizer(stack_settings)
    lone = [
        lone_optimizer(m.parameters(), s, "cpu")
        for m, s in zip(models, stack_settings, strict=True)
    ]
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        x = torch.randn(32, 784, generator=generator)
        y = torch.randint(0, 10, (32,), generator=generator)
        losses = [slice_loss(m, params, k, x, y) for k, m in enumerate(models)]
        stacked.step(params, torch.autograd.grad(torch.stack(losses).sum(), params))
        for model, optimizer in zip(models, lone, strict=True):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    for k, model in enumerate(models):
        for index, (layer_name, layer) in enumerate(model.linear_layers().items()):
            weight, bias = params[2 * index][k].detach(), params[2 * index + 1][k].detach()
            tolerance = MLP_TOLERANCE[name]
            assert_close(weight.t(), layer.weight.detach(), f"{k} {layer_name}.w", tolerance)
            assert_close(bias.view(-1), layer.bias.detach(), f"{k} {layer_name}.b", tolerance)


# --- what a stack and the settings refuse ----------------------------------------------------


def test_a_stack_refuses_sgd_with_adam_and_no_settings():
    with pytest.raises(ValueError, match="cannot mix sgd with adam or adamw"):
        StackedOptimizer([sgd(0.1), adam("adamw", 0.1)])
    with pytest.raises(ValueError, match="at least one slice"):
        StackedOptimizer([])


def test_a_step_refuses_params_of_another_stack_size():
    optimizer = StackedOptimizer([sgd(0.1), sgd(0.2)])
    with pytest.raises(ValueError, match="3 slices for 2 settings"):
        optimizer.step([torch.zeros(3, 2, 2)], [torch.zeros(3, 2, 2)])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": "rmsprop"}, "optimizer must be one of: sgd, adam, adamw; got 'rmsprop'"),
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"nesterov": True}, "nesterov needs a momentum above 0"),
        ({"betas": (0.8, 0.99)}, "betas and eps are settings of adam and adamw, not of sgd"),
        ({"kind": "adam", "momentum": 0.9}, "momentum and nesterov are settings of sgd"),
        ({"kind": "adamw", "betas": (0.9, 1.0)}, r"betas must be two numbers in \[0, 1\)"),
    ],
)
def test_settings_refuse_what_no_optimizer_would_use(values, message):
    with pytest.raises(ValueError, match=message):
        OptimizerSettings(**values)


@pytest.mark.parametrize("kind", KINDS)
def test_lone_optimizer_is_torch_optim_fused_on_cpu_and_foreach_on_gpu(kind):
    extra = {"momentum": 0.9, "nesterov": True} if kind == "sgd" else {"betas": (0.8, 0.99)}
    s = OptimizerSettings(kind, lr=0.02, weight_decay=0.01, **extra)
    expected = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    cpu = lone_optimizer([nn.Parameter(torch.zeros(2))], s, "cpu")
    assert type(cpu) is expected[kind] and cpu.defaults["fused"] is True
    assert cpu.defaults["lr"] == 0.02 and cpu.defaults["weight_decay"] == 0.01
    assert all(cpu.defaults[key] == value for key, value in extra.items())
    gpu = lone_optimizer([nn.Parameter(torch.zeros(2))], s, "cuda")
    assert gpu.defaults["foreach"] is True and not gpu.defaults["fused"]
    assert gpu.defaults.get("capturable", False) is (kind != "sgd")  # a CUDA graph replays it


def test_settings_from_a_yaml_list_equal_those_from_a_tuple():
    assert OptimizerSettings("adam", betas=[0.8, 0.99]) == OptimizerSettings(
        "adam", betas=(0.8, 0.99)
    )
