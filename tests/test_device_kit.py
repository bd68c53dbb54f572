"""`make device-kit`: the wheels an offline GPU host lacks, from pyproject and the host's list."""

from benchmarks import device_kit


def test_the_kit_carries_what_the_device_run_imports_and_nothing_the_device_has():
    pins = device_kit.closure(device_kit.roots(), "3.12")
    carried = set(pins) - device_kit.device_has()
    assert {
        "mlflow-skinny",
        "optuna",
        "pydantic",
        "pydantic-core",
        "sqlalchemy",
        "plotly",
    } <= carried
    # On the host already (torch and numpy must never be replaced), or left out to keep the
    # bundle under 64 MiB: the UI's JavaScript (mlflow), servers, the dashboard.
    assert not {"torch", "numpy", "pandas", "mlflow", "optuna-dashboard", "flask"} & carried
    assert all(pins[name] for name in carried), "each pinned to the version installed here"
