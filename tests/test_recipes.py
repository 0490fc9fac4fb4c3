"""The experiments' recipes, each checked as a unit against what their docstrings promise, written out.

MNIST: weight decay on the weight matrices and not on the biases, for every optimizer; soft targets 1 − ε + ε/10
and ε/10. The width sweep: the hidden layer learns at ``lr`` and the readout at ``lr_out / width``; training moves
every one of W₁, b₁, w₂, b₂.
"""

import os
import sys

import jax
import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, os.path.join(ROOT, "experiments"))  # the experiments import their neighbour, cli
sys.path.insert(0, ROOT)
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
    if optimizer in ("sgd", "momentum", "nesterov"):  # the first step of SGD: ΔW = −lr·(0 + λW) (momentum: ×1, ×1.9)
        scale = {"sgd": 1.0, "momentum": 1.0, "nesterov": 1.9}[optimizer]
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
