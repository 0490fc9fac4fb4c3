"""The lecture's formulas, each against its own text written out in NumPy, on inputs where a wrong formula shows.

Each test is chosen so that a plausible wrong implementation fails it: the L2 loss with d = 3 (with d = 2 its
1/(2N) equals a plain mean), ReLU and ReLU' on both signs, forward passes with non-zero biases, the softmax on
random vectors, sigmoid and tanh at points where their values are known exactly, a gradient-descent step as
p − lr·∇L, and the two statements of section 1 about functions (remark 1, the approximation theorem).
"""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnet import activations, losses, mlp, perceptron, train

ROOT = os.path.join(os.path.dirname(__file__), "..")
# As modules of the experiments folder, the names make mutants gives them (tests/mutants/README.md).
from experiments import universal_approx  # noqa: E402

RNG = np.random.default_rng(0)


def test_l2_is_one_over_2n_times_the_sum_of_squared_norms_for_three_outputs():
    # d = 3, N = 4: 1/(2N)·Σ‖ŷᵢ − yᵢ‖² is 3/2 of the plain mean of the squared entries, so either mistake shows.
    yhat, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    expected = sum(np.sum((yhat[i] - y[i]) ** 2) for i in range(4)) / (2 * 4)
    np.testing.assert_allclose(losses.mse(yhat, y), expected, rtol=1e-6)  # computed in float32
    assert not np.isclose(expected, np.mean((yhat - y) ** 2))


def test_l1_is_one_over_n_times_the_sum_of_absolute_norms_for_three_outputs():
    yhat, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    expected = sum(np.sum(np.abs(yhat[i] - y[i])) for i in range(4)) / 4
    np.testing.assert_allclose(losses.mae(yhat, y), expected, rtol=1e-6)


def test_relu_and_its_derivative_on_both_signs():
    v = np.array([-3.5, -1e-3, 0.0, 1e-3, 2.25], np.float32)
    np.testing.assert_array_equal(activations.relu(jnp.asarray(v)), np.array([0, 0, 0, 1e-3, 2.25], np.float32))
    np.testing.assert_array_equal(activations.relu_derivative(jnp.asarray(v)), [0, 0, 1, 1, 1])  # 1 for x ≥ 0


def test_sigmoid_and_tanh_at_points_known_exactly():
    # σ(0) = 1/2, σ(ln 3) = 3/4, σ(−ln 3) = 1/4; tanh(0) = 0, tanh(atanh ½) = ½, tanh(ln 2) = 3/5. Derivatives:
    # σ' = σ(1 − σ): 1/4, 3/16, 3/16; tanh' = 1 − tanh²: 1, 3/4, 16/25.
    v = jnp.array([0.0, math.log(3), -math.log(3)])
    np.testing.assert_allclose(activations.sigmoid(v), [0.5, 0.75, 0.25], rtol=1e-6)
    np.testing.assert_allclose(activations.sigmoid_derivative(v), [0.25, 3 / 16, 3 / 16], rtol=1e-6)
    t = jnp.array([0.0, math.atanh(0.5), math.log(2)])
    np.testing.assert_allclose(activations.tanh(t), [0.0, 0.5, 0.6], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(activations.tanh_derivative(t), [1.0, 0.75, 16 / 25], rtol=1e-6)


def test_softmax_is_exp_over_the_sum_of_exp_on_random_vectors():
    v = RNG.normal(scale=3.0, size=(5, 7))
    expected = np.exp(v) / np.exp(v).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(activations.softmax(jnp.asarray(v, jnp.float32)), expected, rtol=1e-5, atol=1e-7)


def layer_params(sizes):
    """Random weights and non-zero random biases (a forward pass that drops b cannot match)."""
    return [(jnp.asarray(RNG.normal(size=(m, n)), jnp.float32), jnp.asarray(RNG.normal(size=m) + 1.0, jnp.float32))
            for n, m in zip(sizes[:-1], sizes[1:])]


def test_a_fully_connected_layer_is_v_equals_wx_plus_b_then_u_equals_phi_of_v():
    (W, b), = params = layer_params([4, 3])
    x = RNG.normal(size=(6, 4)).astype(np.float32)
    yhat, vs, us = mlp.forward(params, jnp.asarray(x), activation="identity", output="tanh")
    v = np.stack([np.asarray(W) @ x[i] + np.asarray(b) for i in range(6)])  # one example at a time, v = Wx + b
    np.testing.assert_allclose(vs[0], v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(yhat, np.tanh(v), rtol=1e-5, atol=1e-6)
    vs_one, us_one = mlp.forward_one(params, jnp.asarray(x[0]), mlp.Net("identity", output="tanh"))
    np.testing.assert_allclose(vs_one[0], v[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(us_one[-1], np.tanh(v[0]), rtol=1e-5, atol=1e-6)


def test_the_two_hidden_layer_network_of_section_3_on_a_batch_with_biases():
    params = layer_params([3, 5, 4, 2])
    (W1, b1), (W2, b2), (W3, b3) = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params]
    x = RNG.normal(size=(8, 3))
    expected = np.stack([W3 @ np.maximum(W2 @ np.tanh(W1 @ xi + b1) + b2, 0) + b3 for xi in x])
    got = mlp.apply(params, jnp.asarray(x, jnp.float32), activation=["tanh", "relu"])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)  # float32 against float64


def test_the_perceptron_is_sign_of_w_transpose_x_plus_b():
    (w, b), = params = layer_params([3, 1])
    x = RNG.normal(size=(50, 3)).astype(np.float32)
    expected = np.sign(x @ np.asarray(w)[0] + np.asarray(b)[0])
    np.testing.assert_array_equal(perceptron.predict(params, jnp.asarray(x)), expected)


def test_one_full_batch_gradient_descent_step_is_p_minus_lr_times_the_gradient():
    # min L by gradient descent: fit with batch_size = N and plain SGD takes exactly p ← p − lr·∇L, with ∇L here
    # from the formulas: L = 1/(2N)·Σ‖W₂ tanh(W₁x + b₁) + b₂ − y‖².
    params = layer_params([2, 6, 1])
    x = RNG.normal(size=(16, 2)).astype(np.float32)
    y = RNG.normal(size=(16, 1)).astype(np.float32)
    lr = 0.05
    (W1, b1), (W2, b2) = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params]
    u = np.tanh(x @ W1.T + b1)
    g2 = (u @ W2.T + b2 - y) / 16  # ∂L/∂ŷ per example
    g1 = (g2 @ W2) * (1 - u ** 2)
    expected = [(W1 - lr * g1.T @ x, b1 - lr * g1.sum(0)), (W2 - lr * g2.T @ u, b2 - lr * g2.sum(0))]
    stepped, _ = train.fit(params, x, y, mlp.Net("tanh"), optimizer=optax.sgd(lr), epochs=1, batch_size=16,
                           key=jax.random.key(0), loss="mse", verbose=False)
    for (W, b), (W_ref, b_ref) in zip(stepped, expected):
        np.testing.assert_allclose(W, W_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, b_ref, rtol=1e-5, atol=1e-6)


def test_remark_1_different_parameters_represent_different_functions():
    # The same architecture with two parameter sets: two different functions of x; the same set: the same one.
    net = mlp.Net("tanh")
    first, second = mlp.init(jax.random.key(0), [1, 8, 1]), mlp.init(jax.random.key(1), [1, 8, 1])
    x = jnp.linspace(-2.0, 2.0, 101)[:, None]
    f1, f2 = np.asarray(mlp.apply(first, x, net)), np.asarray(mlp.apply(second, x, net))
    assert np.abs(f1 - f2).max() > 0.1
    np.testing.assert_array_equal(mlp.apply(first, x, net), f1)
    # And a single changed weight changes the function.
    changed = [(first[0][0].at[3, 0].add(1.0), first[0][1]), first[1]]
    assert np.abs(np.asarray(mlp.apply(changed, x, net)) - f1).max() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("domain", [(0.0, 1.0), (-1.0, 0.5)], ids=["unit interval", "another compact set"])
def test_the_theorem_a_bounded_sigma_network_comes_within_epsilon_of_f_in_the_max_norm(domain):
    # |f̂(x) − f(x)| < ε for every x of the domain, checked on a grid 33× denser than the 300 training points, with
    # a bounded, monotone σ (tanh), on [0, 1] and on another compact subset of ℝ (the theorem's last sentence).
    epsilon = 0.05
    config = universal_approx.Config(widths=(1000,), seeds=1, domain=domain, plots=False, verbose=False)
    x, y = universal_approx.sample(config.n, domain)
    x_test, y_test = universal_approx.sample(config.test_points, domain)
    result = universal_approx.fit_width(config, 1000, x, y, x_test, y_test)
    max_error = float(np.abs(result["_test_pred"][0] - y_test).max())
    assert max_error < epsilon, max_error
    assert config.activation == "tanh"  # bounded: |σ| ≤ 1 even far outside the domain
    assert float(jnp.abs(activations.get("tanh").fn(jnp.array([-1e3, 1e3]))).max()) <= 1.0
