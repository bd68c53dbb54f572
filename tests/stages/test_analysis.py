import pytest
import torch

from pipeline.core.network.model import MLP, ModelConfig
from pipeline.stages import analysis, lone


def hand_built(activation: str, weights, biases) -> MLP:
    """One hidden layer of 4 units on 2 inputs, with weights set by hand."""
    model = MLP(ModelConfig(activation, hidden_sizes=(4,), in_features=2, num_classes=2))
    with torch.no_grad():
        model.fc1.weight.copy_(torch.tensor(weights))
        model.fc1.bias.copy_(torch.tensor(biases))
    return model


INPUTS = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.2]] * 3000)


def test_dead_fraction_counts_units_never_active_on_the_whole_set():
    # Inputs are non-negative: unit 2 (negative weights and bias) and unit 3 (bias -10) never
    # fire; unit 1 fires only on [1, 0], which appears in every batch of 4096.
    model = hand_built(
        "relu", [[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [1.0, 1.0]], [0.0, -0.5, -0.1, -10.0]
    )
    dead, saturated = analysis.unit_health(model, INPUTS)
    assert dead == {"act1": 0.5} and saturated == {}


def test_a_unit_active_on_a_single_input_in_the_last_batch_is_alive():
    inputs = torch.zeros(9000, 2)
    inputs[-1] = torch.tensor([1.0, 0.0])
    model = hand_built(
        "relu", [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], [-0.5, -0.5, -0.5, -0.5]
    )
    dead, _ = analysis.unit_health(model, inputs)
    assert dead == {"act1": 0.75}


def test_saturated_fraction_of_sigmoid_outputs():
    # Unit 0 is pushed to sigmoid's upper bound, unit 1 to its lower, units 2-3 stay near 0.5.
    model = hand_built("sigmoid", [[0.0, 0.0]] * 4, [20.0, -20.0, 0.0, 0.1])
    dead, saturated = analysis.unit_health(model, INPUTS)
    assert dead == {} and saturated == {"act1": pytest.approx(0.5)}


def test_tanh_saturation_uses_one_percent_of_its_range():
    # tanh(2.2) = 0.9757 is outside the 0.02 margin; tanh(2.7) = 0.9910 is inside it.
    model = hand_built("tanh", [[0.0, 0.0]] * 4, [2.2, 2.7, -2.7, 0.0])
    _, saturated = analysis.unit_health(model, INPUTS)
    assert saturated == {"act1": pytest.approx(0.5)}


def test_analyse_records_every_layer_on_the_fixed_sample():
    model = hand_built("relu", [[1.0, 1.0]] * 4, [0.0] * 4)
    result = analysis.analyse(model, INPUTS, sample_size=1024)
    assert list(result.outputs) == ["fc1", "act1"]
    assert result.outputs["act1"].shape == (1024, 4)
    metrics = result.metrics()
    assert metrics["dead_fraction.act1"] == 0.0
    assert metrics["output_mean.act1"] == pytest.approx(result.outputs["act1"].mean().item())


def test_the_per_epoch_probe_counts_as_the_analysis_does():
    """One definition: on the same images the training probe (lone.layer_probe) and the
    analysis agree. On a probe batch, a unit that fires only on an image outside it counts as
    dead: the probe's dead fraction is an upper bound of the whole set's."""
    inputs = torch.zeros(300, 2)
    inputs[-1] = torch.tensor([1.0, 0.0])  # unit 0's only positive input, not in the batch
    labels = torch.zeros(300, dtype=torch.long)
    model = hand_built(
        "relu", [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], [-0.5, -0.5, -0.5, -0.5]
    )
    _, on_batch = lone.layer_probe(model, inputs[:256], labels[:256])
    assert on_batch == {"dead_fraction.act1": 1.0}
    assert analysis.unit_health(model, inputs[:256]) == ({"act1": 1.0}, {})
    assert analysis.unit_health(model, inputs) == ({"act1": 0.75}, {})

    sigmoid = hand_built("sigmoid", [[0.0, 0.0]] * 4, [20.0, -20.0, 0.0, 0.1])
    _, on_batch = lone.layer_probe(sigmoid, INPUTS[:256], labels[:256])
    _, saturated = analysis.unit_health(sigmoid, INPUTS[:256])
    assert on_batch == {"saturated_fraction.act1": pytest.approx(0.5)}
    assert saturated == {"act1": pytest.approx(0.5)}
