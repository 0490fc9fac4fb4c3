import dataclasses
import json
import time

import jax
import numpy as np
import pytest

from experiments import universal_approx, width_study
from jaxnet import mlp

NUMPY_HIDDEN = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0)}


def least_squares_written_out(params, x_fit, y_fit, x_test, y_test, activation):
    # The minimum-norm least-squares readout from the SVD, singular values below float64 round-off left out (the
    # cut-off numpy.linalg.lstsq uses by default): a = V diag(1/s) Uᵀ y.
    (W1, b1), _ = params
    W1, b1 = np.asarray(W1, np.float64), np.asarray(b1, np.float64)
    features = lambda x: np.hstack([NUMPY_HIDDEN[activation](x @ W1.T + b1), np.ones((len(x), 1))])
    U, s, Vt = np.linalg.svd(features(x_fit), full_matrices=False)
    keep = s > s[0] * np.finfo(np.float64).eps * max(features(x_fit).shape)
    a = Vt[keep].T @ ((U[:, keep].T @ y_fit) / s[keep][:, None])
    return float(np.sqrt(np.mean((features(x_test) @ a - y_test) ** 2)))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("width", [3, 40, 500])
def test_readout_rmse_is_numpys_least_squares_written_out(activation, width):
    # Widths below, near and above the 120 fit points (the last underdetermined: the minimum-norm readout).
    rng = np.random.default_rng(width)
    params = mlp.init(jax.random.key(width), [2, width, 3])
    x_fit, x_test = rng.uniform(-2, 2, (120, 2)), rng.uniform(-2, 2, (50, 2))
    f = lambda x: np.stack([np.sin(3 * x[:, 0]), x[:, 0] * x[:, 1], np.cos(x[:, 1])], axis=1)
    got = width_study.readout_rmse(params, x_fit, f(x_fit), x_test, f(x_test), activation=activation)
    expected = least_squares_written_out(params, x_fit, f(x_fit), x_test, f(x_test), activation)
    # Two SVD-based solvers of the same problem: the same to far below the errors measured (float64 round-off,
    # amplified by the features' condition number where they are near rank-deficient).
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    if activation == "tanh":  # the default, the sweep's
        assert width_study.readout_rmse(params, x_fit, f(x_fit), x_test, f(x_test)) == got
    with pytest.raises(ValueError, match="activation must be one of .*'softplus'"):
        width_study.readout_rmse(params, x_fit, f(x_fit), x_test, f(x_test), activation="softplus")


def test_the_hidden_features_are_the_hidden_layer_and_a_column_of_ones_tanh_by_default():
    params = [(np.array([[2.0], [-1.0]], np.float32), np.array([0.5, 0.0], np.float32)), (np.ones((1, 2)), np.zeros(1))]
    x = np.array([[0.25], [1.0], [-3.1]], np.float32)  # float32, as the sweep's points: the features are float64
    for activation, phi in [(None, np.tanh), ("relu", lambda v: np.maximum(v, 0.0))]:
        kwargs = {} if activation is None else {"activation": activation}
        v = x.astype(np.float64) * np.array([2.0, -1.0]) + np.array([0.5, 0.0])  # x W1ᵀ + b1, written out for d_0 = 1
        np.testing.assert_allclose(width_study.hidden_features(params, x, **kwargs),
                                   np.hstack([phi(v), np.ones((3, 1))]), rtol=1e-15)


def test_the_slope_of_a_power_law_is_its_exponent():
    widths = np.array([10, 30, 100, 1000, 10000])
    assert width_study.loglog_slope(widths, 3.0 * widths ** -1.5) == pytest.approx(-1.5, abs=1e-12)
    assert width_study.loglog_slope(widths, 0.2 * widths ** 0.5) == pytest.approx(0.5, abs=1e-12)
    # Widths in a small integer type and float32 errors are fitted in float64 all the same, bit for bit.
    errors = np.array([0.3, 0.05, 0.01, 4e-4, 1e-5], np.float32)
    by_hand = np.polyfit(np.log(widths.astype(np.float64)), np.log(errors.astype(np.float64)), 1)[0]
    assert width_study.loglog_slope(widths.astype(np.int16), errors) == by_hand


@pytest.mark.slow
def test_a_small_study_separates_representation_data_and_training(tmp_path):
    config = width_study.Config(widths=(10, 40, 160), seeds=2, steps=1000, test_points=2000, fit_points=1000,
                                budget_widths=(40,), budget_steps=(50, 200), out=str(tmp_path), plots=True)
    result = width_study.main(config)
    widths = result["widths"]
    assert set(widths) == {10, 40, 160}
    for r in widths.values():
        assert {len(v) for v in r.values()} == {2}  # one value per seed, for every quantity
        # Both are least-squares readouts of the same features; the dense fit's is the best on its own 1,000 points,
        # so on the 2,000 test points it may lose to the 300-point fit only where both are nearly the best
        # (measured: by 4e-5 relative at width 10, seed 0); 1e-3 allows that and nothing coarser.
        assert np.all(np.array(r["representable_rmse"]) <= np.array(r["data_rmse"]) * (1 + 1e-3))
    representable = {w: np.mean(r["representable_rmse"]) for w, r in widths.items()}
    assert representable[10] / representable[160] > 1_000  # measured: about 5e4
    # Training moves the hidden units: at width 10 it beats the initial units with their best readout (measured:
    # 0.60 of it; 1.00 with the hidden layer frozen), and at width 160 it reaches the sweep's fit (measured: 0.0041;
    # 0.0099 with the hidden layer frozen, about 0.3 from the initial slope 1 instead of 50).
    assert np.all(np.array(widths[10]["trained_rmse"]) < 0.8 * np.array(widths[10]["representable_rmse"]))
    assert max(widths[160]["trained_rmse"]) < 0.006
    # The trained hidden layer with its readout solved again is at least as good as the trained readout.
    assert np.all(np.array(widths[160]["readout_rmse_after_training"]) <= np.array(widths[160]["trained_rmse"]))
    assert result["steps"][40][200][0] < result["steps"][40][50][0]  # more steps, lower error
    assert result["slope"]["representable"] < -3 and result["slope"]["trained"] < 0
    assert result["slope"]["representable"] == pytest.approx(
        width_study.loglog_slope([10, 40, 160], [representable[w] for w in (10, 40, 160)]))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["widths"]["40"]["trained_rmse"] == widths[40]["trained_rmse"]
    assert (tmp_path / "error_by_width.png").stat().st_size > 0 and (tmp_path / "error_by_steps.png").stat().st_size
    assert "| 160 |" in result["table"]


def test_the_trained_numbers_are_the_sweeps():
    # The study trains with the sweep's own initialisation and recipe: its trained RMSE is the sweep's.
    config = width_study.Config(widths=(8,), seeds=2, steps=30, test_points=200, fit_points=100, budget_widths=(),
                                out="unused", plots=False)
    sweep = universal_approx.Config(widths=(8,), seeds=2, steps=30, test_points=200, plots=False, verbose=False)
    x, y = universal_approx.sample(sweep.n)
    x_test, y_test = universal_approx.sample(sweep.test_points)
    x_fit = width_study.fit_grid(100, (0.0, 1.0))
    data = {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "x_fit": x_fit, "y_fit": universal_approx.target(x_fit),
            "y64": universal_approx.target(x.astype(np.float64)),
            "y_test64": universal_approx.target(x_test.astype(np.float64))}
    studied = width_study.study_width(config, 8, data)
    assert studied["trained_rmse"] == universal_approx.fit_width(sweep, 8, x, y, x_test, y_test)["test_rmse"]
    # The budget study: each width trained for each step count, as the sweep trains it with that many steps.
    budget = dataclasses.replace(config, budget_widths=(8,), budget_steps=(5, 12), budget_seeds=1)
    tic = time.perf_counter()
    study = width_study.study_steps(budget, data)
    elapsed = time.perf_counter() - tic
    for steps in (5, 12):
        alone = dataclasses.replace(sweep, steps=steps, seeds=1)
        assert study["rmse"][8][steps] == universal_approx.fit_width(alone, 8, x, y, x_test, y_test)["test_rmse"]
    assert list(study["rmse"]) == [8] and list(study["rmse"][8]) == [5, 12] and 0 < study["seconds"] <= elapsed


def study_data(config):
    x, y = universal_approx.sample(config.n)
    x_test, y_test = universal_approx.sample(config.test_points)
    x_fit = width_study.fit_grid(config.fit_points, (0.0, 1.0))
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "x_fit": x_fit, "y_fit": universal_approx.target(x_fit),
            "y64": universal_approx.target(x.astype(np.float64)),
            "y_test64": universal_approx.target(x_test.astype(np.float64))}


def rank_written_out(params, x, activation="tanh"):
    """The features' numerical rank (the hidden layer and the readout's bias): NumPy's rule for lstsq's rank."""
    (W1, b1), _ = params
    features = np.hstack([NUMPY_HIDDEN[activation](x @ np.asarray(W1, np.float64).T + np.asarray(b1, np.float64)),
                          np.ones((len(x), 1))])
    s = np.linalg.svd(features, compute_uv=False)
    return int(np.sum(s > s[0] * np.finfo(np.float64).eps * max(features.shape)))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_each_number_of_a_width_is_its_readout_written_out(activation):
    config = width_study.Config(widths=(8,), seeds=2, steps=30, test_points=200, fit_points=100, budget_widths=(),
                                out="unused", plots=False, activation=activation)
    data = study_data(config)
    tic = time.perf_counter()
    studied = width_study.study_width(config, 8, data)
    elapsed = time.perf_counter() - tic
    sweep = config.sweep()
    member = lambda params, k: jax.tree.map(lambda a: np.asarray(a[k]), params)
    initial = universal_approx.initial_params(sweep, 8)
    trained = universal_approx.fit_width(sweep, 8, data["x"], data["y"], data["x_test"], data["y_test"])["_params"]
    for k in range(2):
        start, end = member(initial, k), member(trained, k)
        readout = lambda params, x, y: least_squares_written_out(params, x, y, data["x_test"], data["y_test64"],
                                                                 activation)
        # Float64 least squares by two SVD-based routes (see test_readout_rmse_is_numpys_least_squares_written_out).
        np.testing.assert_allclose(studied["representable_rmse"][k], readout(start, data["x_fit"], data["y_fit"]),
                                   rtol=1e-6)
        np.testing.assert_allclose(studied["data_rmse"][k], readout(start, data["x"], data["y64"]), rtol=1e-6)
        np.testing.assert_allclose(studied["readout_rmse_after_training"][k], readout(end, data["x"], data["y64"]),
                                   rtol=1e-6)
        assert studied["representable_rank"][k] == rank_written_out(start, data["x_fit"], activation)
    assert set(studied) == {"representable_rmse", "data_rmse", "trained_rmse", "readout_rmse_after_training",
                            "representable_rank", "seconds"}
    seconds = studied["seconds"]
    assert set(seconds) == {"training", "compilation", "readouts"}
    assert 0 <= seconds["compilation"] <= seconds["training"] and seconds["readouts"] > 0
    assert seconds["training"] + seconds["readouts"] <= elapsed


def test_the_features_rank_is_refused_from_half_the_fit_points():
    # Width 8 with 9 independent features (8 units and the bias) on any grid of 18 points or more: 18 and 19
    # points (half of them: 9) are refused, 20 (half: 10) is not.
    for points, refused in ((18, True), (19, True), (20, False)):
        config = width_study.Config(widths=(8,), seeds=1, steps=2, test_points=50, fit_points=points,
                                    budget_widths=(), out="unused", plots=False)
        data = study_data(config)
        start = jax.tree.map(lambda a: np.asarray(a[0]), universal_approx.initial_params(config.sweep(), 8))
        assert rank_written_out(start, data["x_fit"]) == 9
        if refused:
            with pytest.raises(ValueError, match=rf"rank 9, too close to the {points} fit points"):
                width_study.study_width(config, 8, data)
        else:
            assert width_study.study_width(config, 8, data)["representable_rank"] == [9]


def test_the_sweep_runs_the_studys_fields_with_its_recipe(tmp_path):
    config = width_study.Config(widths=(7, 9), n=40, test_points=50, domain=(-1.0, 2.0), activation="relu", lr=0.01,
                                lr_out=2.0, steps=30, slope=20.0, seeds=2, seed=5, out=str(tmp_path))
    expected = dict(widths=(7, 9), n=40, test_points=50, domain=(-1.0, 2.0), activation="relu", optimizer="adam",
                    lr=0.01, lr_out=2.0, schedule="cosine", steps=30, slope=20.0, seeds=2, seed=5, out=str(tmp_path),
                    plots=False, verbose=False)  # the study draws its own figures, and its bars are off by default
    sweep = config.sweep()
    assert {k: getattr(sweep, k) for k in expected} == expected
    assert all(getattr(universal_approx.Config(), k) != v for k, v in expected.items()
               if k not in ("optimizer", "schedule"))  # each field other than the sweep's default
    assert config.sweep(steps=3, seeds=1).steps == 3 and config.sweep(steps=3, seeds=1).seeds == 1


def test_an_empty_domain_is_refused():
    for domain in [(0.5, 0.5), (1.0, 0.0)]:
        with pytest.raises(ValueError, match=rf"^--domain must be an interval a < b, got \({domain[0]}, {domain[1]}\)"):
            width_study.Config(domain=domain)


def test_the_command_line_sets_the_studys_fields():
    config = width_study.parse_args(["--widths", "10", "20", "--budget-steps", "5", "--seeds", "2", "--no-plots"])
    assert config.widths == (10, 20) and config.budget_steps == (5,) and config.seeds == 2 and not config.plots
    assert width_study.parse_args([]) == width_study.Config()


def test_a_fit_grid_too_coarse_for_the_features_is_refused():
    config = width_study.Config(widths=(40,), seeds=1, steps=5, test_points=100, fit_points=20, budget_widths=(),
                                out="unused", plots=False)
    x, y = universal_approx.sample(config.n)
    x_fit = width_study.fit_grid(20, (0.0, 1.0))
    data = {"x": x, "y": y, "x_test": x, "y_test": y, "x_fit": x_fit, "y_fit": universal_approx.target(x_fit),
            "y64": y.astype(np.float64), "y_test64": y.astype(np.float64)}
    with pytest.raises(ValueError, match=r"rank \d+, too close to the 20 fit points .* raise --fit-points"):
        width_study.study_width(config, 40, data)


def test_the_fit_grid_lies_inside_the_domain_off_the_training_points():
    grid = width_study.fit_grid(4, (-1.0, 1.0))
    np.testing.assert_allclose(grid[:, 0], [-0.75, -0.25, 0.25, 0.75])
    x, _ = universal_approx.sample(300)
    assert not np.isin(width_study.fit_grid(2000, (0.0, 1.0)), x.astype(np.float64)).any()
