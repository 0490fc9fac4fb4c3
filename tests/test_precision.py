"""Mixed precision: ``Net(compute_dtype="bfloat16")`` multiplies in bfloat16 and keeps everything else float32.

The products are checked against NumPy with the inputs rounded to bfloat16 (ml_dtypes, JAX's own bfloat16) and
summed in float64; the program's types are read from its jaxpr; the accuracy is checked on a short MNIST run.
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest

from jaxnet import backprop, data, losses, mlp, program, train

import requires
from jaxprs import equations
from problems import blobs

BF16 = mlp.Net("relu", compute_dtype="bfloat16")


def rounded(a) -> np.ndarray:
    """``a`` rounded to bfloat16, as float64."""
    return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)


@pytest.mark.parametrize("bad", ["int8", "bool", "banana", 3])
def test_compute_dtype_must_be_floating(bad):
    with pytest.raises(ValueError, match="compute_dtype must be a floating dtype"):
        mlp.Net(compute_dtype=bad)


def test_compute_dtype_is_kept_by_name():
    assert mlp.Net(compute_dtype=jnp.bfloat16).compute_dtype == "bfloat16"
    assert mlp.Net(compute_dtype=np.float16) == mlp.Net(compute_dtype="float16")
    assert "compute_dtype='bfloat16'" in repr(BF16)


def test_the_products_take_bfloat16_inputs_and_accumulate_in_float32():
    rng = np.random.default_rng(0)
    params = mlp.init(jax.random.key(0), [300, 64, 10])
    x = rng.normal(size=(50, 300)).astype(np.float32)
    yhat, vs, us = mlp.forward(params, x, BF16)
    assert yhat.dtype == jnp.float32 and all(v.dtype == jnp.float32 for v in vs)
    (W1, b1), (W2, b2) = [(np.asarray(W), np.asarray(b, np.float64)) for W, b in params]
    v1 = rounded(x) @ rounded(W1).T + b1
    # float32 accumulation of 300 products of bfloat16 numbers: relative error ~ 300 · 2⁻²⁴ of the terms' size.
    np.testing.assert_allclose(vs[0], v1, rtol=1e-5, atol=1e-5)
    u1 = np.asarray(us[1], np.float64)
    np.testing.assert_allclose(yhat, rounded(u1) @ rounded(W2).T + b2, rtol=1e-5, atol=1e-5)
    # And not the float32 product: rounding the inputs to 8 bits moves v by ~1e-2 of its size.
    assert np.max(np.abs(np.asarray(vs[0]) - x.astype(np.float64) @ W1.T.astype(np.float64))) > 1e-3


def test_one_example_takes_the_same_products():
    params = mlp.init(jax.random.key(0), [20, 8, 3])
    x = np.linspace(-1, 1, 20).astype(np.float32)
    np.testing.assert_allclose(mlp.apply(params, x, BF16), mlp.apply(params, x[None], BF16)[0], rtol=1e-6, atol=1e-7)


# Operations that convert, move or wrap values without computing with them.
MOVES = {"convert_element_type", "transpose", "reshape", "broadcast_in_dim", "squeeze", "expand_dims", "copy",
         "jit", "pjit", "custom_vjp_call", "custom_vjp_call_jaxpr", "custom_jvp_call"}


def dtypes_of(jaxpr) -> tuple[set, list]:
    """The (operation, dtype) of every value a (closed) jaxpr computes outside its matrix products (conversions and
    layout changes aside), and its products' (input dtypes, output dtype), nested jaxprs included."""
    values, products = set(), []
    for eqn in equations(jaxpr.jaxpr):
        if eqn.primitive.name == "dot_general":
            products.append((tuple(str(v.aval.dtype) for v in eqn.invars), str(eqn.outvars[0].aval.dtype)))
        elif eqn.primitive.name not in MOVES:
            values.update((eqn.primitive.name, str(v.aval.dtype)) for v in eqn.outvars if hasattr(v.aval, "dtype"))
    return values, products


@pytest.mark.parametrize("grad", ["autodiff", "manual"])
def test_a_training_step_multiplies_in_bfloat16_and_keeps_everything_else_float32(grad):
    # Weights, biases, optimizer state, loss (its log-sum-exp and softmax), gradients: float32. Only the product
    # inputs are bfloat16, and every product, forward and backward, returns float32. (The jaxpr still holds the
    # backward pass's product for the input's gradient, which XLA drops: test_export.py counts 3L − 1 once lowered.)
    optimizer = optax.adam(1e-3)
    params = mlp.init(jax.random.key(0), [4, 16, 3])
    x, y = blobs(n=32)
    step = train.make_step(optimizer, BF16, loss="cross_entropy", grad=grad)
    jaxpr = jax.make_jaxpr(step)(params, optimizer.init(params), x, y)
    values, products = dtypes_of(jaxpr)
    assert len(products) >= 5 and all(p == (("bfloat16", "bfloat16"), "float32") for p in products), products
    assert not [v for v in values if v[1] == "bfloat16"], values
    new, opt_state, value = step(params, optimizer.init(params), x, y)
    assert {a.dtype for a in jax.tree.leaves((new, opt_state, value)) if jnp.issubdtype(a.dtype, jnp.floating)} \
        == {jnp.dtype("float32")}



def test_one_examples_gradient_takes_the_same_products_as_a_batch_of_one():
    # The backward pass of W u for one example (an outer product c uᵀ and Wᵀ c) against the batch's (c X and Cᵀ W),
    # both bfloat16 products accumulated in float32; compiled, the data as arguments (see the test below).
    params = mlp.init(jax.random.key(0), [20, 8, 3])
    x = np.linspace(-1, 1, 20).astype(np.float32)
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(mlp.apply(p, x, BF16) ** 2), argnums=(0, 1)))
    (one, dx_one), (batch, dx_batch) = grad(params, x), grad(params, x[None])
    for got, want in zip(jax.tree.leaves((one, dx_one)), jax.tree.leaves((batch, dx_batch[0]))):
        assert got.dtype == want.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)

def test_the_gradients_agree_with_autodiff_and_with_float64_to_bfloat16_precision():
    params = mlp.init(jax.random.key(1), [6, 32, 32, 4])
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(64, 6)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 4, 64), jnp.int32)
    net = mlp.Net("tanh", compute_dtype="bfloat16")
    loss = losses.get("cross_entropy")
    # Compiled, as training runs them (eagerly, each of the hundred or so operations would compile on its own); the
    # data are arguments, as in training (closed over, jax 0.10's CPU backend folds them into a bfloat16 product
    # with a float32 result that it then cannot run).
    auto = jax.jit(jax.grad(lambda p, x, y: loss.fn(mlp.apply(p, x, net), y)))(params, x, y)
    manual = jax.jit(lambda p, x, y: backprop.manual_grad(p, x, y, net, loss="cross_entropy"))(params, x, y)
    # The same bfloat16 products on both sides. Each rounds its float32 signal g to bfloat16 before a product, and
    # a last-bit difference in g (the order XLA gives the elementwise ops differs between versions) can round an
    # entry to the neighbouring bfloat16: they agree within that rounding, 2⁻⁸ of each gradient's largest entry.
    for got, want in zip(jax.tree.leaves(manual), jax.tree.leaves(auto)):
        assert np.max(np.abs(np.asarray(got) - np.asarray(want))) <= 2.0 ** -8 * np.max(np.abs(want))
    with jax.enable_x64():
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        exact = jax.jit(jax.grad(lambda p, x, y: loss.fn(mlp.apply(p, x, mlp.Net("tanh")), y)))(
            p64, x.astype(jnp.float64), y)
    for got, want in zip(jax.tree.leaves(manual), jax.tree.leaves(exact)):
        # bfloat16 keeps 8 bits: each input is off by up to 2⁻⁹ relative; summed products ~1e-2 of the largest.
        scale = np.max(np.abs(want))
        assert np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want))) < 2e-2 * scale
        assert np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want))) > 1e-6 * scale  # not float32


def test_a_bfloat16_trainer_keeps_float32_parameters_and_optimizer_state():
    x, y = blobs()
    t = train.Trainer(BF16, loss="cross_entropy", optimizer=optax.adam(0.01), batch_size=32)
    state, history = t.fit(t.init(mlp.init(jax.random.key(0), [4, 16, 3])), x, y, epochs=5, key=jax.random.key(0),
                           eval_data=(x, y), verbose=False)
    leaves = jax.tree.leaves((state.params, state.opt_state))
    assert {a.dtype for a in leaves if jnp.issubdtype(a.dtype, jnp.floating)} == {jnp.dtype("float32")}
    assert history[-1]["eval_accuracy"] > 0.9


@pytest.mark.slow
def test_a_short_mnist_run_in_bfloat16_lands_within_0_3_points_of_float32():
    # The recipe's optimizer on the first 10,000 training images for 3 epochs, one seed, tested on all 10,000 test
    # images: float32 and bfloat16 products from the same start and the same key.
    from experiments import mnist

    if data.find_idx_dir() is None:
        pytest.skip(requires.MNIST)
    accuracy = {}
    for dtype in ("float32", "bfloat16"):
        config = mnist.Config(epochs=3, train_limit=10_000, seeds=1, compute_dtype=dtype, plots=False,
                              verbose=False, out="unused")
        x_train, y_train, x_test, y_test, net = mnist.load(config)
        assert net.compute_dtype == (None if dtype == "float32" else "bfloat16")
        t = train.Trainer(net, loss="cross_entropy", optimizer=mnist.make_optimizer(config, 10_000 // 128),
                          batch_size=128)
        state, _ = t.fit(t.init(mlp.init(jax.random.key(0), [784, 200, 10])), x_train,
                         mnist.soft_targets(y_train, 0.1), epochs=3, key=jax.random.key(1), verbose=False)
        accuracy[dtype] = t.evaluate(state.params, x_test, y_test)["accuracy"]
    assert accuracy["float32"] > 0.95
    assert abs(accuracy["bfloat16"] - accuracy["float32"]) <= 0.003, accuracy


def test_a_vmapped_bfloat16_ensemble_is_refused_on_the_cpu_and_members_in_turn_train(monkeypatch):
    # XLA's CPU backend fails the vmapped ensemble's bfloat16 training program at run time, so the Trainer refuses
    # it up front (a CPU takes that path only on a mesh of several devices, simulated here); without one a CPU
    # trains the members in turn, which runs.
    if jax.default_backend() != "cpu":
        pytest.skip("a CPU limitation")
    with monkeypatch.context() as patch:
        patch.setattr(program, "members_one_by_one", lambda mesh: False)
        with pytest.raises(ValueError, match="cannot train with compute_dtype='bfloat16' on XLA's CPU backend"):
            train.Trainer(BF16, loss="cross_entropy", optimizer=optax.adam(0.01), batch_size=32, ensemble=True)
    x, y = blobs()
    t = train.Trainer(BF16, loss="cross_entropy", optimizer=optax.adam(0.01), batch_size=32, ensemble=True)
    state, history = t.fit(t.init(mlp.init_ensemble(jax.random.key(0), 2, [4, 16, 3])), x, y, epochs=3,
                           key=jax.random.key(0), eval_data=(x, y), verbose=False)
    assert np.all(np.asarray(history[-1]["eval_accuracy"]) > 0.9)
