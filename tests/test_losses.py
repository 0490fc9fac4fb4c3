import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from refusals import refused

from jaxnet import losses

YHAT = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], np.float32)  # NumPy: importing a test starts no JAX runtime
Y = np.array([[0.0, 2.0], [1.0, 1.0], [2.0, -1.0]], np.float32)


def test_mse_matches_the_lecture_formula():
    # 1/(2N) Σ ||ŷ - y||²: squared errors 1, 0.25 + 4, 1 + 1 over 2·3.
    np.testing.assert_allclose(losses.mse(YHAT, Y), (1 + 4.25 + 2) / 6, rtol=1e-6)


def test_mae_matches_the_lecture_formula():
    # 1/N Σ ||ŷ - y||₁: 1, 0.5 + 2, 1 + 1 over 3.
    np.testing.assert_allclose(losses.mae(YHAT, Y), (1 + 2.5 + 2) / 3, rtol=1e-6)


def test_single_example_counts_as_n_equal_one():
    np.testing.assert_allclose(losses.mse(YHAT[0], Y[0]), 0.5, rtol=1e-6)
    np.testing.assert_allclose(losses.mae(YHAT[1], Y[1]), 2.5, rtol=1e-6)


def test_exercise_1_gradient_of_half_squared_distance():
    # Lecture exercise 1: ∇ₓ ½||x - a||² = x - a. With N = 1 this is the mse signal, step I of back-propagation.
    x, a = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.5, 1.0, 0.5])
    np.testing.assert_allclose(jax.grad(losses.mse)(x, a), x - a, rtol=1e-6)
    np.testing.assert_allclose(losses.mse_signal(x, a), x - a, rtol=1e-6)


def test_cross_entropy_matches_numpy():
    logits = np.array([[3.0, 1.0, -1.0], [0.0, 0.5, 2.0]])
    labels = np.array([0, 2])
    log_z = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(log_z[0, 0] + log_z[1, 2]) / 2
    np.testing.assert_allclose(losses.cross_entropy(jnp.array(logits), jnp.array(labels)), expected, rtol=1e-6)
    np.testing.assert_allclose(losses.cross_entropy(jnp.array(logits), losses.one_hot(jnp.array(labels), 3)),
                               expected, rtol=1e-6)


def test_cross_entropy_gradient_is_z_minus_y():
    # Section 4: ∇ŷ L = z - y for one-hot y.
    logits, y = jnp.array([3.0, 1.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
    z = jax.nn.softmax(logits)
    np.testing.assert_allclose(jax.grad(losses.cross_entropy)(logits, y), z - y, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(losses.cross_entropy_signal(logits, y), z - y, rtol=1e-6, atol=1e-7)


def test_cross_entropy_gradient_for_unnormalised_targets():
    # Section 4, general case: ∇ŷ L = (yᵀ1) z - y when the targets do not sum to one.
    logits, y = jnp.array([0.2, -1.0, 0.7]), jnp.array([0.5, 1.5, 0.25])
    z = jax.nn.softmax(logits)
    expected = jnp.sum(y) * z - y
    np.testing.assert_allclose(jax.grad(losses.cross_entropy)(logits, y), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(losses.cross_entropy_signal(logits, y), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(losses.LOSSES))
@pytest.mark.parametrize("batched", [False, True])
def test_signal_equals_autodiff(name, batched):
    loss = losses.get(name)
    shape = (5, 4) if batched else (4,)
    yhat = jax.random.normal(jax.random.key(1), shape)
    if name == "cross_entropy":
        y = jax.random.randint(jax.random.key(2), shape[:-1], 0, 4)
    else:
        y = jax.random.normal(jax.random.key(2), shape).at[..., 0].set(yhat[..., 0])  # include a tie
    np.testing.assert_allclose(loss.signal(yhat, y), jax.grad(loss.fn)(yhat, y), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["mse", "mae"])
def test_regression_losses_refuse_broadcasting_shapes(name):
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        losses.get(name).fn(jnp.zeros((4, 1)), jnp.zeros((4,)))


def test_cross_entropy_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        losses.cross_entropy(jnp.zeros((4, 3)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"labels of shape \(5,\)"):
        losses.cross_entropy(jnp.zeros((4, 3)), jnp.zeros((5,), jnp.int32))


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_cross_entropy_finite_for_huge_logits(scale):
    logits = scale * jnp.array([[1.0, -1.0, 0.5], [0.0, 1.0, -1.0]])
    y = jnp.array([1, 0])
    value, grad = jax.value_and_grad(losses.cross_entropy)(logits, y)
    assert bool(jnp.isfinite(value)) and bool(jnp.all(jnp.isfinite(grad)))
    np.testing.assert_allclose(grad, losses.cross_entropy_signal(logits, y), atol=1e-7)


def test_labels_start_at_zero_so_the_second_class_is_label_1():
    # Section 2.1.2: "if x_i belongs to the second class, then y_i = [0 1 0 … 0]ᵀ". Labels count from 0.
    np.testing.assert_array_equal(losses.one_hot(jnp.array(1), 5), [0, 1, 0, 0, 0])


def test_one_hot():
    np.testing.assert_array_equal(losses.one_hot(jnp.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="integers"):
        losses.one_hot(jnp.array([0.0, 1.0]), 3)


@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_out_of_range_label_poisons_the_loss_eagerly_and_under_jit(transform):
    # A value check cannot raise under jit, so neither does it eagerly: the same call gives the same result either
    # way. An out-of-range label must not silently contribute 0, so the loss is NaN; labels are checked where data
    # enters (train.fit, train.evaluate).
    assert bool(jnp.isnan(transform(losses.cross_entropy)(jnp.zeros((2, 3)), jnp.array([0, 7]))))
    assert bool(jnp.isnan(transform(losses.cross_entropy)(jnp.zeros((2, 3)), jnp.array([0, -1]))))


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_same_values_and_errors_eagerly_and_under_jit(name):
    loss = losses.get(name)
    yhat = jnp.array([[0.5, jnp.nan], [1.0, 2.0]])
    y = jnp.array([1, 0]) if loss.integer_labels else jnp.array([[0.0, 1.0], [jnp.inf, 0.0]])
    for fn in (loss.fn, loss.signal):
        np.testing.assert_array_equal(fn(yhat, y), jax.jit(fn)(yhat, y))  # NaN and inf propagate alike
        for transform in (lambda f: f, jax.jit):
            with pytest.raises(ValueError, match="shape"):
                transform(fn)(yhat, jnp.zeros((3, 2)))


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'.*cross_entropy.*mae.*mse"):
        losses.get("hinge")


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.int32])
def test_one_hot_rows_are_in_the_dtype_asked_for(dtype):
    rows = losses.one_hot(np.array([2, 0]), 3, dtype=dtype)
    assert rows.dtype == dtype
    np.testing.assert_array_equal(np.asarray(rows, np.float32), [[0, 0, 1], [1, 0, 0]])


@pytest.mark.parametrize("name", ["mse", "mae"])
def test_regression_errors_name_the_loss_and_the_shapes(name):
    for fn in (getattr(losses, name), getattr(losses, f"{name}_signal")):
        with refused(ValueError, f"{name}: yhat", "one example (d,) or a batch (N, d)", "(1, 2, 2)"):
            fn(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)))
        with refused(ValueError, f"{name}: yhat has shape (2,)", "y has shape (3,)"):
            fn(np.zeros(2), np.zeros(3))


def test_cross_entropy_errors_name_the_shapes():
    for fn in (losses.cross_entropy, losses.cross_entropy_signal):
        with pytest.raises(ValueError, match=re.escape("cross_entropy: logits must be one example (K,) or a batch "
                                                       "(N, K), got shape (1, 2, 3)")):
            fn(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)))
        with refused(ValueError, "cross_entropy", "labels must have shape (4,)", "logits of shape (4, 3)",
                     "labels of shape (3,)"):
            fn(np.zeros((4, 3)), np.zeros(3, np.int32))
        with refused(ValueError, "cross_entropy", "labels must have shape ()", "logits of shape (3,)",
                     "labels of shape (1,)"):
            fn(np.zeros(3), np.zeros(1, np.int32))


def test_the_label_equal_to_the_class_count_is_out_of_range():
    # Labels run 0..K-1: label K is the first one out of range, and poisons the loss and its signal's row.
    assert bool(jnp.isnan(losses.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))))
    signal = losses.cross_entropy_signal(np.zeros((2, 3)), np.array([0, 3]))
    assert np.isfinite(signal[0]).all() and np.isnan(signal[1]).all()


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_losses_and_signals_keep_the_predictions_dtype(name, dtype):
    # The cross-entropy's targets (integer labels, float32 rows) are cast to the logits' dtype; a regression loss
    # follows JAX's promotion, so it gets targets of its own dtype here. Neither may come out in float32.
    loss = losses.get(name)
    yhat = jnp.asarray(YHAT, dtype)
    targets = [np.array([1, 0, 1]), Y] if loss.integer_labels else [jnp.asarray(Y, dtype)]
    for y in targets:
        assert loss.fn(yhat, y).dtype == dtype, y
        assert loss.signal(yhat, y).dtype == dtype, y


def test_registering_a_loss_with_an_unknown_metric_lists_the_valid_ones():
    with pytest.raises(ValueError, match=re.escape("loss 'hinge': unknown metric 'f1'; valid metrics are "
                                                   "[None, 'accuracy']")):
        losses.register(losses.Loss("hinge", losses.mae, losses.mae_signal, metric="f1"))
    assert "hinge" not in losses.LOSSES


def test_only_the_softmax_output_is_refused_before_the_cross_entropy_unless_its_signal_is_fused():
    losses.check_output("cross_entropy", "sigmoid")  # allowed: the loss applies its own softmax to whatever comes
    with pytest.raises(ValueError, match="output must be 'identity'"):
        losses.check_output("cross_entropy", "sigmoid", fused_signal=True)
