"""Optuna's own figures of a study: a PNG once there are trials, the plotly pages once a trial
completed, and no importance over all trials (it ranked the activation at 0.00 while the
activation decided everything): importances within each activation, with trials enough."""

import matplotlib

from pipeline.adapters import studies
from pipeline.adapters.studies import figures

matplotlib.use("Agg")


def complete(study: studies.Study, count: int) -> None:
    for index, trial in enumerate(studies.claim(study, count)):
        study.tell(trial, "COMPLETE", 0.5 + 0.1 * index)


def test_no_page_before_a_trial_completed(make_study):
    study = make_study()
    studies.queue_missing(study)
    assert studies.interactive_figures(study) == {}


def test_the_figures_a_study_has_enough_trials_for(make_study):
    import matplotlib.pyplot as plt

    study = make_study(activations=("relu", "tanh"), lrs=(0.01, 0.1))
    studies.queue_missing(study)
    complete(study, 1)
    assert list(studies.static_figures(study)) == ["figures/optimization_history.png"]
    complete(study, 3)
    figures = studies.static_figures(study)
    assert list(figures) == ["figures/optimization_history.png"], "no importance of 4 trials"
    assert all(list(f.get_size_inches()) == [8, 5] for f in figures.values())
    pages = studies.interactive_figures(study)
    assert list(pages) == [
        "figures/parallel_coordinate.html",
        "figures/slice.html",
        "figures/importances.md",
    ]
    assert pages["figures/importances.md"] == (
        "No importances: only one setting varies within each activation: its importance is 1 "
        "by definition.\n"
    )
    htmls = [pages["figures/parallel_coordinate.html"], pages["figures/slice.html"]]
    assert all("<html>" in page[:200] and "best val_acc" in page for page in htmls)
    plt.close("all")


def luminance(colour: str) -> float:
    """Relative luminance (WCAG) of an `rgb(r, g, b)` colour: 0 black, 1 white."""
    channels = [float(c) / 255 for c in colour.removeprefix("rgb(").rstrip(")").split(",")]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_line_of_the_parallel_coordinates_stands_out_on_white(make_study):
    """Trials at chance level were drawn near-white (Optuna's Blues); every line is dark now,
    the lowest accuracy at the scale's low end and the highest at its high end."""
    study = make_study(activations=("relu", "tanh", "sigmoid"), lrs=(0.001, 0.01, 0.1))
    studies.queue_missing(study)
    # The hover text rounds values (0.88889 shows as 0.889, past the range's top): still drawn.
    values = [0.1, 0.1001, 0.45, 0.80, 0.85, 0.86, 0.87, 0.88, 0.88889]
    for trial, value in zip(studies.claim(study, len(values)), values, strict=True):
        study.tell(trial, "COMPLETE", value)
    figure = studies.interactive_plots(study)["figures/parallel_coordinate.html"]
    lines = [trace for trace in figure.data if trace.mode == "lines"]
    assert len(lines) == len(values)
    background = figure.layout.plot_bgcolor
    assert background == "white"
    # WCAG's contrast ratio of each line against white: 3 or more is visible at a glance.
    assert all(1.05 / (luminance(line.line.color) + 0.05) >= 3 for line in lines)
    by_value = {float(line.customdata[0][1]): line.line.color for line in lines}
    scale = figures.ACCURACY_SCALE
    assert by_value[0.1] == scale[0][1] and by_value[0.889] == scale[-1][1]
    [bar] = [trace for trace in figure.data if trace.marker.showscale]
    assert [list(stop) for stop in bar.marker.colorscale] == scale
    assert not bar.marker.reversescale and (bar.marker.cmin, bar.marker.cmax) == (0.1, 0.88889)
    assert all(1.05 / (luminance(colour) + 0.05) >= 3 for _, colour in scale)


def test_importances_need_ten_trials_per_setting_and_carry_their_bootstrap_spread(tmp_path):
    from pipeline.core.schema.sweep_config import SweepConfig

    from .conftest import STORAGES

    lrs = [0.001 * 2**i for i in range(10)]
    values = {"activations": ["relu", "tanh"], "lr": lrs, "batch_size": [32, 64]}
    config = SweepConfig.from_mapping(
        {"study": "unit", "storage": STORAGES["sqlite"].format(tmp_path), **values}
    )
    study = studies.Study(config, True, lambda run_id, why: None)
    studies.queue_missing(study)

    def complete(count: int) -> None:
        for _ in range(count):  # one a claim: a claim stacks one batch size only
            [trial] = studies.claim(study, 1)
            point = trial.point
            bump = 0.001 if point["batch_size"] == 32 else 0.0  # batch size: a small effect
            study.tell(trial, "COMPLETE", 0.5 + point["lr"] + bump)

    complete(36)  # relu 18, tanh 18: short of 10 per setting for each
    found, why = figures.importances(study)
    assert found == {}
    assert why == (
        "No importances: tanh has 18 completed trials, fewer than 10 per setting that varies "
        "(lr, batch_size).\n"
    )
    complete(4)
    found, why = figures.importances(study)
    assert set(found) == {"relu", "tanh"} and set(found["relu"]) == {"lr", "batch_size"} and not why
    for importance, low, high in found["relu"].values():
        assert 0 <= low <= high <= 1 and 0 <= importance <= 1
    assert found["relu"]["lr"][1] > found["relu"]["batch_size"][2], "lr decides, past the spread"
    page = studies.interactive_figures(study)["figures/importances.md"]
    assert "| relu |" in page and "bootstrap resamples" in page
    assert f"{found['relu']['lr'][0]:.2f} [{found['relu']['lr'][1]:.2f}, " in page
