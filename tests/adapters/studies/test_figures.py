"""Optuna's own figures of a study: PNGs once there are trials, parameter importances once
there is more than one activation and lr, and the plotly pages once a trial completed."""

import matplotlib

from pipeline.adapters import studies

matplotlib.use("Agg")


def complete(study: studies.Study, count: int) -> None:
    for index, trial in enumerate(studies.claim(study, count)):
        study.suggest_point(trial)
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
    assert list(figures) == ["figures/optimization_history.png", "figures/param_importances.png"]
    assert all(list(f.get_size_inches()) == [8, 5] for f in figures.values())
    pages = studies.interactive_figures(study)
    assert list(pages) == ["figures/parallel_coordinate.html", "figures/slice.html"]
    assert all("<html>" in page[:200] and "best val_acc" in page for page in pages.values())
    plt.close("all")
