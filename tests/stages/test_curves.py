import numpy as np
import pytest

from pipeline.stages.curves import activation_curves

X = np.linspace(-5, 5, 1001)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


CLOSED_FORMS = {
    "sigmoid": lambda x: sigmoid(x) * (1 - sigmoid(x)),
    "tanh": lambda x: 1 - np.tanh(x) ** 2,
    "relu": lambda x: (x > 0).astype(float),
    "leakyrelu": lambda x: np.where(x > 0, 1.0, 0.1),
    "elu": lambda x: np.where(x > 0, 1.0, np.exp(x)),
    "swish": lambda x: sigmoid(x) * (1 + x * (1 - sigmoid(x))),
    "softplus": sigmoid,
}


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_autograd_derivative_equals_the_closed_form(name):
    (curve,) = activation_curves((name,))
    away_from_kink = np.abs(curve.x) > 1e-9  # ReLU-like derivatives jump at 0
    assert np.allclose(curve.x, X)
    assert np.allclose(
        curve.derivative[away_from_kink], CLOSED_FORMS[name](X)[away_from_kink], atol=1e-10
    )


def test_metrics_show_where_sigmoid_and_tanh_saturate():
    curves = {c.name: c.metrics() for c in activation_curves(("sigmoid", "tanh", "relu"))}
    assert curves["sigmoid"]["derivative_max.sigmoid"] == pytest.approx(0.25)
    assert curves["sigmoid"]["derivative_at_plus5.sigmoid"] == pytest.approx(
        sigmoid(5.0) * (1 - sigmoid(5.0)), rel=1e-12
    )
    assert curves["tanh"]["derivative_at_minus5.tanh"] < 2e-4
    assert curves["relu"]["derivative_at_minus5.relu"] == 0.0
    assert curves["relu"]["derivative_at_plus5.relu"] == 1.0
