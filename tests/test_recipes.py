"""The experiments' recipes, each checked as a unit against what their docstrings promise, written out.

MNIST: weight decay on the weight matrices and not on the biases, for every optimizer; soft targets 1 − ε + ε/10
and ε/10. The width sweep: the hidden layer learns at ``lr`` and the readout at ``lr_out / width``; training moves
every one of W₁, b₁, w₂, b₂.
"""

import math
import os
import time

import jax
import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
# As modules of the experiments folder, so that make mutants (which names them experiments.mnist, ...) reaches them.
from experiments import mnist, universal_approx  # noqa: E402


def layers(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=3).astype(np.float32)),
            (rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=2).astype(np.float32))]


def zeros_like(params):
    return [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]


@pytest.mark.parametrize("optimizer", ["nesterov", "momentum", "sgd", "adam", "adamw"])
def test_mnist_decays_the_weight_matrices_and_not_the_biases(optimizer):
    # With a zero gradient the only update is the weight decay: every W moves toward 0, no b moves.
    config = mnist.Config(optimizer=optimizer, schedule="constant", lr=0.1, weight_decay=0.5)
    opt = mnist.make_optimizer(config, steps_per_epoch=10)
    params = layers()
    updates, _ = opt.update(zeros_like(params), opt.init(params), params)
    for (W, _), (dW, db) in zip(params, updates):
        np.testing.assert_array_equal(db, 0)
        assert np.all(np.sign(np.asarray(dW)) == -np.sign(W))  # toward zero, every entry
    if optimizer != "adam":  # the first step of SGD: ΔW = −lr·(0 + λW) (momentum: ×1, nesterov: ×1.9); adamw's
        # decoupled decay: Adam's step of a zero gradient is 0, ΔW = −lr·λW (adam normalises the decay: no formula)
        scale = {"sgd": 1.0, "momentum": 1.0, "nesterov": 1.9, "adamw": 1.0}[optimizer]
        for (W, _), (dW, _) in zip(params, updates):
            np.testing.assert_allclose(dW, -0.1 * scale * 0.5 * W, rtol=1e-6)


def test_mnist_soft_targets_are_one_minus_eps_plus_eps_over_ten_and_eps_over_ten():
    targets = mnist.soft_targets(np.array([3, 0, 9]), 0.1)
    assert targets.shape == (3, 10) and targets.dtype == np.float32
    expected = np.full((3, 10), 0.01)
    expected[[0, 1, 2], [3, 0, 9]] = 0.91  # 1 − 0.1 + 0.1/10
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(mnist.soft_targets(np.array([4]), 0.0)[0], np.eye(10)[4])  # ε = 0: one-hot


def test_mnist_soft_targets_are_float32_arithmetic_bit_for_bit_as_the_recipe_calls_them():
    # As main() calls it: int32 labels and the Config's ε = 0.1. Each value is the float32 sum the formula writes:
    # (1 − ε) rounded to float32, plus ε/10 rounded to float32 (0.90999997), not 0.91 rounded once (0.91): the
    # targets the training run saw, and its checkpoints' numbers, depend on which.
    labels = np.array([3, 0, 9, 3], np.int32)
    targets = mnist.soft_targets(labels, mnist.Config().label_smoothing)
    eps = np.float32(0.1 / 10)
    expected = np.full((4, 10), eps, np.float32)
    expected[np.arange(4), labels] = np.float32(1 - 0.1) + eps
    assert targets.dtype == np.float32 and expected[0, 3] == np.float32(0.90999997)
    np.testing.assert_array_equal(targets, expected)


def sweep_params(width):
    return [(np.ones((width, 1), np.float32), np.ones(width, np.float32)),
            (np.ones((1, width), np.float32), np.ones(1, np.float32))]


@pytest.mark.parametrize("width", [10, 1000])
def test_the_sweep_trains_its_hidden_layer_at_lr_and_its_readout_at_lr_out_over_width(width):
    # Plain SGD at a constant rate: the update of a unit gradient is minus the rate, layer by layer.
    config = universal_approx.Config(optimizer="sgd", schedule="constant", lr=0.03, lr_out=2.0)
    opt = universal_approx.make_optimizer(config, width)
    params = sweep_params(width)
    ones = [(np.ones_like(W), np.ones_like(b)) for W, b in params]
    (dW1, db1), (dW2, db2) = opt.update(ones, opt.init(params), params)[0]
    np.testing.assert_allclose(dW1, -0.03, rtol=1e-6)
    np.testing.assert_allclose(db1, -0.03, rtol=1e-6)
    np.testing.assert_allclose(dW2, -2.0 / width, rtol=1e-6)
    np.testing.assert_allclose(db2, -2.0 / width, rtol=1e-6)


def test_the_sweep_moves_every_parameter():
    config = universal_approx.Config(widths=(16,), n=32, test_points=16, steps=20, seeds=2, plots=False,
                                     verbose=False)
    x, y = universal_approx.sample(config.n, config.domain)
    x_test, y_test = universal_approx.sample(config.test_points, config.domain)
    trained = universal_approx.fit_width(config, 16, x, y, x_test, y_test)["_params"]
    # The initial parameters, drawn as fit_width draws them.
    keys = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), 16), config.seeds)
    initial = jax.vmap(lambda k: universal_approx.init_spread(k, 16, domain=config.domain, slope=config.slope))(keys)
    names = ["W1", "b1", "w2", "b2"]
    for name, before, after in zip(names, jax.tree.leaves(initial), jax.tree.leaves(trained)):
        moved = np.abs(np.asarray(after) - np.asarray(before)).reshape(config.seeds, -1).max(axis=1)
        assert np.all(moved > 1e-4), (name, moved)  # in every seed


def test_mnist_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    # SGD on a unit gradient, no weight decay: each update is minus the step's rate, the schedule written out:
    # linear from 0 over the warm-up's steps, then lr·½(1 + cos(π·(t − w)/(T − w))) down to 0 at the last step.
    config = mnist.Config(optimizer="sgd", schedule="cosine", lr=0.1, weight_decay=0.0, epochs=3, warmup_epochs=1)
    opt = mnist.make_optimizer(config, steps_per_epoch=10)
    params = [(np.zeros((1, 1), np.float32), np.zeros(1, np.float32))]
    state = opt.init(params)
    rates = []
    for _ in range(30):
        updates, state = opt.update([(np.ones((1, 1), np.float32), np.ones(1, np.float32))], state, params)
        rates.append(-float(updates[0][1][0]))
    w, total = 10, 30
    expected = [0.1 * t / w if t < w else 0.1 * 0.5 * (1 + np.cos(np.pi * (t - w) / (total - w))) for t in range(30)]
    np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-7)


def updates_under_a_constant_gradient(opt, params, grad, steps):
    """The optimizer's successive updates when every gradient is ``grad`` (a number, the same for every entry)."""
    state, updates = opt.init(params), []
    for _ in range(steps):
        update, state = opt.update(jax.tree.map(lambda p: np.full_like(p, grad), params), state, params)
        updates.append(update)
    return updates


def test_mnist_momentum_is_the_heavy_ball_with_0_9():
    # v_t = g + 0.9·v_{t−1}, Δ = −lr·v_t: with g = 1, −lr·(1, 1.9, 2.71).
    config = mnist.Config(optimizer="momentum", schedule="constant", lr=0.1, weight_decay=0.0)
    updates = updates_under_a_constant_gradient(mnist.make_optimizer(config, 10), layers(), 1.0, 3)
    for update, velocity in zip(updates, [1.0, 1.9, 2.71]):
        for leaf in jax.tree.leaves(update):
            np.testing.assert_allclose(leaf, -0.1 * velocity, rtol=1e-6)


def test_mnist_warm_up_may_last_the_whole_run_and_ends_one_step_early():
    # One epoch of 5 steps, warm-up of one epoch: the warm-up takes 4 steps (0, lr/4, lr/2, 3lr/4) and the last
    # step is the cosine's first, at the peak lr.
    config = mnist.Config(optimizer="sgd", schedule="cosine", lr=0.1, weight_decay=0.0, epochs=1, warmup_epochs=1)
    updates = updates_under_a_constant_gradient(mnist.make_optimizer(config, 5), layers(), 1.0, 5)
    rates = [-float(update[0][1][0]) for update in updates]
    np.testing.assert_allclose(rates, [0.0, 0.025, 0.05, 0.075, 0.1], rtol=1e-6, atol=1e-9)


def test_the_sweeps_target_is_the_lectures_function_on_both_sides_of_zero():
    points = [-0.7, -0.05, 0.0, 0.05, 0.3, 0.999, 1.3]
    expected = [math.sin(20 * x) * math.sin(10 * x) + x / 10 for x in points]
    np.testing.assert_allclose(universal_approx.target(np.array(points)), expected, rtol=1e-12, atol=1e-15)


def test_the_sweep_samples_evenly_spaced_float32_points_end_points_included():
    x, y = universal_approx.sample(7, (-1.0, 2.0))
    assert x.shape == y.shape == (7, 1) and x.dtype == y.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], np.float32([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]))
    expected = [math.sin(20 * v) * math.sin(10 * v) + v / 10 for v in x[:, 0].astype(float)]
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-5, atol=1e-6)  # float32 evaluation: 1e-6 of |f| ≤ 1.2


def test_spread_init_is_its_formula_on_any_domain_slope_and_dtype():
    import jax.numpy as jnp

    key, width, (a, b), slope = jax.random.key(3), 4000, (-2.0, 3.0), 7.0
    (W1, b1), (w2, b2) = universal_approx.init_spread(key, width, domain=(a, b), slope=slope, dtype=jnp.bfloat16)
    # The docstring's recipe written out: centres cᵢ ~ U(a, b), slopes ±s, b₁ = −W₁·c, a zero readout.
    k_centre, k_sign = jax.random.split(key)
    centres = jax.random.uniform(k_centre, (width,), jnp.bfloat16, a, b)
    signs = jax.random.rademacher(k_sign, (width,), jnp.bfloat16)
    np.testing.assert_array_equal(W1[:, 0], slope * signs)
    np.testing.assert_array_equal(b1, -(slope * signs) * centres)
    for leaf, shape in [(W1, (width, 1)), (b1, (width,)), (w2, (1, width)), (b2, (1,))]:
        assert leaf.shape == shape and leaf.dtype == jnp.bfloat16
    np.testing.assert_array_equal(w2, 0)
    np.testing.assert_array_equal(b2, 0)
    # And what the formula is for: both signs, every transition inside [a, b], the whole of it covered.
    c = -np.asarray(b1, np.float64) / np.asarray(W1[:, 0], np.float64)
    assert set(np.unique(np.asarray(W1, np.float32))) == {-slope, slope}
    assert a <= c.min() < a + 0.01 * (b - a) and b - 0.01 * (b - a) < c.max() <= b  # 4,000 draws: ~1e-17 to fail
    # The defaults: the unit interval and the slope s = 30 of the target's fastest component, cos 30x.
    (W1, b1), _ = universal_approx.init_spread(key, width)
    c = -np.asarray(b1) / np.asarray(W1[:, 0])
    assert set(np.unique(np.abs(np.asarray(W1)))) == {30.0} and W1.dtype == jnp.float32
    assert 0 <= c.min() < 0.01 and 0.99 < c.max() <= 1


@pytest.mark.parametrize("optimizer, steps", [("sgd", [1.0, 1.0]), ("momentum", [1.0, 1.9]),
                                               ("adam", [2.0, 2.0]), ("rmsprop", [2 / 0.1**0.5, 1 / 0.0475**0.5])])
def test_the_sweeps_optimizers_are_their_update_rules_written_out(optimizer, steps):
    # A constant gradient g = 0.5, the step's update in units of −rate·g: SGD 1; heavy ball (0.9) 1, 1.9; Adam
    # g/|g| = 1/g = 2 (bias-corrected moments of a constant); RMSprop (decay 0.9) g/√ν with ν = 0.1g², 0.19g².
    width, config = 10, universal_approx.Config(optimizer=optimizer, schedule="constant", lr=0.03, lr_out=2.0)
    updates = updates_under_a_constant_gradient(universal_approx.make_optimizer(config, width), sweep_params(width),
                                                0.5, 2)
    for update, units in zip(updates, steps):
        (dW1, db1), (dW2, db2) = update
        for leaf, rate in [(dW1, 0.03), (db1, 0.03), (dW2, 2.0 / width), (db2, 2.0 / width)]:
            # Adam's float32 bias correction 1 − 0.999ᵗ is off by ~5e-5 of itself (its ε = 1e-8 is negligible).
            np.testing.assert_allclose(leaf, -rate * 0.5 * units, rtol=1e-4)


def test_the_sweeps_cosine_schedule_decays_each_layers_rate_to_zero_over_the_run():
    width, config = 10, universal_approx.Config(optimizer="sgd", schedule="cosine", lr=0.03, lr_out=2.0, steps=4)
    updates = updates_under_a_constant_gradient(universal_approx.make_optimizer(config, width), sweep_params(width),
                                                1.0, 4)
    for t, ((dW1, db1), (dW2, db2)) in enumerate(updates):
        cosine = 0.5 * (1 + math.cos(math.pi * t / 4))
        np.testing.assert_allclose(np.concatenate([dW1.ravel(), db1]), -0.03 * cosine, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(np.concatenate([dW2.ravel(), db2]), -0.2 * cosine, rtol=1e-6, atol=1e-9)


def sweep_forward(params, x):
    """ŷ = w₂·tanh(W₁x + b₁) + b₂ for rows x, in float64 NumPy, and the hidden layer."""
    (W1, b1), (w2, b2) = params
    h = np.tanh(x @ W1.T + b1)
    return h @ w2.T + b2, h


def sweep_by_hand(params, x, y, lr, lr_out, steps):
    """Full-batch SGD on L2 = 1/(2N)·Σ(ŷ − y)², the gradients written out; the parameters and each step's loss."""
    (W1, b1), (w2, b2) = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params]
    width, losses = W1.shape[0], []
    for _ in range(steps):
        yhat, h = sweep_forward([(W1, b1), (w2, b2)], x)
        losses.append(0.5 * np.sum((yhat - y) ** 2) / len(x))
        g = (yhat - y) / len(x)  # ∂L/∂ŷ
        g_hidden = (g @ w2) * (1 - h**2)  # through w₂ and tanh' = 1 − tanh²
        W1, b1, w2, b2 = (W1 - lr * g_hidden.T @ x, b1 - lr * g_hidden.sum(0),
                          w2 - lr_out / width * g.T @ h, b2 - lr_out / width * g.sum(0))
    return [(W1, b1), (w2, b2)], losses


def test_fit_width_trains_each_seed_as_written_out_and_reports_its_errors():
    # Three seeds, three full-batch SGD steps on a domain and slope other than the defaults, against the recipe by
    # hand: seed s starts from init_spread(split(fold_in(key(seed), width), seeds)[s]); hidden rate lr, readout
    # rate lr_out / width. float32 training against float64 by hand: 1e-5 of values of order 1.
    width = 8
    config = universal_approx.Config(widths=(width,), n=16, test_points=11, domain=(-1.0, 2.0), slope=3.0, seeds=3,
                                     seed=5, optimizer="sgd", schedule="constant", lr=0.05, lr_out=2.0, steps=3,
                                     plots=False, verbose=False)
    x, y = universal_approx.sample(config.n, config.domain)
    x_test, y_test = universal_approx.sample(config.test_points, config.domain)
    tic = time.perf_counter()
    result = universal_approx.fit_width(config, width, x, y, x_test, y_test)
    wall = time.perf_counter() - tic
    assert set(result) == {"width", "train_mse", "test_rmse", "test_rmse_mean", "test_rmse_min", "test_rmse_max",
                           "steps", "seconds", "compile_seconds", "eval_seconds", "final_loss", "_test_pred",
                           "_params"}
    assert result["width"] == width and result["steps"] == 3 and 0 < result["seconds"] < wall
    assert 0 <= result["compile_seconds"] <= result["seconds"] and 0 < result["eval_seconds"] < wall
    keys = jax.random.split(jax.random.fold_in(jax.random.key(5), width), 3)
    x64, y64, x_test64, y_test64 = (np.asarray(a, np.float64) for a in (x, y, x_test, y_test))
    train_mse, test_rmse, final_loss = [], [], []
    for s, k in enumerate(keys):
        start = universal_approx.init_spread(k, width, domain=(-1.0, 2.0), slope=3.0)
        params, losses = sweep_by_hand(start, x64, y64, lr=0.05, lr_out=2.0, steps=3)
        member = [(np.asarray(W)[s], np.asarray(b)[s]) for W, b in result["_params"]]
        for got, want in zip(jax.tree.leaves(member), jax.tree.leaves(params)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(result["_test_pred"][s], sweep_forward(params, x_test64)[0], rtol=1e-5, atol=1e-5)
        train_mse.append(np.mean((sweep_forward(params, x64)[0] - y64) ** 2))
        test_rmse.append(np.sqrt(np.mean((sweep_forward(params, x_test64)[0] - y_test64) ** 2)))
        final_loss.append(losses[-1])  # the last epoch's loss: before its (only) step
    assert result["_test_pred"].shape == (3, 11, 1)
    np.testing.assert_allclose(result["train_mse"], train_mse, rtol=1e-4)
    np.testing.assert_allclose(result["test_rmse"], test_rmse, rtol=1e-4)
    np.testing.assert_allclose([result["test_rmse_mean"], result["test_rmse_min"], result["test_rmse_max"]],
                               [np.mean(test_rmse), np.min(test_rmse), np.max(test_rmse)], rtol=1e-4)
    np.testing.assert_allclose(result["final_loss"], final_loss, rtol=1e-4)


@pytest.mark.parametrize("verbose", [False, True])
def test_fit_width_shows_the_progress_bar_only_when_verbose(verbose, monkeypatch):
    from jaxnet import callbacks

    shown = []
    monkeypatch.setattr(callbacks.Progress, "on_epochs_end", lambda self, run, state, records: shown.append(records))
    config = universal_approx.Config(widths=(4,), n=8, test_points=5, seeds=1, steps=2, plots=False, verbose=verbose)
    x, y = universal_approx.sample(config.n)
    universal_approx.fit_width(config, 4, x, y, *universal_approx.sample(config.test_points))
    assert bool(shown) is verbose
