import json
import os

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
# As modules of the experiments folder, the names make mutants gives them (tests/mutants/README.md).
from experiments import universal_approx  # noqa: E402


@pytest.mark.slow
def test_reduced_sweep_error_falls_with_width(tmp_path):
    # A few seconds' version of the default sweep: the wider network must fit strictly better on the test grid.
    config = universal_approx.Config(widths=(10, 300), steps=400, seeds=2, test_points=2000, out=str(tmp_path),
                                     verbose=False)
    metrics = universal_approx.main(config)
    narrow, wide = metrics["widths"]
    assert wide["test_rmse_mean"] < narrow["test_rmse_mean"]
    assert max(wide["test_rmse"]) < min(narrow["test_rmse"])  # not only on average: every seed
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["width"] for r in saved["widths"]] == [10, 300] and len(saved["widths"][0]["test_rmse"]) == 2
    assert (tmp_path / "fits.png").stat().st_size > 0 and (tmp_path / "error_vs_width.png").stat().st_size > 0
    assert "| 300 |" in metrics["table"]


def test_spread_init_places_transitions_inside_the_domain():
    import jax
    params = universal_approx.init_spread(jax.random.key(0), 1000, domain=(0.0, 1.0), slope=30.0)
    (W1, b1), (w2, b2) = params
    centres = -b1 / W1[:, 0]
    assert float(centres.min()) >= 0.0 and float(centres.max()) <= 1.0
    np.testing.assert_array_equal(np.abs(W1), 30.0)
    assert float(np.abs(w2).max()) == 0.0 and float(np.abs(b2).max()) == 0.0


def test_cli_flags_reach_the_config():
    config = universal_approx.parse_args(["--widths", "5", "50", "--activation", "relu", "--steps", "7",
                                          "--domain", "-1", "1", "--no-plots"])
    assert config.widths == (5, 50) and config.activation == "relu" and config.steps == 7
    assert config.domain == (-1.0, 1.0) and not config.plots


def test_unknown_optimizer_is_refused_when_the_config_is_built(tmp_path):
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        universal_approx.Config(widths=(5,), steps=2, seeds=1, optimizer="lbfgs", out=str(tmp_path))
    with pytest.raises(ValueError, match="--domain must be an interval a < b"):
        universal_approx.Config(domain=(1.0, 0.0))


def test_the_lectures_set_up():
    # Section 1.2: f(x) = sin(20x)·sin(10x) + x/10, N = 300 training points y_i = f(x_i) on [0, 1], hidden widths
    # 10, 1,000 and 10,000 (and 100 between them, where the error meets its floor).
    x = np.array([0.0, 0.1, 0.5, 1.0])
    np.testing.assert_allclose(universal_approx.target(x), np.sin(20 * x) * np.sin(10 * x) + x / 10, rtol=1e-12)
    np.testing.assert_allclose(universal_approx.target(np.array([np.pi / 20])), [np.pi / 200], rtol=1e-12)
    config = universal_approx.Config()
    assert config.n == 300 and config.domain == (0.0, 1.0) and config.widths == (10, 100, 1000, 10000)
    x, y = universal_approx.sample(config.n, config.domain)
    assert x.shape == y.shape == (300, 1) and x[0, 0] == 0.0 and x[-1, 0] == 1.0
    # Evenly spaced: float32 points near 1 are 6e-8 apart, so each gap is 1/299 to within about 1e-7.
    np.testing.assert_allclose(np.diff(x[:, 0]), 1 / 299, atol=2e-7)
    np.testing.assert_allclose(y, universal_approx.target(x), rtol=0)
    assert config.activation == "tanh"  # the theorem's bounded σ (the lecture does not say which σ its figure used)
