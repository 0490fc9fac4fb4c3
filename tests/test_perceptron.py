import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from warned import points_at

from jaxnet import mlp, perceptron


def separable(key, n=200, d=3):
    x = jax.random.normal(key, (n, d))
    w_true, b_true = jnp.array([1.0, -2.0, 0.5]), 0.3
    margin = x @ w_true + b_true
    keep = jnp.abs(margin) > 0.2  # a margin guarantees convergence in finitely many updates (Novikoff)
    return x[keep], jnp.where(margin[keep] > 0, 1, -1)


def test_converges_on_separable_data(key):
    x, y = separable(key)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = perceptron.train(x, y)
    assert result.converged and result.mistakes == 0
    np.testing.assert_array_equal(perceptron.predict(result.params, x), y)
    W, b = result.params[0]
    assert W.shape == (1, 3) and b.shape == (1,)


def test_predict_gives_one_sign_per_example_and_refuses_other_networks(key):
    W, b = jnp.array([[1.0, -2.0]]), jnp.array([0.5])
    x = jnp.array([[1.0, 1.0], [3.0, 1.0], [0.0, 0.0]])
    expected = np.sign(np.asarray(x) @ np.asarray(W[0]) + float(b[0]))  # [-1, 1, 1], written out
    np.testing.assert_array_equal(perceptron.predict([(W, b)], x), expected)
    assert perceptron.predict([(W, b)], x[1]).shape == ()
    two_outputs = [(jnp.concatenate([W, -W]), jnp.concatenate([b, -b]))]
    two_layers = [(jnp.ones((1, 2)), jnp.zeros(1)), (jnp.ones((1, 1)), jnp.zeros(1))]
    for params, shapes in [(two_outputs, r"\[\(2, 2\)\]"), (two_layers, r"\[\(1, 2\), \(1, 1\)\]")]:
        with pytest.raises(ValueError, match=r"one layer \[\(W \(1, d\).*got W shapes " + shapes):
            perceptron.predict(params, x)


def test_is_the_one_layer_mlp_with_sign_output(key):
    x, y = separable(key)
    params = perceptron.train(x, y).params
    np.testing.assert_array_equal(mlp.apply(params, x, output="sign")[:, 0], y)


def test_says_when_it_does_not_converge():
    # XOR is not linearly separable: the rule cycles forever.
    x = jnp.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = jnp.array([-1, -1, 1, 1])
    with pytest.warns(perceptron.ConvergenceWarning, match="did not converge.*after 50 epochs"):
        result = perceptron.train(x, y, epochs=50)
    assert not result.converged and result.epochs == 50
    with pytest.warns(perceptron.ConvergenceWarning, match="after 1000 epochs"):
        assert perceptron.train(x, y).epochs == 1000  # the default: 1,000 passes at most


def test_single_update_rule():
    w, b, wrong = perceptron.perceptron_step(jnp.zeros(2), jnp.zeros(()), jnp.array([1.0, 2.0]), jnp.array(-1.0))
    assert bool(wrong)  # on the boundary counts as a mistake
    np.testing.assert_array_equal(w, [-1.0, -2.0])
    assert float(b) == -1.0


def test_gradient_of_sign_network_is_zero(key):
    # Why the perceptron has its own rule: no gradient flows through sign.
    x, y = separable(key)
    params = [(jnp.ones((1, 3)), jnp.zeros(1))]
    grads = jax.grad(lambda p: jnp.sum((mlp.apply(p, x, output="sign")[:, 0] - y) ** 2))(params)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("labels", [[0, 1, 1], [1, 2, -1]])
def test_refuses_labels_other_than_plus_minus_one(labels):
    with pytest.raises(ValueError, match="labels must be -1 or \\+1"):
        perceptron.train(jnp.zeros((3, 2)), jnp.array(labels))


def test_a_point_on_the_boundary_counts_as_wrong_and_a_margin_below_one_as_right():
    # The rule updates when y(wᵀx + b) ≤ 0: on the boundary (= 0) it moves, for any positive margin it does not.
    w, b = jnp.array([1.0, -1.0]), jnp.array(0.0)
    on_boundary = jnp.array([2.0, 2.0])  # wᵀx + b = 0
    w1, b1, wrong = perceptron.perceptron_step(w, b, on_boundary, jnp.array(1.0))
    assert bool(wrong)
    np.testing.assert_array_equal(w1, [3.0, 1.0])  # w + y x
    assert float(b1) == 1.0  # b + y
    small_margin = jnp.array([0.5, 0.25])  # y(wᵀx + b) = 0.25: right, however small the margin
    w2, b2, wrong = perceptron.perceptron_step(w, b, small_margin, jnp.array(1.0))
    assert not bool(wrong)
    np.testing.assert_array_equal(w2, w)
    assert float(b2) == 0.0


def test_bad_input_is_refused_word_for_word():
    cases = [(jnp.zeros(3), jnp.ones(3), "perceptron: x must be (N, d) and y (N,), got x (3,) and y (3,)"),
             (jnp.zeros((3, 2)), jnp.ones(4), "perceptron: x must be (N, d) and y (N,), got x (3, 2) and y (4,)"),
             (jnp.zeros((2, 2)), jnp.array([1, 0]), "perceptron: labels must be -1 or +1"),
             (jnp.array([[0.0, jnp.nan], [1.0, 1.0]]), jnp.array([1, -1]), "perceptron: x contains NaN or inf")]
    for x, y, message in cases:
        with pytest.raises(ValueError) as refused:
            perceptron.train(x, y)
        assert str(refused.value) == message


def test_the_parameters_come_in_the_dtype_asked_for():
    x = np.array([[2.0, 1.0], [-1.0, -2.0]], np.float32)
    y = np.array([1, -1])
    (W, b), = perceptron.train(x, y, dtype=jnp.float16).params
    assert W.dtype == jnp.float16 and b.dtype == jnp.float16


def test_the_convergence_warning_counts_the_examples_and_points_at_the_caller():
    x = jnp.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])  # XOR: never separated
    with pytest.warns(perceptron.ConvergenceWarning) as caught:
        result = perceptron.train(x, jnp.array([-1, -1, 1, 1]), epochs=5)
    assert f"{result.mistakes} of 4 examples still misclassified after 5 epochs" in str(caught[0].message)
    if "MUTANT_UNDER_TEST" not in os.environ:  # make mutants calls jaxnet through a frame of its own
        assert points_at(caught[0], __file__)
