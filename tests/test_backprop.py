import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import activations, backprop, losses, mlp
from jaxnet.backprop import manual_grad, value_and_manual_grad

# float32: a few hundred products and sums per entry, each rounding by ~6e-8 relative; rtol 1e-5 / atol 1e-6 leaves
# room for a different summation order between the hand-written and the autodiff graphs. float64: same, ~1e-16.
TOL = {jnp.float32: dict(rtol=1e-5, atol=1e-6), jnp.float64: dict(rtol=1e-10, atol=1e-12)}
HIDDEN = list(activations.ACTIVATIONS)


def autodiff(params, x, y, *, activation="relu", output="identity", loss="mse"):
    return jax.grad(lambda p: losses.get(loss).fn(mlp.apply(p, x, activation=activation, output=output), y))(params)


def problem(depth, batched, loss, dtype, seed=0, d_in=3, width=5, d_out=4):
    keys = jax.random.split(jax.random.key(seed), 4)
    sizes = [d_in] + [width] * (depth - 1) + [d_out]
    params = mlp.init(keys[0], sizes, dtype=dtype)
    params = [(W, 0.1 * jax.random.normal(k, b.shape, dtype)) for (W, b), k in
              zip(params, jax.random.split(keys[1], depth))]
    lead = (6,) if batched else ()
    x = jax.random.normal(keys[2], lead + (d_in,), dtype)
    if loss == "cross_entropy":
        y = jax.random.randint(keys[3], lead, 0, d_out)
    else:
        y = jax.random.normal(keys[3], lead + (d_out,), dtype)
    return params, x, y


def check(params, x, y, dtype, **names):
    got = manual_grad(params, x, y, **names)
    chex.assert_trees_all_equal_shapes_and_dtypes(got, params)
    assert jax.tree.structure(got) == jax.tree.structure(params)
    chex.assert_trees_all_close(got, autodiff(params, x, y, **names), **TOL[dtype])


# Depths 1–3: one layer (the perceptron's shape), and the recursion g_i = Φ'_i W_{i+1}ᵀ g_{i+1} once and twice;
# batches at every depth, one example (the lecture's N = 1) at depth 2, where the rules differ only by a row.
GRID = [(depth, activation, loss, batched)
        for depth, activation, loss, batched in itertools.product([1, 2, 3], HIDDEN, ["mse", "mae", "cross_entropy"],
                                                                  [False, True])
        if batched or depth == 2]


def fast_slice(grid):
    """The grid with every case but the batched two-layer ones marked slow: `make check` keeps one case of each
    activation × loss, `make test` runs them all."""
    return [pytest.param(*case, marks=() if case[0] == 2 and case[3] else pytest.mark.slow) for case in grid]


@pytest.mark.parametrize("depth, activation, loss, batched", fast_slice(GRID))
def test_manual_grad_matches_autodiff_float32(depth, activation, loss, batched):
    params, x, y = problem(depth, batched, loss, jnp.float32)
    check(params, x, y, jnp.float32, activation=activation, loss=loss)


@pytest.mark.parametrize("depth, activation, loss, batched", fast_slice(GRID[1::4]))
def test_manual_grad_matches_autodiff_float64(depth, activation, loss, batched):
    with jax.enable_x64():
        params, x, y = problem(depth, batched, loss, jnp.float64)
        check(params, x, y, jnp.float64, activation=activation, loss=loss)


@pytest.mark.parametrize("output, loss", list(itertools.product(HIDDEN, ["mse", "mae"])))
def test_every_output_activation(output, loss):
    params, x, y = problem(3, True, loss, jnp.float32, seed=1)
    check(params, x, y, jnp.float32, activation=["tanh", "sigmoid"], output=output, loss=loss)


def sigmoid_np(v):
    return 1 / (1 + np.exp(-v))


def section_3_2_by_hand(params, x, y):
    """Section 3.2 for the lecture's network ŷ = W3 φ2(W2 φ1(W1 x + b1) + b2) + b3 (φ1 = tanh, φ2 = σ) with one
    example and L = ½||ŷ - y||², every row of both tables written out with NumPy in float64. Φ'_i is taken at v_i,
    as in the appendix (erratum 1: steps III–IV and the tables write Φ'_i(u_i))."""
    (W1, b1), (W2, b2), (W3, b3) = [(np.asarray(W), np.asarray(b)) for W, b in params]
    x, y = np.asarray(x), np.asarray(y)
    v1 = W1 @ x + b1; u1 = np.tanh(v1)
    v2 = W2 @ u1 + b2; u2 = sigmoid_np(v2)
    yhat = W3 @ u2 + b3
    g3 = yhat - y                                                  # g_3 = ŷ - y
    g2 = np.diag(sigmoid_np(v2) * (1 - sigmoid_np(v2))) @ W3.T @ g3  # g_2 = Φ'_2(v_2) W_3ᵀ g_3
    g1 = np.diag(1 - np.tanh(v1) ** 2) @ W2.T @ g2                 # g_1 = Φ'_1(v_1) W_2ᵀ g_2
    return {"v": [v1, v2, yhat], "u": [x, u1, u2, yhat], "g": [g1, g2, g3],
            "grads": [(np.outer(g1, x), g1), (np.outer(g2, u1), g2), (np.outer(g3, u2), g3)]}  # ∇W_i = g_i u_{i-1}ᵀ


def test_lecture_back_propagation_tables():
    with jax.enable_x64():
        params, x, y = problem(3, False, "mse", jnp.float64, seed=2)
        table = section_3_2_by_hand(params, x, y)["grads"]
        got = manual_grad(params, x, y, activation=["tanh", "sigmoid"])
        chex.assert_trees_all_close(got, [tuple(map(jnp.asarray, row)) for row in table], rtol=1e-12, atol=1e-14)


def test_every_intermediate_of_the_tables_for_one_example():
    # backprop.tables keeps v_i, u_i and g_i: each against section 3.2 written out, with L = ½||ŷ - y||².
    with jax.enable_x64():
        params, x, y = problem(3, False, "mse", jnp.float64, seed=2)
        expected = section_3_2_by_hand(params, x, y)
        got = backprop.tables(params, x, y, activation=["tanh", "sigmoid"])
        for name in ("v", "u", "g"):
            chex.assert_trees_all_close(getattr(got, name), [jnp.asarray(a) for a in expected[name]], rtol=1e-12,
                                        atol=1e-14)
        chex.assert_trees_all_close(list(zip(got.dW, got.db)), [tuple(map(jnp.asarray, r)) for r in expected["grads"]],
                                    rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.loss, 0.5 * np.sum((expected["v"][-1] - np.asarray(y)) ** 2), rtol=1e-12)


def test_tables_of_a_batch_keep_one_row_per_example_and_sum_the_gradients():
    params, x, y = problem(2, True, "mse", jnp.float32)
    got = backprop.tables(params, x, y, activation="tanh")
    assert [a.shape for a in got.v] == [(6, 5), (6, 4)] and [a.shape for a in got.g] == [(6, 5), (6, 4)]
    for n in range(6):  # example n alone, scaled by 1/N as the batch's loss is: its gradients sum to the batch's
        one = backprop.tables(params, x[n], y[n], activation="tanh")
        np.testing.assert_allclose(got.g[0][n], one.g[0] / 6, rtol=1e-5, atol=1e-7)
    chex.assert_trees_all_close(list(zip(got.dW, got.db)), autodiff(params, x, y, activation="tanh"),
                                **TOL[jnp.float32])


def test_erratum_the_derivative_is_taken_at_v_not_u():
    # Erratum 1: Φ'_i(u_i) (steps III–IV, the tables) agrees with Φ'_i(v_i) (the appendix) only by accident of the
    # activation. For ReLU with some v_1 < 0: u_1 = 0 there, where ReLU'(u_1) = 1 but ReLU'(v_1) = 0.
    W1, b1 = np.array([[1.0], [-1.0]]), np.zeros(2)
    W2, b2 = np.array([[1.0, 1.0]]), np.zeros(1)
    x, y = np.array([2.0]), np.array([0.0])
    v1 = W1 @ x + b1                       # [2, -2]
    u1 = np.maximum(v1, 0)                 # [2, 0]
    g2 = W2 @ u1 + b2 - y                  # ŷ - y
    from_v = (v1 >= 0) * (W2.T @ g2)       # Φ'_1(v_1) W_2ᵀ g_2 = [2, 0]
    from_u = (u1 >= 0) * (W2.T @ g2)       # Φ'_1(u_1) W_2ᵀ g_2 = [2, 2], the misprint
    params = [(jnp.asarray(W1), jnp.asarray(b1)), (jnp.asarray(W2), jnp.asarray(b2))]
    with jax.enable_x64():
        got = manual_grad(params, jnp.asarray(x), jnp.asarray(y), mlp.Net("relu"))[0][1]
        np.testing.assert_array_equal(got, from_v)
        assert not np.array_equal(got, from_u)
        np.testing.assert_array_equal(got, autodiff(params, jnp.asarray(x), jnp.asarray(y))[0][1])


def test_pre_activations_exactly_zero():
    # Zero weights and biases put every v_i at exactly 0, where ReLU' and the L1 subgradient have their ties.
    params = [(jnp.zeros((4, 3)), jnp.zeros(4)), (jnp.zeros((2, 4)), jnp.zeros(2))]
    x, y = jnp.ones((5, 3)), jnp.zeros((5, 2))
    for loss in ["mse", "mae"]:
        check(params, x, y, jnp.float32, activation="relu", loss=loss)
    check(params, x, jnp.zeros(5, jnp.int32), jnp.float32, loss="cross_entropy")


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_huge_logits_stay_finite_and_equal(scale):
    params, x, y = problem(2, True, "cross_entropy", jnp.float32, seed=3)
    W, b = params[-1]
    params[-1] = (W, scale * jnp.array([1.0, -1.0, 0.5, 0.0]))
    grads = manual_grad(params, x, y, loss="cross_entropy")
    chex.assert_tree_all_finite(grads)
    chex.assert_trees_all_close(grads, autodiff(params, x, y, loss="cross_entropy"), rtol=1e-5, atol=1e-6)


def test_soft_targets_not_summing_to_one():
    params, x, _ = problem(2, True, "mse", jnp.float32, seed=4)
    y = jax.random.uniform(jax.random.key(5), (6, 4)) * 2
    check(params, x, y, jnp.float32, loss="cross_entropy")


def test_value_is_the_loss():
    params, x, y = problem(3, True, "cross_entropy", jnp.float32)
    value, _ = value_and_manual_grad(params, x, y, loss="cross_entropy")
    np.testing.assert_allclose(value, losses.cross_entropy(mlp.apply(params, x), y), rtol=1e-6)


def test_jit_and_vmap():
    params, x, y = problem(3, True, "mse", jnp.float32)
    jitted = jax.jit(manual_grad, static_argnames=("activation", "output", "loss"))
    chex.assert_trees_all_close(jitted(params, x, y, activation="tanh"), autodiff(params, x, y, activation="tanh"),
                                **TOL[jnp.float32])
    # Per-example gradients by vmap: their mean over the batch is the batch gradient (the loss averages over N).
    per_example = jax.vmap(manual_grad, in_axes=(None, 0, 0))(params, x, y)
    chex.assert_trees_all_close(jax.tree.map(lambda g: g.mean(0), per_example), manual_grad(params, x, y),
                                **TOL[jnp.float32])


def test_cross_entropy_needs_identity_output():
    params, x, y = problem(2, True, "cross_entropy", jnp.float32)
    # The softmax output is the double softmax, refused by the engine's one rule (losses.check_output) ...
    with pytest.raises(ValueError, match="takes logits and applies the softmax inside it.*twice"):
        manual_grad(params, x, y, loss="cross_entropy", output="softmax")
    # ... any other output only by manual_grad, whose fused signal (yᵀ1)·z − y assumes logits straight out.
    with pytest.raises(ValueError, match="cross_entropy.*output must be 'identity'.*'tanh'"):
        manual_grad(params, x, y, loss="cross_entropy", output="tanh")


def test_bad_names_and_shapes():
    params, x, y = problem(2, True, "mse", jnp.float32)
    with pytest.raises(ValueError, match=r"unknown loss 'l3'.*mse"):
        manual_grad(params, x, y, loss="l3")
    with pytest.raises(ValueError, match=r"unknown activation 'elu'.*relu"):
        manual_grad(params, x, y, activation="elu")
    with pytest.raises(ValueError, match=r"\(6, 4\).*\(6, 1\)"):
        manual_grad(params, x, y[:, :1])


def test_appendix_tables_with_an_output_activation():
    # Appendix 7.1: ŷ = φ3(W3 φ2(W2 φ1(W1 x + b1) + b2) + b3), so g_3 = Φ'_3(v_3)(ŷ - y) and the rest as before.
    with jax.enable_x64():
        params, x, y = problem(3, False, "mse", jnp.float64, seed=6)
        (W1, b1), (W2, b2), (W3, b3) = [(np.asarray(W), np.asarray(b)) for W, b in params]
        x, y = np.asarray(x), np.asarray(y)
        v1 = W1 @ x + b1; u1 = np.maximum(v1, 0)
        v2 = W2 @ u1 + b2; u2 = np.tanh(v2)
        v3 = W3 @ u2 + b3; yhat = np.tanh(v3)
        g3 = np.diag(1 - yhat ** 2) @ (yhat - y)       # g_3 = Φ'_3(v_3)(ŷ - y)
        g2 = np.diag(1 - u2 ** 2) @ W3.T @ g3          # g_2 = Φ'_2(v_2) W_3ᵀ g_3
        g1 = np.diag((v1 >= 0) * 1.0) @ W2.T @ g2      # g_1 = Φ'_1(v_1) W_2ᵀ g_2
        table = [(np.outer(g1, x), g1), (np.outer(g2, u1), g2), (np.outer(g3, u2), g3)]
        got = manual_grad(params, jnp.asarray(x), jnp.asarray(y), activation=["relu", "tanh"], output="tanh")
        chex.assert_trees_all_close(got, [tuple(map(jnp.asarray, row)) for row in table], rtol=1e-12, atol=1e-14)


def test_a_registered_activation_is_found_by_name_and_back_propagated(monkeypatch):
    # Adding an activation is one register() call: softplus φ(v) = log(1 + e^v), φ'(v) = 1 / (1 + e^-v).
    monkeypatch.setattr(activations, "ACTIVATIONS", dict(activations.ACTIVATIONS))
    softplus = activations.elementwise("softplus", lambda v: jnp.logaddexp(v, 0.0), lambda v: 1 / (1 + jnp.exp(-v)))
    activations.register(softplus)
    with pytest.raises(ValueError, match="'softplus' is already registered"):
        activations.register(softplus)
    with pytest.raises(TypeError, match="register takes an Activation"):
        activations.register(jnp.tanh)
    net = mlp.Net("softplus")
    with jax.enable_x64():
        params, x, y = problem(2, True, "mse", jnp.float64)
        (W1, b1), (W2, b2) = [(np.asarray(W), np.asarray(b)) for W, b in params]
        expected = np.log1p(np.exp(np.asarray(x) @ W1.T + b1)) @ W2.T + b2  # the formula, written out in NumPy
        np.testing.assert_allclose(mlp.apply(params, x, net), expected, rtol=1e-12)
        chex.assert_trees_all_close(manual_grad(params, x, y, net, loss="mse"),
                                    autodiff(params, x, y, activation="softplus"), **TOL[jnp.float64])


def test_the_default_loss_is_l2():
    params, x, y = problem(2, True, "mse", jnp.float32)
    value, grads = value_and_manual_grad(params, x, y, activation="tanh")
    expected_value, expected = value_and_manual_grad(params, x, y, activation="tanh", loss="mse")
    assert float(value) == float(expected_value)
    chex.assert_trees_all_equal(grads, expected)
    chex.assert_trees_all_equal(manual_grad(params, x, y, activation="tanh"), expected)
