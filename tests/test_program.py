"""jaxnet.program: the compiled update and epochs, built afresh on every call, with the loss passed to the optimizer;
and train.make_step, the update compiled."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from warned import points_at

from jaxnet import mlp, placement, program, train

from problems import blobs, regression, small_params


def _problem():
    x = jax.random.normal(jax.random.key(1), (8, 3))
    return mlp.init(jax.random.key(0), [3, 5, 2]), x, jnp.tanh(x[:, :2])


def test_make_epochs_takes_the_network_by_keywords_and_builds_a_new_program_each_call():
    params, x, y = _problem()
    optimizer = optax.adam(0.1)  # a state of arrays, donated with the parameters
    common = dict(loss="mse", batch_size=4)

    def trained(run):
        given = jax.tree.map(jnp.array, params), optimizer.init(params)
        p, s, _ = run(*given, x, y, jax.random.key(2), jnp.arange(2))
        assert all(leaf.is_deleted() for leaf in jax.tree.leaves(given))  # donated: the results took their buffers
        return p

    with pytest.warns(DeprecationWarning, match="program.make_epochs's activation=/output= keywords") as caught:
        by_keywords = program.make_epochs(optimizer, activation="tanh", output="sigmoid", **common)
    assert points_at(caught[0], __file__)
    by_net = program.make_epochs(optimizer, mlp.Net("tanh", output="sigmoid"), **common)
    assert by_keywords is not by_net  # nothing is cached: the caller holds the program
    for a, b in zip(jax.tree.leaves(trained(by_keywords)), jax.tree.leaves(trained(by_net))):
        np.testing.assert_array_equal(a, b)
    other = trained(program.make_epochs(optimizer, mlp.Net("tanh"), **common))
    assert not np.array_equal(other[-1][0], trained(by_net)[-1][0])


def _recorder() -> optax.GradientTransformationExtraArgs:
    """A transformation that changes nothing and keeps the ``value=`` it was given."""

    def update(updates, state, params=None, *, value=None, **extra):
        return jax.tree.map(jnp.zeros_like, updates), value

    return optax.GradientTransformationExtraArgs(lambda params: jnp.zeros(()), update)


def test_make_steps_by_default_is_one_autodiff_step_per_minibatch_of_one_network():
    # streamed training's program (Trainer(..., steps_per_call=K)): K minibatches the host gathered, in one call,
    # against K calls of the single step make_step compiles; by default one network, gradients by jax.grad.
    x, y = blobs(n=12)
    xb, yb = x.reshape(3, 4, 4), y.reshape(3, 4)
    optimizer, net = optax.adam(0.01), mlp.Net("tanh")
    params = small_params()
    steps = program.make_steps(optimizer, net, loss="cross_entropy")
    given = jax.tree.map(jnp.copy, params), optimizer.init(params)
    got, _, values = steps(*given, xb, yb, None, 1.0)
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves(given))  # donated: the results took their buffers
    step = train.make_step(optimizer, net, loss="cross_entropy")
    expected, opt_state, losses = params, optimizer.init(params), []
    for k in range(3):
        expected, opt_state, value = step(expected, opt_state, xb[k], yb[k])
        losses.append(value)
    # The same update compiled twice, alone and inside a scan: float32 round-off of the fused products.
    chex.assert_trees_all_close(got, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(values, losses, rtol=1e-6)


def test_the_update_passes_the_minibatch_loss_to_the_optimizer_as_value():
    params, x, y = _problem()
    update = program.make_update(_recorder(), mlp.Net("tanh"), program.losses.get("mse"), "autodiff")
    new_params, seen, value = jax.jit(update)(params, jnp.zeros(()), x, y)
    # The loss written out: 1/(2N) Σ ‖ŷ − y‖² with ŷ = W2 tanh(W1 x + b1) + b2, in float64 NumPy.
    (W1, b1), (W2, b2) = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params]
    yhat = np.tanh(np.asarray(x, np.float64) @ W1.T + b1) @ W2.T + b2
    expected = np.sum((yhat - np.asarray(y, np.float64)) ** 2) / (2 * x.shape[0])
    np.testing.assert_allclose(seen, expected, rtol=1e-6)  # float32 against float64
    assert seen == value
    for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)


def test_a_transformation_without_extra_arguments_still_trains():
    # optax.GradientTransformation's update takes no value=: the update wraps it so that it ignores the loss.
    params, x, y = _problem()
    plain = optax.GradientTransformation(lambda p: optax.EmptyState(),
                                         lambda g, s, p=None: (jax.tree.map(lambda a: -0.1 * a, g), s))
    update = program.make_update(plain, mlp.Net("tanh"), program.losses.get("mse"), "autodiff")
    new_params, _, _ = update(params, plain.init(params), x, y)
    reference, _, _ = program.make_update(optax.sgd(0.1), mlp.Net("tanh"), program.losses.get("mse"),
                                          "autodiff")(params, optax.sgd(0.1).init(params), x, y)
    for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(reference)):
        np.testing.assert_array_equal(a, b)


def test_an_unknown_gradient_is_refused_when_built():
    with pytest.raises(ValueError, match=r"unknown grad 'numeric'; valid values are \['autodiff', 'manual'\]"):
        program.make_epochs(optax.sgd(0.1), mlp.Net("tanh"), loss="mse", batch_size=4, grad="numeric")


def test_the_vmapped_ensemble_program_equals_members_in_turn():
    # A CPU trains an ensemble member by member; accelerators and meshes run the vmapped program. Both must give
    # the same parameters and losses (float32 round-off: batched products sum in another order; after a few dozen
    # steps far below 1e-5).
    x, y = blobs()
    stacked = mlp.init_ensemble(jax.random.key(5), 3, [4, 16, 3])
    optimizer = optax.adam(1e-2)
    args = (jnp.asarray(x), jnp.asarray(y), jax.random.key(1), jnp.arange(3))
    net, kwargs = mlp.Net("relu"), dict(loss="cross_entropy", batch_size=32)
    vmapped = program.make_epochs(optimizer, net, ensemble=True, **kwargs)
    single = program.make_epochs(optimizer, net, **kwargs)
    fresh = lambda: jax.tree.map(jnp.array, stacked)
    a = vmapped(fresh(), jax.vmap(optimizer.init)(fresh()), *args)
    b = program.run_members(single, fresh(), jax.vmap(optimizer.init)(fresh()), *args)
    chex.assert_trees_all_close(a, b, rtol=1e-5, atol=1e-6)
    assert b[2].shape == (3, 3)  # (epochs, members)


def test_an_ensemble_trains_member_by_member_on_a_cpu_without_a_mesh():
    assert program.members_one_by_one(None) is (jax.default_backend() == "cpu")
    assert program.members_one_by_one(placement.make_mesh(devices=jax.devices()[:1])) is False


# -- train.make_step: the update, compiled ----------------------------------------------------------------------------

def test_make_step_traces_once_and_lowers_the_loss(traces):
    x, y = blobs()
    params = small_params()
    optimizer = optax.sgd(0.1)
    step = train.make_step(optimizer, loss="counted_cross_entropy")
    opt_state = optimizer.init(params)
    first = None
    for _ in range(5):
        for start in range(0, 192, 32):
            params, opt_state, value = step(params, opt_state, x[start:start + 32], y[start:start + 32])
            first = value if first is None else first
    assert traces["n"] == 1  # 30 steps, one trace
    assert float(value) < 0.5 * float(first)


def test_manual_step_refuses_what_it_cannot_differentiate_when_built():
    with pytest.raises(ValueError, match="output must be 'identity'.*'tanh'"):
        train.make_step(optax.sgd(0.1), loss="cross_entropy", output="tanh", grad="manual")


def test_the_optimizer_sees_the_parameters_weight_decay():
    # AdamW decays the parameters themselves: its update needs them, as optax's own step written out shows.
    x, y = regression()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    optimizer = optax.adamw(0.1, weight_decay=0.5)
    step = train.make_step(optimizer, mlp.Net("tanh"), loss="mse")
    new, _, _ = step(params, optimizer.init(params), x, y)
    grads = jax.grad(lambda p: 0.5 * jnp.sum((mlp.apply(p, x, mlp.Net("tanh")) - y) ** 2) / len(x))(params)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    chex.assert_trees_all_close(new, optax.apply_updates(params, updates), rtol=1e-6, atol=1e-7)
