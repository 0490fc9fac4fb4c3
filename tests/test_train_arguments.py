"""Every argument of train's public functions reaches what it should, and every refusal says exactly what is wrong.

A keyword that is silently dropped (``activation=`` not passed on, ``ensemble=`` forgotten by ``evaluate``) or a
message naming the wrong thing changes no number in the tests of the training itself; each is compared here with the
same call spelled another way (a :class:`jaxnet.mlp.Net` instead of keywords, member by member instead of stacked).
Tiny problems: 16 examples, one or two compiled programs per test.
"""

import io
import re
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnet import mlp, train

N = 16


def problem(d_in=3, d_out=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, d_in)).astype(np.float32)
    return x, np.tanh(x @ rng.normal(size=(d_in, d_out))).astype(np.float32)


def fit(params, x, y, **kwargs):
    kwargs = {"optimizer": optax.sgd(0.1), "epochs": 2, "batch_size": 4, "key": jax.random.key(1), "loss": "mse",
              "verbose": False, **kwargs}
    return train.fit(params, x, y, **kwargs)


def test_activation_and_output_keywords_build_the_same_network_as_a_net():
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 8, 2])
    net = mlp.Net("tanh", output="sigmoid")
    by_net, _ = fit(params, x, y, net=net)
    by_keywords, _ = fit(params, x, y, activation="tanh", output="sigmoid")
    chex.assert_trees_all_equal(by_keywords, by_net)
    default, _ = fit(params, x, y)
    assert not np.allclose(default[0][0], by_net[0][0])  # the default (relu, identity) trains otherwise
    assert train.evaluate(params, x, y, activation="tanh", output="sigmoid", loss="mse")[0] == \
        train.evaluate(params, x, y, net, loss="mse")[0]  # [1] is the metric: NaN, mse has none
    assert train.evaluate(params, x, y, activation="tanh", loss="mse")[0] != train.evaluate(params, x, y, loss="mse")[0]
    optimizer = optax.sgd(0.1)
    by_step = train.make_step(optimizer, activation="tanh", output="sigmoid", loss="mse")
    by_net_step = train.make_step(optimizer, net, loss="mse")
    chex.assert_trees_all_equal(by_step(params, optimizer.init(params), x, y),
                                by_net_step(params, optimizer.init(params), x, y))


def test_evaluate_of_an_ensemble_is_each_members_evaluation():
    x, y = problem()
    stacked = train.init_ensemble(jax.random.key(0), 3, [3, 5, 4, 2])
    losses, metrics = train.evaluate(stacked, x, y, mlp.Net("tanh"), loss="mse", ensemble=True)
    assert losses.shape == (3,) and metrics.shape == (3,)
    for k in range(3):
        member = jax.tree.map(lambda a, k=k: a[k], stacked)
        alone = train.evaluate(member, x, y, mlp.Net("tanh"), loss="mse")
        np.testing.assert_allclose(losses[k], alone[0], rtol=1e-6)  # float32: the same sum, vmapped
    with pytest.raises(ValueError, match=re.escape("evaluate: y must have shape (16, 2) like the network's output, "
                                                   "got (16, 4)")):
        train.evaluate(stacked, x, np.zeros((N, 4), np.float32), loss="mse", ensemble=True)


def test_three_layers_take_their_output_size_from_the_last_layer():
    x, y = problem(d_out=2)
    params = mlp.init(jax.random.key(0), [3, 6, 5, 2])  # the middle layer's 5 is not the output's 2
    trained, history = fit(params, x, y, eval_data=(x, y))
    assert [W.shape for W, _ in trained] == [(6, 3), (5, 6), (2, 5)] and len(history) == 2
    assert np.isfinite(train.evaluate(trained, x, y, loss="mse")[0])
    with pytest.raises(ValueError, match=re.escape("training data: y must have shape (16, 2) like the network's "
                                                   "output, got (16, 5)")):
        fit(params, x, np.zeros((N, 5), np.float32))


def test_zero_epochs_returns_the_parameters_untrained():
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    trained, history = fit(params, x, y, epochs=0)
    chex.assert_trees_all_equal(trained, params)
    assert list(history) == []
    message = "epochs must be an int >= 0 and epochs_per_call >= 1, got -1 and 1"
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(params, x, y, epochs=-1)


def test_a_batch_of_one_is_plain_sgd_and_the_batch_limits_are_named():
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    _, history = fit(params, x, y, batch_size=1, epochs=1)
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    for bad in (0, N + 1):
        message = f"batch_size must be between 1 and the {N} training examples, got {bad}"
        with pytest.raises(ValueError, match=f"^{message}$"):
            fit(params, x, y, batch_size=bad)


def test_mesh_and_devices_together_are_refused():
    x, y = problem()
    message = "give either mesh= or devices= (a data-only mesh), not both"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(mlp.init(jax.random.key(0), [3, 4, 2]), x, y, mesh=train.make_mesh(), devices=jax.devices())


def test_bad_evaluation_data_is_named_as_such():
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    message = "eval_data: x must have shape (N, 3) for this network, got (16, 2)"
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(params, x, y, eval_data=(x[:, :2], y))


def test_the_unscaled_input_warning_names_the_data_and_the_scale_to_use():
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    ints = np.tile(np.array([[0, 1, 1000]], np.int32), (N, 1))
    with pytest.warns(train.UnscaledInputWarning) as caught:
        fit(params, ints, y, epochs=1)
    assert str(caught[0].message) == (
        "training data: x is int32 with values up to 1000 and enters the network unscaled; build the network with "
        "mlp.Net(..., input_scale=1000.0) (the data stays int32 on the device), or pass float inputs in [0, 1] "
        "(data.load_mnist's default)")
    with pytest.warns(train.UnscaledInputWarning, match=re.escape("uint8 with values up to 2 and enters")):
        fit(params, np.full((N, 3), 2, np.uint8), y, epochs=1)  # 2 is already more than the unit interval holds
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(params, np.ones((N, 3), np.uint8), y, epochs=1)  # 0/1 features need no scale


def test_continuing_an_ensemble_takes_its_own_optimizer_state():
    x, y = problem()
    stacked = train.init_ensemble(jax.random.key(0), 2, [3, 4, 2])
    optimizer = optax.adam(1e-2)
    # Full batches: a second call's epochs shuffle as the first call's did, which full batches do not see.
    straight, _ = fit(stacked, x, y, optimizer=optimizer, ensemble=True, epochs=4, batch_size=N)
    half, history = fit(stacked, x, y, optimizer=optimizer, ensemble=True, batch_size=N)
    twice, _ = fit(half, x, y, optimizer=optimizer, ensemble=True, batch_size=N, opt_state=history.opt_state)
    chex.assert_trees_all_close(twice, straight, rtol=1e-5, atol=1e-6)  # float32 round-off of the resumed sums
    single = jax.tree.map(lambda a: a[0], stacked)
    expected = jax.tree.structure(optimizer.init(single))
    given = jax.tree.structure(optax.sgd(0.1).init(single))
    message = (f"opt_state does not belong to this optimizer: its structure is {given}, the optimizer's is "
               f"{expected}; pass the history.opt_state of a run with the same optimizer, or none to start afresh")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(single, x, y, optimizer=optimizer, opt_state=optax.sgd(0.1).init(single))


def test_per_member_hyperparameters_keep_the_optimizers_dtype():
    x, y = problem()
    stacked = train.init_ensemble(jax.random.key(0), 2, [3, 4, 2])
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    _, history = fit(stacked, x, y, optimizer=optimizer, ensemble=True, hyperparams={"learning_rate": [1, 0]})
    assert history.opt_state.hyperparams["learning_rate"].dtype == jnp.float32  # integers given, float32 kept
    with pytest.raises(ValueError, match=re.escape("hyperparams['learning_rate'] has 1 values for an ensemble of 2 "
                                                   "members; give one per member")):
        fit(stacked, x, y, optimizer=optimizer, ensemble=True, hyperparams={"learning_rate": 0.1})
    with pytest.raises(ValueError, match=re.escape("unknown hyperparameter 'momentum'; the optimizer has "
                                                   "['learning_rate']")):
        fit(stacked, x, y, optimizer=optimizer, ensemble=True, hyperparams={"momentum": [0.9, 0.9]})
    message = "hyperparams needs ensemble=True and an optimizer built with optax.inject_hyperparams"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(jax.tree.map(lambda a: a[0], stacked), x, y, optimizer=optimizer, hyperparams={"learning_rate": [0.1]})


@pytest.mark.parametrize("init, dtype", [("lecun", jnp.float32), ("glorot", jnp.bfloat16), ("normal", jnp.float16)])
def test_init_ensemble_passes_the_init_and_dtype_to_each_member(init, dtype):
    key = jax.random.key(4)
    stacked = train.init_ensemble(key, 3, [3, 5, 2], init=init, dtype=dtype)
    for k, member_key in enumerate(jax.random.split(key, 3)):
        chex.assert_trees_all_equal(jax.tree.map(lambda a, k=k: a[k], stacked),
                                    mlp.init(member_key, [3, 5, 2], init=init, dtype=dtype))


def test_fit_shows_a_bar_by_default_on_a_terminal(monkeypatch):
    import tqdm.auto

    made = []

    class Bar:
        def __init__(self, **kwargs):
            made.append(kwargs)

        def set_postfix(self, *args, **kwargs):
            pass

        def update(self, n):
            pass

        def close(self):
            pass

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    monkeypatch.setattr("sys.stderr", Terminal())
    x, y = problem()
    train.fit(mlp.init(jax.random.key(0), [3, 4, 2]), x, y, optimizer=optax.sgd(0.1), epochs=2, batch_size=4,
              key=jax.random.key(1), loss="mse")  # verbose left at its default
    assert made == [dict(total=2, initial=0, unit="epoch", dynamic_ncols=True)]


def test_the_optimizer_sees_the_parameters_weight_decay():
    # AdamW decays the parameters themselves: its update needs them, as optax's own step written out shows.
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    optimizer = optax.adamw(0.1, weight_decay=0.5)
    step = train.make_step(optimizer, mlp.Net("tanh"), loss="mse")
    new, _, _ = step(params, optimizer.init(params), x, y)
    grads = jax.grad(lambda p: 0.5 * jnp.sum((mlp.apply(p, x, mlp.Net("tanh")) - y) ** 2) / N)(params)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    chex.assert_trees_all_close(new, optax.apply_updates(params, updates), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_manual_gradients_use_the_networks_activation(activation):
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    net = mlp.Net(activation)
    by_hand, _ = fit(params, x, y, net=net, grad="manual")
    by_autodiff, _ = fit(params, x, y, net=net)
    chex.assert_trees_all_close(by_hand, by_autodiff, rtol=1e-5, atol=1e-6)  # float32 round-off, 8 steps


def test_an_ensemble_trains_member_by_member_on_a_cpu_without_a_mesh():
    from jaxnet import program

    assert program.members_one_by_one(None) is (jax.default_backend() == "cpu")
    assert program.members_one_by_one(train.make_mesh(devices=jax.devices()[:1])) is False


def test_programs_are_shared_by_optimizers_with_equal_hyperparameters_only():
    from jaxnet import program

    a, b, c = (program._ByFingerprint(o) for o in (optax.sgd(0.1), optax.sgd(0.1), optax.sgd(0.2)))
    assert a == b and hash(a) == hash(b)
    assert a != c and c != a and a != optax.sgd(0.1)


def test_make_evaluate_takes_the_network_by_keywords_and_one_network_by_default():
    from jaxnet import evaluation

    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    xp, yp, n, chunk = evaluation.pad(x, y, 5)
    by_keywords = evaluation.make_evaluate(loss="mse", chunk_size=chunk, activation="tanh", output="sigmoid")
    by_net = evaluation.make_evaluate(mlp.Net("tanh", output="sigmoid"), loss="mse", chunk_size=chunk)
    value = by_keywords(params, xp, yp, n)[0]
    assert value.shape == () and value == by_net(params, xp, yp, n)[0]  # one network: a scalar, not per member
    yhat = mlp.apply(params, x, mlp.Net("tanh", output="sigmoid"))
    np.testing.assert_allclose(value, 0.5 * np.sum((np.asarray(yhat) - y) ** 2) / N, rtol=1e-6)  # L2, written out


def test_pad_rounds_the_chunk_to_the_shards_only_when_asked():
    from jaxnet import evaluation

    x, y = np.zeros((7, 2)), np.zeros(7)
    assert evaluation.pad(x, y, 5)[2:] == (7, 5)  # one shard: the chunk as given
    assert evaluation.pad(x, y, 5, multiple_of=2)[2:] == (7, 6)


@pytest.mark.skipif("MUTANT_UNDER_TEST" in __import__("os").environ,
                    reason="make mutants calls jaxnet through a frame of its own, so warnings point elsewhere")
def test_the_unscaled_input_warnings_point_at_the_caller_of_fit():
    x, y = problem()
    pixels = np.full((N, 3), 200, np.uint8)
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    with pytest.warns(train.UnscaledInputWarning) as caught:
        fit(params, pixels, y, epochs=1)  # the training data, through this file's fit helper
        train.fit(params, x, y, optimizer=optax.sgd(0.1), epochs=1, batch_size=4, key=jax.random.key(1), loss="mse",
                  eval_data=(pixels, y), verbose=False)
    assert [w.filename for w in caught] == [__file__, __file__]


def test_an_ensemble_trains_its_members_with_the_network_and_gradient_asked_for():
    x, y = problem()
    stacked = train.init_ensemble(jax.random.key(0), 2, [3, 4, 2])
    net = mlp.Net("tanh", output="sigmoid")
    together, _ = fit(stacked, x, y, net=net, ensemble=True, grad="manual")
    for k in range(2):
        alone, _ = fit(jax.tree.map(lambda a, k=k: a[k], stacked), x, y, net=net)
        chex.assert_trees_all_close(jax.tree.map(lambda a, k=k: a[k], together), alone, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown grad 'numeric'"):
        fit(stacked, x, y, ensemble=True, grad="numeric")


def test_the_label_equal_to_the_class_count_is_refused_where_data_enters():
    x = np.zeros((4, 3), np.float32)
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    message = "training data: labels must lie in [0, 2), got min 0, max 2"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(params, x, np.array([0, 1, 2, 0]), loss="cross_entropy")
