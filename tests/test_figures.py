"""The figures show what their captions say: the MNIST errors figure the misclassified digits, each with its own
labels, and the width sweep's fits figure the networks' fits beside the target (not the target twice)."""

import numpy as np
import pytest

from experiments import mnist_report, universal_approx

import requires

pytest.importorskip("matplotlib", reason=requires.extra("plots"))
from matplotlib.figure import Figure  # noqa: E402


@pytest.fixture
def saved(monkeypatch):
    """The figures the code saves, instead of their files."""
    figures = []
    monkeypatch.setattr(Figure, "savefig", lambda self, path, **kwargs: figures.append(self))
    return figures


def test_the_errors_figure_shows_the_misclassified_digits_with_their_labels(saved):
    rng = np.random.default_rng(0)
    images = rng.random((30, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 30)
    predictions = labels.copy()
    wrong = [2, 7, 19]
    predictions[wrong] = (labels[wrong] + 1) % 10
    mnist_report.plot_errors(images, labels, predictions, "errors.png")
    shown = [ax for ax in saved[0].axes if ax.images]
    assert len(shown) == len(wrong)
    for ax, i in zip(shown, wrong):
        np.testing.assert_array_equal(ax.images[0].get_array(), images[i].reshape(28, 28))
        assert ax.get_title() == f"{labels[i]} → {predictions[i]}"


def test_the_fits_figure_draws_each_seeds_fit_beside_the_target(saved, tmp_path):
    config = universal_approx.Config(widths=(3,), n=8, test_points=6, seeds=2, out=str(tmp_path))
    x, y = universal_approx.sample(config.n)
    x_test, y_test = universal_approx.sample(config.test_points)
    predictions = np.stack([y_test + 0.1, y_test - 0.2])  # two seeds' fits, unlike the target
    results = [{"width": 3, "_test_pred": predictions, "test_rmse_mean": 0.15, "test_rmse": [0.1, 0.2],
                "test_rmse_min": 0.1, "test_rmse_max": 0.2}]
    universal_approx.plot(config, results, x, y, x_test, y_test)
    fits = saved[0].axes[1]
    target, *drawn = fits.lines
    np.testing.assert_array_equal(target.get_ydata(), y_test[:, 0])
    assert len(drawn) == 2
    for line, prediction in zip(drawn, predictions):
        np.testing.assert_array_equal(line.get_xdata(), x_test[:, 0])
        np.testing.assert_array_equal(line.get_ydata(), prediction[:, 0])
