"""Inverted dropout: ``Net(dropout=p)``, the key of ``apply`` / ``manual_grad``, and training with it.

The units are checked against the definition written out in NumPy (a dropped unit is 0, a kept one φ(v)/(1 − p),
the rest of the network computed from what survived), the gradient against ``jax.grad``, and training against a
loop of single steps with the keys the documentation gives.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from refusals import refused

from jaxnet import backprop, callbacks, losses, mlp, train

from problems import blobs, small_params

# As in test_backprop.py: float32 gradients agree to a few ulps of their largest terms; float64 to ~1e-16.
TOL = {jnp.float32: dict(rtol=1e-5, atol=1e-6), jnp.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.5", True, (0.2, 1.0)])
def test_rates_outside_0_1_are_refused(bad):
    with pytest.raises(ValueError, match=r"dropout rates must be numbers with 0 <= p < 1"):
        mlp.Net("relu", dropout=bad)


def test_per_layer_rates_must_fit_the_depth():
    with pytest.raises(ValueError, match="dropout gives 2 rates but activation names 3 hidden layers"):
        mlp.Net(("relu", "tanh", "relu"), dropout=(0.1, 0.2))
    net = mlp.Net("relu", dropout=(0.1, 0.2))
    with pytest.raises(ValueError, match="dropout gives 2 rates but the network has 1 hidden layers"):
        mlp.apply(small_params(), jnp.ones((2, 4)), net, key=jax.random.key(0))
    assert net.dropout_rates(3) == (0.1, 0.2) and mlp.Net(dropout=[0, 0.5]).dropout == (0.0, 0.5)


def test_rate_zero_is_the_network_without_dropout():
    # The same value (so the same compiled programs), and a key changes nothing, bit for bit.
    assert mlp.Net("tanh", dropout=0) == mlp.Net("tanh") and hash(mlp.Net("tanh", dropout=0.0)) == hash(mlp.Net("tanh"))
    assert repr(mlp.Net("tanh", dropout=0)) == ("Net(activation='tanh', output='identity', input_shift=0.0, "
                                                "input_scale=1.0)")
    params, x = small_params(), jnp.asarray(blobs(n=50)[0])
    np.testing.assert_array_equal(mlp.apply(params, x, mlp.Net("tanh", dropout=(0.0,)), key=jax.random.key(3)),
                                  mlp.apply(params, x, mlp.Net("tanh")))


def numpy_forward(params, x, phi, masks):
    """The forward pass in float64 NumPy with each hidden u_i multiplied by ``masks[i]`` (None: nothing dropped)."""
    u = np.asarray(x, np.float64)
    for i, (W, b) in enumerate(params):
        u = np.asarray(W, np.float64) @ u.T if u.ndim == 1 else u @ np.asarray(W, np.float64).T
        u = u + np.asarray(b, np.float64)
        if i < len(params) - 1:
            u = phi(u)
            if masks[i] is not None:
                u = u * masks[i]
    return u


def test_units_are_dropped_with_rate_p_and_the_kept_ones_scaled_by_1_over_1_minus_p():
    p, n, width = 0.3, 400, 256
    params = mlp.init(jax.random.key(0), [5, width, width, 2])
    params = [(W, b + 0.5) for W, b in params]  # positive biases: φ(v) = relu(v) is rarely 0 by itself
    x = np.random.default_rng(0).normal(size=(n, 5)).astype(np.float32)
    net = mlp.Net("relu", dropout=p)
    yhat, vs, us = mlp.forward(params, x, net, key=jax.random.key(7))
    np.testing.assert_array_equal(us[0], x)  # never the input
    relu = lambda v: np.maximum(v, 0.0)
    masks = []
    for i in (1, 2):
        u = np.asarray(us[i], np.float64)
        full = relu(np.asarray(vs[i - 1], np.float64))
        kept = u != 0
        # Every unit is either dropped (0) or φ(v)/(1 − p); float32 round-off of the division and the product.
        np.testing.assert_allclose(u[kept], full[kept] / (1 - p), rtol=1e-6)
        alive = full > 0
        dropped = np.mean(~kept[alive])
        # Binomial sampling error of the dropped fraction over ~10^5 live units: sd ≈ 0.0015; 6 sd allowed.
        assert abs(dropped - p) < 6 * np.sqrt(p * (1 - p) / alive.sum()), (i, dropped)
        masks.append(kept / (1 - p))
    assert not np.array_equal(masks[0] != 0, masks[1] != 0)  # each layer draws its own units
    # The output layer is never dropped: ŷ is the plain product of the surviving u_2.
    np.testing.assert_allclose(yhat, numpy_forward(params, x, relu, masks), rtol=1e-4, atol=1e-4)


def test_no_key_is_deterministic_and_equals_the_network_without_dropout():
    params, x = small_params(), jnp.asarray(blobs(n=40)[0])
    net = mlp.Net("relu", dropout=0.5)
    plain = np.asarray(mlp.apply(params, x, mlp.Net("relu")))
    np.testing.assert_array_equal(mlp.apply(params, x, net), plain)
    one, again = mlp.apply(params, x, net, key=jax.random.key(1)), mlp.apply(params, x, net, key=jax.random.key(1))
    np.testing.assert_array_equal(one, again)
    assert not np.allclose(one, plain)
    assert not np.allclose(one, mlp.apply(params, x, net, key=jax.random.key(2)))


def test_per_layer_rates_drop_only_where_the_rate_is_positive():
    params = mlp.init(jax.random.key(0), [4, 64, 64, 3])
    x = jnp.asarray(np.random.default_rng(1).normal(size=(30, 4)), jnp.float32)
    _, vs, us = mlp.forward(params, x, mlp.Net("tanh", dropout=(0.0, 0.5)), key=jax.random.key(0))
    np.testing.assert_allclose(us[1], np.tanh(np.asarray(vs[0])), rtol=1e-6, atol=1e-7)
    assert np.mean(np.asarray(us[2]) == 0) > 0.4


def test_one_example_is_dropped_like_a_row():
    params = mlp.init(jax.random.key(0), [4, 64, 3])
    net, x = mlp.Net("sigmoid", dropout=0.5), jnp.linspace(-1, 1, 4)
    _, vs, us = mlp.forward(params, x, net, key=jax.random.key(4))
    u = np.asarray(us[1])
    full = 1 / (1 + np.exp(-np.asarray(vs[0], np.float64)))
    assert u.shape == (64,) and 10 < np.sum(u == 0) < 54
    np.testing.assert_allclose(u[u != 0], 2 * full[u != 0], rtol=1e-6)
    # The definition, one example at a time, drops the same units (the same key, layer by layer).
    _, us_one = mlp.forward_one(params, x, net, key=jax.random.key(4))
    np.testing.assert_array_equal(np.asarray(us_one[1]) == 0, u == 0)
    np.testing.assert_allclose(us_one[1], u, rtol=1e-6)


CASES = [("relu", "identity", "mse"), ("tanh", "sigmoid", "mae"), (("sigmoid", "relu"), "identity", "cross_entropy")]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("activation, output, loss", CASES)
@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one example"])
def test_manual_grad_with_a_key_equals_jax_grad_of_the_same_dropped_network(dtype, activation, output, loss, batched):
    with jax.enable_x64(dtype == jnp.float64):
        sizes = [3, 16, 8, 4] if isinstance(activation, tuple) else [3, 16, 4]
        params = mlp.init(jax.random.key(0), sizes, dtype=dtype)
        net = mlp.Net(activation, output, dropout=0.4 if isinstance(activation, str) else (0.3, 0.5))
        rng = np.random.default_rng(0)
        lead = (12,) if batched else ()
        x = jnp.asarray(rng.normal(size=lead + (3,)), dtype)
        y = (jnp.asarray(rng.integers(0, 4, lead), jnp.int32) if loss == "cross_entropy"
             else jnp.asarray(rng.normal(size=lead + (4,)), dtype))
        key = jax.random.key(11)
        # Both compiled, as training runs them (eagerly, each operation would compile on its own); key=None: no drops.
        autodiff = jax.jit(jax.grad(lambda p, x, y, key: losses.get(loss).fn(mlp.apply(p, x, net, key=key), y)))
        manual = jax.jit(lambda p, x, y, key: backprop.manual_grad(p, x, y, net, loss=loss, key=key))
        expected, got = autodiff(params, x, y, key), manual(params, x, y, key)
        chex.assert_trees_all_equal_shapes_and_dtypes(got, params)
        chex.assert_trees_all_close(got, expected, **TOL[dtype])
        # A dropped unit passes no gradient to its incoming weights: whole rows of ∇W_1 are 0.
        if batched is False:
            dropped = np.asarray(mlp.forward(params, x, net, key=key)[2][1]) == 0
            assert dropped.any() and np.all(np.asarray(got[0][0])[dropped] == 0)
        chex.assert_trees_all_close(manual(params, x, y, None), autodiff(params, x, y, None), **TOL[dtype])


def test_a_step_of_a_net_with_dropout_needs_a_key():
    optimizer = optax.sgd(0.1)
    step = train.make_step(optimizer, mlp.Net("relu", dropout=0.2), loss="cross_entropy")
    params = small_params()
    x, y = blobs(n=32)
    with refused(ValueError, "dropout=0.2", "each training step needs its own key"):
        step(params, optimizer.init(params), x, y)
    new, _, value = step(params, optimizer.init(params), x, y, jax.random.key(0))
    assert np.isfinite(value) and not np.allclose(new[0][0], params[0][0])


NET = mlp.Net("relu", dropout=0.3)


def trainer(batch_size=32, **kwargs):
    return train.Trainer(NET, loss="cross_entropy", optimizer=optax.adam(0.01), batch_size=batch_size, **kwargs)


@pytest.mark.parametrize("batch_size", [32, 203], ids=["minibatches", "full batch"])
def test_training_draws_each_step_from_the_epochs_key_as_documented(batch_size):
    # A loop of single steps with the documented keys: the permutation from fold_in(key, e), step s's units from
    # split(fold_in(fold_in(key, e), 1), steps)[s]. The compiled epochs give the same parameters.
    x, y = blobs()
    key, optimizer = jax.random.key(5), optax.adam(0.01)
    step = train.make_step(optimizer, NET, loss="cross_entropy")
    params = small_params()
    opt_state = optimizer.init(params)
    for epoch in range(3):
        epoch_key = jax.random.fold_in(key, epoch)
        steps = len(x) // batch_size
        keys = jax.random.split(jax.random.fold_in(epoch_key, 1), steps)
        if batch_size == len(x):
            batches = [np.arange(len(x))]
        else:
            batches = np.asarray(jax.random.permutation(epoch_key, len(x)))[: steps * batch_size].reshape(steps, -1)
        for s, idx in enumerate(batches):
            params, opt_state, _ = step(params, opt_state, x[idx], y[idx], keys[s])
    t = trainer(batch_size)
    state, _ = t.fit(t.init(small_params()), x, y, epochs=3, key=key, verbose=False)
    chex.assert_trees_all_close(state.params, params, rtol=1e-5, atol=1e-6)  # jit of one step vs scanned steps
    same_units = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.adam(0.01),
                               batch_size=batch_size)
    plain, _ = same_units.fit(same_units.init(small_params()), x, y, epochs=3, key=key, verbose=False)
    assert not np.allclose(plain.params[0][0], state.params[0][0], atol=1e-4)  # dropout did change the run


@pytest.mark.parametrize("epochs_per_call", [1, 2])
def test_continued_and_resumed_runs_with_dropout_equal_one_run_bit_for_bit(tmp_path, epochs_per_call):
    x, y = blobs()
    key = jax.random.key(2)
    t = trainer(epochs_per_call=epochs_per_call)
    whole, _ = t.fit(t.init(small_params()), x, y, epochs=5, key=key, verbose=False)
    first, _ = t.fit(t.init(small_params()), x, y, epochs=2, key=key, verbose=False)
    continued, _ = t.fit(first, x, y, epochs=5, key=key, verbose=False)
    chex.assert_trees_all_equal(continued.params, whole.params)
    path = str(tmp_path / "ck.npz")
    fresh = trainer(epochs_per_call=epochs_per_call)
    fresh.fit(fresh.init(small_params()), x, y, epochs=2, key=key, verbose=False,
              callbacks=[callbacks.Checkpoint(path)])
    again = trainer(epochs_per_call=epochs_per_call)
    resumed, _ = again.fit(again.init(small_params()), x, y, epochs=5, key=key, verbose=False,
                           callbacks=[callbacks.Checkpoint(path, resume=True)])
    chex.assert_trees_all_equal(resumed.params, whole.params)


def test_evaluation_never_drops_units():
    x, y = blobs()
    params = small_params()
    dropping = trainer().evaluate(params, x, y)
    plain = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.adam(0.01),
                          batch_size=32).evaluate(params, x, y)
    assert dropping == plain
    # And the reported training fit records the same evaluation as the plain network on the final parameters.
    t = trainer()
    state, history = t.fit(t.init(params), x, y, epochs=2, key=jax.random.key(0), eval_data=(x, y), verbose=False)
    logits = np.asarray(mlp.apply(state.params, x, mlp.Net("relu")), np.float64)
    accuracy = np.mean(np.argmax(logits, axis=1) == y)
    assert history[-1]["eval_accuracy"] == pytest.approx(accuracy, abs=1e-7)  # a float32 fraction of 203


def test_the_one_call_fit_trains_with_dropout_like_the_trainer():
    x, y = blobs()
    key = jax.random.key(9)
    t = trainer()
    state, _ = t.fit(t.init(small_params()), x, y, epochs=3, key=key, verbose=False)
    params, _ = train.fit(small_params(), x, y, NET, optimizer=optax.adam(0.01), epochs=3, batch_size=32, key=key,
                          loss="cross_entropy", verbose=False)
    chex.assert_trees_all_equal(params, state.params)


def test_an_ensembles_members_share_the_units_dropped_as_they_share_the_order():
    # Each member trained alone, with the same key, gives that member of the ensemble (CPU: one member at a time).
    x, y = blobs()
    key = jax.random.key(4)
    members = mlp.init_ensemble(jax.random.key(0), 2, [4, 16, 3])
    t = trainer(ensemble=True)
    state, _ = t.fit(t.init(members), x, y, epochs=2, key=key, verbose=False)
    for k in range(2):
        alone = trainer()
        one, _ = alone.fit(alone.init(jax.tree.map(lambda a, k=k: a[k], members)), x, y, epochs=2, key=key,
                           verbose=False)
        chex.assert_trees_all_close(jax.tree.map(lambda a, k=k: a[k], state.params), one.params, rtol=1e-6,
                                    atol=1e-7)


def test_the_checkpoint_header_records_the_rates():
    x, y = blobs()
    seen = {}

    class Meta(callbacks.Callback):
        def on_fit_start(self, run, state):
            seen.update(run.meta)

    t = trainer()
    t.fit(t.init(small_params()), x, y, epochs=1, key=jax.random.key(0), verbose=False, callbacks=[Meta()])
    assert seen["dropout"] == 0.3 and "compute_dtype" not in seen
