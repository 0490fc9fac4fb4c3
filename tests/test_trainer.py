"""train.Trainer: the state it starts from, continuation that equals one run, compilation predicted by one sentence,
the loss handed to the optimizer, and refusals made once, at construction."""


import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from refusals import refused

from jaxnet import mlp, placement, program, train

import problems
from jaxprs import equations
from problems import blobs, regression, small_params

COMPILES = {"n": 0}


def _count(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        COMPILES["n"] += 1


jax.monitoring.register_event_duration_secs_listener(_count)


def make(optimizer=None, net=None, **kwargs):
    kwargs = {"loss": "cross_entropy", "optimizer": optimizer or optax.sgd(0.1), "batch_size": 32, **kwargs}
    return train.Trainer(mlp.Net("relu") if net is None else net, **kwargs)


def test_init_gives_the_parameters_a_fresh_optimizer_state_at_epoch_zero():
    params = small_params()
    state = make(optax.adam(1e-3)).init(params)
    assert isinstance(state, train.TrainState) and state.epoch == 0 and state.params is params and state.lr_scale == 1
    chex.assert_trees_all_equal(state.opt_state, optax.adam(1e-3).init(params))
    # A pytree: jitted functions take it, and tree maps reach every array.
    leaves = jax.tree.leaves(state)
    assert len(leaves) == len(jax.tree.leaves(params)) + len(jax.tree.leaves(state.opt_state)) + 2  # epoch, scale


@pytest.mark.parametrize("epochs_per_call", [1, 2])
def test_continuing_equals_one_run_bit_for_bit(epochs_per_call):
    x, y = blobs()
    trainer = make(optax.adam(1e-2), epochs_per_call=epochs_per_call)  # Adam: its moments and count carry over
    start = trainer.init(small_params())
    common = dict(key=jax.random.key(4), verbose=False)
    once, history = trainer.fit(start, x, y, epochs=5, **common)
    part, first = trainer.fit(start, x, y, epochs=2, **common)
    whole, second = trainer.fit(part, x, y, epochs=5, **common)
    chex.assert_trees_all_equal(whole.params, once.params)
    chex.assert_trees_all_equal(whole.opt_state, once.opt_state)
    assert (part.epoch, whole.epoch) == (2, 5)
    assert [r["train_loss"] for r in list(first) + list(second)] == [r["train_loss"] for r in history]
    assert [r["epoch"] for r in second] == [3, 4, 5]
    # The state given is left alone (the compiled program donates a private copy).
    chex.assert_trees_all_equal(start.params, small_params())
    other, _ = trainer.fit(start, x, y, epochs=5, key=jax.random.key(5), verbose=False)
    assert not np.array_equal(other.params[0][0], once.params[0][0])


def test_a_state_past_the_final_epoch_is_refused_and_one_at_it_is_returned_as_it_is():
    x, y = blobs()
    trainer = make()
    state, _ = trainer.fit(trainer.init(small_params()), x, y, epochs=3, key=jax.random.key(1), verbose=False)
    with refused(ValueError, "already trained 3 epochs", "past epochs=2", "the final epoch", "epochs >= 3"):
        trainer.fit(state, x, y, epochs=2, key=jax.random.key(1), verbose=False)
    same, history = trainer.fit(state, x, y, epochs=3, key=jax.random.key(1), verbose=False)
    assert same.epoch == 3 and list(history) == []
    chex.assert_trees_all_equal(same.params, state.params)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="epochs must be an int >= 0"):
            trainer.fit(state, x, y, epochs=bad, key=jax.random.key(1), verbose=False)


def test_a_second_fit_with_the_same_shapes_compiles_and_traces_nothing(traces):
    x, y = blobs()
    x2, y2 = blobs(seed=1)  # other values, the same shapes
    trainer = make(loss="counted_cross_entropy", epochs_per_call=2)
    state = trainer.init(small_params())
    trainer.fit(state, x, y, epochs=4, key=jax.random.key(1), eval_data=(x, y), verbose=False)
    compiles, traced = COMPILES["n"], traces["n"]
    assert traced > 0
    trainer.fit(state, x2, y2, epochs=4, key=jax.random.key(2), eval_data=(x2, y2), verbose=False)
    trainer.evaluate(state.params, x2, y2)  # the evaluation of the same size: the program fit compiled
    assert (COMPILES["n"], traces["n"]) == (compiles, traced)
    # A new Trainer builds its programs afresh: nothing is shared through a hidden cache.
    make(loss="counted_cross_entropy", epochs_per_call=2).fit(state, x, y, epochs=2, key=jax.random.key(1),
                                                              verbose=False)
    assert traces["n"] > traced


def test_reduce_on_plateau_lowers_its_scale_inside_the_compiled_epoch():
    # With a rate of 0 the loss never improves: every step after the first counts towards the plateau, and each
    # `patience` steps without improvement halve the scale. One epoch of 6 minibatches is one compiled call.
    x, y = blobs()
    plateau = optax.contrib.reduce_on_plateau(factor=0.5, patience=2, cooldown=0, accumulation_size=1)
    trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.chain(optax.sgd(0.0), plateau),
                            batch_size=203)  # full batch: the same loss at every step
    state, _ = trainer.fit(trainer.init(small_params()), x, y, epochs=7, key=jax.random.key(1), verbose=False)
    # Steps 2..7 see no improvement; the scale halves after steps 3, 5 and 7 (each time 2 steps have waited).
    assert float(state.opt_state[1].scale) == 0.5 ** 3


def test_repr_shows_the_network_loss_batch_strategy_and_mesh():
    single = make()
    assert repr(single) == ("Trainer(Net(activation='relu', output='identity', input_shift=0.0, input_scale=1.0), "
                            "loss='cross_entropy', batch_size=32, grad='autodiff', ensemble='single network', "
                            "mesh=one device)")
    ensemble = make(ensemble=True)
    strategy = "one by one" if jax.default_backend() == "cpu" else "vmapped"
    assert f"ensemble={strategy!r}" in repr(ensemble)
    vmapped = make(ensemble=True, mesh=placement.make_mesh(devices=jax.devices()[:1]))
    assert "ensemble='vmapped'" in repr(vmapped) or len(jax.devices()) == 1


def test_evaluate_gives_the_loss_and_accuracy_written_out():
    x, y = blobs()
    params = small_params()
    result = make(eval_chunk_size=50).evaluate(params, x, y)
    assert sorted(result) == ["accuracy", "loss"]
    (W1, b1), (W2, b2) = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params]
    z = np.maximum(x @ W1.T + b1, 0) @ W2.T + b2
    log_softmax = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
    np.testing.assert_allclose(result["loss"], -np.mean(log_softmax[np.arange(len(y)), y]), rtol=1e-5)
    assert float(result["accuracy"]) == np.float32(np.sum(z.argmax(1) == y)) / np.float32(len(y))  # float32 division
    mse = train.Trainer(mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.1), batch_size=4)
    assert sorted(mse.evaluate(params, x, np.zeros((len(x), 3), np.float32))) == ["loss"]  # no metric for L2


def test_settings_that_do_not_depend_on_the_data_are_refused_at_construction():
    for kwargs, error, message in [
            (dict(net=mlp.Net("relu", output="softmax")), ValueError, "softmax"),
            (dict(grad="numeric"), ValueError, r"unknown grad 'numeric'"),
            (dict(batch_size=0), ValueError, "batch_size must be an int >= 1, got 0"),
            (dict(batch_size=2.0), ValueError, "batch_size must be an int >= 1, got 2.0"),
            (dict(batch_size=True), ValueError, "batch_size must be an int >= 1, got True"),
            (dict(epochs_per_call=0), ValueError, "epochs_per_call must be an int >= 1, got 0"),
            (dict(eval_chunk_size=0), ValueError, "eval_chunk_size must be an int >= 1, got 0"),
            (dict(hyperparams={"learning_rate": [0.1]}), ValueError, "hyperparams needs ensemble=True"),
            (dict(mesh=placement.make_mesh(), devices=jax.devices()), ValueError, "give either mesh= or devices="),
            (dict(net="relu"), TypeError, "net must be a jaxnet.mlp.Net, got str 'relu'")]:
        net = kwargs.pop("net", mlp.Net("relu"))
        with pytest.raises(error, match=message):
            train.Trainer(net, **{"loss": "cross_entropy", "optimizer": optax.sgd(0.1), "batch_size": 32, **kwargs})


def test_an_ensemble_trains_and_evaluates_each_member_as_alone():
    x, y = blobs()
    key = jax.random.key(3)
    stacked = mlp.init_ensemble(jax.random.key(0), 2, [4, 16, 3])
    trainer = make(optax.adam(1e-2), ensemble=True)
    state, history = trainer.fit(trainer.init(stacked), x, y, epochs=2, key=key, eval_data=(x, y), verbose=False)
    single = make(optax.adam(1e-2))
    for k in range(2):
        member = jax.tree.map(lambda a, k=k: a[k], stacked)
        alone, alone_history = single.fit(single.init(member), x, y, epochs=2, key=key, eval_data=(x, y),
                                          verbose=False)
        chex.assert_trees_all_equal(jax.tree.map(lambda a, k=k: a[k], state.params), alone.params)
        assert history[-1]["eval_loss"][k] == alone_history[-1]["eval_loss"]
        evaluated = trainer.evaluate(state.params, x, y)
        assert float(evaluated["accuracy"][k]) == alone_history[-1]["eval_accuracy"]


def test_the_vmapped_strategy_is_named_and_refusals_of_evaluate_and_hyperparameters_are_exact(monkeypatch):
    from jaxnet import mlp, program

    monkeypatch.setattr(program, "members_one_by_one", lambda mesh: False)  # as on an accelerator
    assert "ensemble='vmapped', mesh=one device)" in repr(make(ensemble=True))
    monkeypatch.undo()
    x, y = blobs()
    deep = mlp.init(jax.random.key(0), [4, 6, 5, 3])  # d_L = 3, another width before it
    with refused(ValueError, "evaluate", "labels must lie in [0, 3)", "max 4"):
        make().evaluate(deep, x, np.where(y == 2, 4, y))
    stacked = mlp.init_ensemble(jax.random.key(0), 2, [4, 16, 3])
    with refused(ValueError, "hyperparams needs ensemble=True", "optax.inject_hyperparams"):
        make(ensemble=True, hyperparams={"learning_rate": [0.1, 0.2]}).init(stacked)  # sgd injects nothing


@pytest.mark.parametrize("ensemble", [False, True])
def test_the_trainer_differentiates_by_the_gradient_asked_for(ensemble, monkeypatch):
    # The two gradients agree to round-off, so numbers cannot tell them apart: count the hand-written one's traces.
    from jaxnet import backprop, mlp

    traced = []
    manual = backprop.value_and_manual_grad
    monkeypatch.setattr(backprop, "value_and_manual_grad", lambda *a, **k: traced.append(1) or manual(*a, **k))
    x, y = blobs()
    params = mlp.init_ensemble(jax.random.key(0), 2, [4, 16, 3]) if ensemble else small_params()
    for grad, expected in (("autodiff", False), ("manual", True)):
        traced.clear()
        trainer = make(grad=grad, ensemble=ensemble)
        trainer.fit(trainer.init(params), x, y, epochs=1, key=jax.random.key(1), verbose=False)
        assert bool(traced) is expected, grad


def test_the_state_must_be_a_train_state_and_the_default_chunk_is_a_thousand_rows(monkeypatch):
    from jaxnet import evaluation

    x, y = blobs()
    trainer = make()
    params = small_params()
    with pytest.raises(TypeError, match="state must be a train.TrainState .* got tuple"):
        trainer.fit((params, optax.sgd(0.1).init(params), 0), x, y, epochs=1, key=jax.random.key(1))
    # The chunk is read where the set is padded to it (the summation order it sets is XLA's to choose, so the
    # numbers cannot show it on every version).
    chunks = []
    pad = evaluation.pad
    monkeypatch.setattr(evaluation, "pad", lambda x, y, chunk, **kw: chunks.append(chunk) or pad(x, y, chunk, **kw))
    x3, y3 = np.zeros((3000, 4), np.float32), np.zeros(3000, np.int32)
    trainer.evaluate(params, x3, y3)
    make(eval_chunk_size=7).evaluate(params, x3, y3)
    assert chunks == [1000, 7]


def test_a_loss_without_a_metric_records_only_the_evaluation_loss():
    from jaxnet import callbacks, mlp

    x, y = blobs()
    targets = np.eye(3, dtype=np.float32)[y]
    trainer = train.Trainer(mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.1), batch_size=32)
    recorded = "['epoch', 'train_loss', 'seconds', 'lr_scale', 'eval_loss']"
    with refused(ValueError, "EarlyStopping", "monitor='eval_accuracy' is not recorded", recorded):
        trainer.fit(trainer.init(small_params()), x, targets, epochs=1, key=jax.random.key(1), verbose=False,
                    eval_data=(x, targets), callbacks=[callbacks.EarlyStopping("eval_accuracy", patience=1)])


def test_a_batch_as_large_as_the_input_width_is_a_minibatch_not_the_full_batch():
    # 203 examples of 4 features in batches of 4: 50 shuffled steps an epoch (the full batch is batch_size = N).
    x, y = blobs()
    trainer = make(optax.adam(1e-3), batch_size=4)
    state, _ = trainer.fit(trainer.init(small_params()), x, y, epochs=2, key=jax.random.key(1), verbose=False)
    assert int(state.opt_state[0].count) == 2 * (203 // 4)


@pytest.mark.parametrize("unroll", [2, 4, 7])
def test_an_unrolled_epoch_runs_the_same_steps(unroll):
    # 203 examples in batches of 32: 6 steps an epoch, which 4 and 7 do not divide. The same steps in the same
    # order; XLA may fuse an unrolled body differently, so float32 round-off apart at most.
    x, y = blobs()
    key = jax.random.key(3)
    plain, _ = make().fit(make().init(small_params()), x, y, epochs=3, key=key, verbose=False)
    trainer = make(unroll=unroll)
    unrolled, _ = trainer.fit(trainer.init(small_params()), x, y, epochs=3, key=key, verbose=False)
    chex.assert_trees_all_close(unrolled.params, plain.params, rtol=1e-5, atol=1e-6)
    fitted, _ = train.fit(small_params(), x, y, mlp.Net("relu"), optimizer=optax.sgd(0.1), epochs=3, batch_size=32,
                          key=key, loss="cross_entropy", unroll=unroll, verbose=False)
    chex.assert_trees_all_close(fitted, plain.params, rtol=1e-5, atol=1e-6)
    # And it is the minibatch scan's unroll (the epochs' own scan keeps 1).
    epochs = train.make_epochs(optax.adam(1e-2), mlp.Net("relu"), loss="cross_entropy", batch_size=32,
                               unroll=unroll)
    params = small_params()
    jaxpr = jax.make_jaxpr(epochs)(params, optax.adam(1e-2).init(params), x, y, key, np.arange(1))
    assert sorted(scan_unrolls(jaxpr.jaxpr)) == sorted([1, unroll])


def scan_unrolls(jaxpr) -> list:
    """The ``unroll`` of every ``scan`` in a jaxpr, nested ones included."""
    return [eqn.params["unroll"] for eqn in equations(jaxpr) if eqn.primitive.name == "scan"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_unroll_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match=f"unroll must be an int >= 1, got {bad!r}"):
        make(unroll=bad)


def test_named_evaluation_sets_are_each_recorded_as_evaluate_gives_them():
    from jaxnet import callbacks

    x, y = blobs()
    sets = {"val": (x[:50], y[:50]), "test": (x[50:120], y[50:120])}
    trainer = make()
    state, history = trainer.fit(trainer.init(small_params()), x, y, epochs=3, key=jax.random.key(1),
                                 eval_data=sets, verbose=False,
                                 callbacks=[callbacks.EarlyStopping("val_loss", patience=5)])
    last = history[-1]
    assert {"val_loss", "val_accuracy", "test_loss", "test_accuracy"} <= set(last) and "eval_loss" not in last
    for name, (xs, ys) in sets.items():
        alone = trainer.evaluate(state.params, xs, ys)
        assert last[f"{name}_loss"] == float(alone["loss"]) and last[f"{name}_accuracy"] == float(alone["accuracy"])
    with pytest.raises(ValueError, match=r"eval_data\['test'\]: x must have shape"):
        trainer.fit(trainer.init(small_params()), x, y, epochs=1, key=jax.random.key(1), verbose=False,
                    eval_data={"val": (x, y), "test": (x[:, :2], y)})
    with pytest.raises(ValueError, match="names must be identifiers"):
        trainer.fit(trainer.init(small_params()), x, y, epochs=1, key=jax.random.key(1), verbose=False,
                    eval_data={"the test": (x, y)})
    with pytest.raises(ValueError, match=r"eval_data: the set is empty \(x has 0 examples\)"):
        trainer.fit(trainer.init(small_params()), x, y, epochs=1, key=jax.random.key(1), verbose=False,
                    eval_data=(x[:0], y[:0]))


def test_a_metric_is_the_mean_of_its_per_example_values_over_the_whole_set():
    x, y = blobs()
    targets = np.eye(3, dtype=np.float32)[y]
    absolute = lambda yhat, y: jnp.mean(jnp.abs(yhat - y), axis=-1)  # one value per example
    params = small_params()
    for chunk in (7, 1000):  # the chunks' sums added: any chunk size gives the whole set's mean
        trainer = train.Trainer(mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.01), batch_size=32,
                                metrics={"mae": absolute}, eval_chunk_size=chunk)
        values = trainer.evaluate(params, x, targets)
        yhat = np.asarray(mlp.apply(params, x, mlp.Net("relu")), np.float64)
        np.testing.assert_allclose(values["mae"], np.mean(np.abs(yhat - targets)), rtol=1e-6)
        _, history = trainer.fit(trainer.init(params), x, targets, epochs=1, key=jax.random.key(1), verbose=False,
                                 eval_data=(x, targets))
        assert "eval_mae" in history[-1] and "mae" not in history[-1]
    with pytest.raises(ValueError, match="each name must be an identifier other than"):
        train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.sgd(0.1), batch_size=32,
                      metrics={"accuracy": absolute})
    with pytest.raises(TypeError, match=r"metrics\['mae'\] must be a function"):
        train.Trainer(mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.1), batch_size=32, metrics={"mae": 1})


def sigmoid_of_tanh_net(params, x):
    """ŷ = σ(tanh(x W_1ᵀ + b_1) W_2ᵀ + b_2), written out in float64 NumPy."""
    (W1, b1), (W2, b2) = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params]
    return 1 / (1 + np.exp(-(np.tanh(np.asarray(x, np.float64) @ W1.T + b1) @ W2.T + b2)))


def test_predict_gives_the_networks_outputs_in_chunks():
    x, _ = blobs()
    params = small_params()
    net = mlp.Net("tanh", output="sigmoid")  # not the default network: predict must use the trainer's
    trainer = train.Trainer(net, loss="mse", optimizer=optax.sgd(0.1), batch_size=32, eval_chunk_size=64)
    got = trainer.predict(params, x)  # 203 rows: three chunks of 64 and a padded one
    assert got.shape == (203, 3) and got.dtype == jnp.float32
    np.testing.assert_allclose(got, sigmoid_of_tanh_net(params, x), rtol=1e-6, atol=1e-6)  # float32 round-off
    stacked = mlp.init_ensemble(jax.random.key(0), 2, [4, 16, 3])
    members = train.Trainer(net, loss="mse", optimizer=optax.sgd(0.1), batch_size=32, ensemble=True).predict(stacked,
                                                                                                             x)
    assert members.shape == (2, 203, 3)
    for k in range(2):
        member = [(W[k], b[k]) for W, b in stacked]
        np.testing.assert_allclose(members[k], sigmoid_of_tanh_net(member, x), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"predict: x must have shape \(N, 4\)"):
        trainer.predict(params, x[:, :3])


@pytest.mark.parametrize("first_epoch", [0, 5])
def test_check_finite_names_the_first_bad_epoch(first_epoch):
    values = np.ones((4, 3))  # 4 epochs, 3 members (or steps)
    values[2, 1] = np.nan
    values[3, 0] = np.inf
    with refused(FloatingPointError, "diverged", f"non-finite in epoch {first_epoch + 3} (of 20)",
                 "last good checkpoint is run/c.npz"):
        train.check_finite(values, first_epoch, 20, "run/c.npz")
    with pytest.raises(FloatingPointError, match=r"in epoch 3 \(of 20\)$"):  # no checkpoint: nothing more to say
        train.check_finite(values, 0, 20, None)
    train.check_finite(np.ones((4, 3)), 0, 20, None)
    train.check_finite(np.ones(4), 0, 20, None)  # one loss per epoch


def test_init_continues_from_an_optimizer_state_it_checks_and_leaves_alone():
    # Adam's state after some steps, written out here as optax computes it, is the state init gives back.
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    optimizer = optax.adam(1e-2)
    trainer = train.Trainer(mlp.Net("tanh"), loss="mse", optimizer=optimizer, batch_size=4)
    grads = jax.tree.map(jnp.ones_like, params)
    _, opt_state = optimizer.update(grads, optimizer.init(params), params)
    kept = jax.tree.map(np.array, opt_state)
    state = trainer.init(params, opt_state)
    chex.assert_trees_all_equal(state.opt_state, opt_state)
    chex.assert_trees_all_equal(opt_state, kept)
    assert state.epoch == 0
    assert int(state.opt_state[0].count) == 1 and int(trainer.init(params).opt_state[0].count) == 0
    with pytest.raises(ValueError, match="opt_state does not belong to this optimizer"):
        trainer.init(params, optax.sgd(0.1, momentum=0.9).init(params))
    wider = mlp.init(jax.random.key(0), [params[0][0].shape[1], 2 * params[0][0].shape[0], 2])  # same structure
    with refused(ValueError, "opt_state", f"float32{list(wider[0][0].shape)}",
                 f"expects float32{list(params[0][0].shape)}"):
        trainer.init(params, optimizer.init(wider))


def trained(params, x, y, **kwargs):
    """``(params, history)`` of :func:`problems.trained`."""
    state, history = problems.trained(params, x, y, **kwargs)
    return state.params, history


def trained_small(params, x, y, **kwargs):
    """:func:`trained` for the small regression problem: the L2 loss, minibatches of 4, 2 epochs."""
    return trained(params, x, y, **{"loss": "mse", "batch_size": 4, "epochs": 2, **kwargs})


def test_the_same_key_trains_bit_for_bit_the_same_and_another_key_otherwise():
    x, y = blobs()
    a, _ = trained(small_params(), x, y)
    b, _ = trained(small_params(), x, y)
    c, _ = trained(small_params(), x, y, key=jax.random.key(2))
    chex.assert_trees_all_equal(a, b)
    assert not np.allclose(a[0][0], c[0][0])


def test_training_leaves_the_callers_params_alone():
    x, y = blobs()
    params = small_params()
    before = jax.tree.map(np.array, params)
    trained(params, x, y)
    chex.assert_trees_all_equal(params, before)


def test_epochs_per_call_gives_the_same_run():
    x, y = blobs()
    a, ha = trained(small_params(), x, y, epochs=5)
    b, hb = trained(small_params(), x, y, epochs=5, epochs_per_call=2)
    chex.assert_trees_all_equal(a, b)
    np.testing.assert_allclose([r["train_loss"] for r in ha], [r["train_loss"] for r in hb], rtol=1e-6)


def test_each_member_of_an_ensemble_trains_at_its_own_learning_rate():
    # Float32 round-off after a few dozen SGD steps: far below 1e-5.
    x, y = blobs()
    stacked = jax.vmap(lambda _: small_params())(jnp.arange(2))  # the same network twice
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    together, _ = trained(stacked, x, y, optimizer=optimizer, ensemble=True,
                          hyperparams={"learning_rate": jnp.array([0.1, 0.02])})
    for k, lr in enumerate([0.1, 0.02]):
        alone, _ = trained(small_params(), x, y, optimizer=optax.sgd(lr))
        chex.assert_trees_all_close(jax.tree.map(lambda a, k=k: a[k], together), alone, rtol=1e-5, atol=1e-6)
    with refused(ValueError, "inject_hyperparams"):
        trained(stacked, x, y, ensemble=True, hyperparams={"learning_rate": jnp.array([0.1, 0.02])})
    three = jax.vmap(lambda _: small_params())(jnp.arange(3))
    with refused(ValueError, "hyperparams['learning_rate'] has 2 values", "ensemble of 3"):
        trained(three, x, y, optimizer=optimizer, ensemble=True, hyperparams={"learning_rate": jnp.array([0.1, 0.2])})


def test_manual_gradients_train_as_autodiff_does_with_the_networks_activation():
    # Float32 round-off, a few dozen steps: far below the tolerances.
    x, y = blobs()
    a, _ = trained(small_params(), x, y, epochs=1, grad="autodiff")
    m, _ = trained(small_params(), x, y, epochs=1, grad="manual")
    chex.assert_trees_all_close(a, m, rtol=1e-5, atol=1e-6)
    x, y = regression()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    for activation in ("tanh", "sigmoid"):
        by_hand, _ = trained_small(params, x, y, net=mlp.Net(activation), grad="manual")
        by_autodiff, _ = trained_small(params, x, y, net=mlp.Net(activation))
        chex.assert_trees_all_close(by_hand, by_autodiff, rtol=1e-5, atol=1e-6)


def test_integer_inputs_train_like_their_float_values():
    # uint8 images stay uint8 on the device and are converted inside the compiled step.
    x, y = blobs()
    x8 = np.clip(np.round(x * 10 + 128), 0, 255).astype(np.uint8)
    with pytest.warns(train.UnscaledInputWarning, match=r"uint8 with values up to \d+ .*input_scale=255\.0"):
        a, _ = trained(small_params(), x8, y, optimizer=optax.sgd(1e-4))
    b, _ = trained(small_params(), x8.astype(np.float32), y, optimizer=optax.sgd(1e-4))
    chex.assert_trees_all_close(a, b, rtol=1e-5, atol=1e-6)


def test_unscaled_inputs_are_named_with_the_scale_to_use_in_training_and_evaluation_data():
    x, y = regression()
    n = len(x)
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    ints = np.tile(np.array([[0, 1, 1000]], np.int32), (n, 1))
    with pytest.warns(train.UnscaledInputWarning) as caught:
        trained_small(params, ints, y, epochs=1)
    message = str(caught[0].message)
    for fact in ("training data", "int32 with values up to 1000", "unscaled", "mlp.Net(..., input_scale=1000.0)",
                 "float inputs in [0, 1]"):
        assert fact in message, (fact, message)
    with pytest.warns(train.UnscaledInputWarning, match=r"^eval_data: x is uint8"):  # the same silent mistake
        trained_small(params, x, y, epochs=1, eval_data=(np.full((n, 3), 200, np.uint8), y))
    with pytest.warns(train.UnscaledInputWarning, match="uint8 with values up to 2 and enters"):
        trained_small(params, np.full((n, 3), 2, np.uint8), y, epochs=1)  # 2 is more than the unit interval holds
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trained_small(params, np.ones((n, 3), np.uint8), y, epochs=1)  # 0/1 features need no scale
        trained_small(params, np.full((n, 3), 200, np.uint8), y, epochs=1, net=mlp.Net("relu", input_scale=255.0))


def test_per_member_hyperparameters_keep_the_optimizers_dtype_and_leave_the_callers_state_alone():
    x, y = regression()
    stacked = mlp.init_ensemble(jax.random.key(0), 2, [3, 4, 2])
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    given = jax.vmap(optimizer.init)(stacked)
    before = dict(given.hyperparams)
    trained_small(stacked, x, y, optimizer=optimizer, ensemble=True, hyperparams={"learning_rate": [0.5, 0.25]},
                  opt_state=given)
    assert given.hyperparams.keys() == before.keys()
    assert all(given.hyperparams[name] is before[name] for name in before)  # not replaced in the caller's dict
    np.testing.assert_array_equal(given.hyperparams["learning_rate"], np.float32([0.1, 0.1]))
    _, history = trained_small(stacked, x, y, optimizer=optimizer, ensemble=True,
                               hyperparams={"learning_rate": [1, 0]})
    assert history.opt_state.hyperparams["learning_rate"].dtype == jnp.float32  # integers given, float32 kept
    with refused(ValueError, "hyperparams['learning_rate'] has 1 values", "ensemble of 2", "one per member"):
        trained_small(stacked, x, y, optimizer=optimizer, ensemble=True, hyperparams={"learning_rate": 0.1})
    with refused(ValueError, "unknown hyperparameter 'momentum'", "['learning_rate']"):
        trained_small(stacked, x, y, optimizer=optimizer, ensemble=True, hyperparams={"momentum": [0.9, 0.9]})
    with refused(ValueError, "hyperparams needs ensemble=True", "optax.inject_hyperparams"):
        trained_small(jax.tree.map(lambda a: a[0], stacked), x, y, optimizer=optimizer,
                      hyperparams={"learning_rate": [0.1]})


def test_a_batch_of_one_is_plain_sgd_and_a_batch_larger_than_the_data_is_named():
    x, y = regression()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    _, history = trained_small(params, x, y, batch_size=1, epochs=1)
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    with refused(ValueError, "batch_size", f"between 1 and the {len(x)} training examples", f"got {len(x) + 1}"):
        trained_small(params, x, y, batch_size=len(x) + 1)


def test_the_output_size_is_the_last_layers_and_data_of_another_shape_is_named():
    x, y = regression(d_out=2)
    params = mlp.init(jax.random.key(0), [3, 6, 5, 2])  # the middle layer's 5 is not the output's 2
    params_after, history = trained_small(params, x, y, eval_data=(x, y))
    assert [W.shape for W, _ in params_after] == [(6, 3), (5, 6), (2, 5)] and len(history) == 2
    assert np.isfinite(history[-1]["eval_loss"])
    with refused(ValueError, "training data", f"y must have shape ({len(x)}, 2)", f"got ({len(x)}, 5)"):
        trained_small(params, x, np.zeros((len(x), 5), np.float32))
    with refused(ValueError, "eval_data", "x must have shape (N, 3)", f"got ({len(x)}, 2)"):
        trained_small(params, x, y, eval_data=(x[:, :2], y))


def test_an_ensemble_continues_from_its_own_optimizer_state_and_refuses_another_optimizers():
    x, y = regression()
    stacked = mlp.init_ensemble(jax.random.key(0), 2, [3, 4, 2])
    optimizer, full = optax.adam(1e-2), len(x)
    # Full batches: a second run's epochs shuffle as the first run's did, which full batches do not see.
    straight, _ = trained_small(stacked, x, y, optimizer=optimizer, ensemble=True, epochs=4, batch_size=full)
    half, history = trained_small(stacked, x, y, optimizer=optimizer, ensemble=True, batch_size=full)
    twice, _ = trained_small(half, x, y, optimizer=optimizer, ensemble=True, batch_size=full,
                             opt_state=history.opt_state)
    chex.assert_trees_all_close(twice, straight, rtol=1e-5, atol=1e-6)  # float32 round-off of the resumed sums
    single = jax.tree.map(lambda a: a[0], stacked)
    expected = jax.tree.structure(optimizer.init(single))
    given = jax.tree.structure(optax.sgd(0.1).init(single))
    with refused(ValueError, "opt_state does not belong to this optimizer", f"its structure is {given}",
                 f"the optimizer's is {expected}", "history.opt_state of a run with the same optimizer"):
        trained_small(single, x, y, optimizer=optimizer, opt_state=optax.sgd(0.1).init(single))


def test_a_one_layer_network_fits_as_its_gradient_descent_written_out():
    # ŷ = W x + b, L = 1/(2N) Σ‖ŷ − y‖², full batch: ∇W = (ŷ − y)ᵀ x / len(x), ∇b = Σ(ŷ − y) / len(x), in float64 NumPy.
    x, y = regression(d_in=3, d_out=2)
    params = mlp.init(jax.random.key(0), [3, 2])
    trained, history = trained_small(params, x, y, net=mlp.Net(output="identity"), batch_size=len(x), epochs=3)
    W, b = (np.asarray(a, np.float64) for a in params[0])
    for _ in range(3):
        error = x @ W.T + b - y
        W, b = W - 0.1 * error.T @ x / len(x), b - 0.1 * error.sum(0) / len(x)
    np.testing.assert_allclose(trained[0][0], W, rtol=1e-5, atol=1e-6)  # float32 against float64
    np.testing.assert_allclose(trained[0][1], b, rtol=1e-5, atol=1e-6)
    assert len(history) == 3


def test_a_one_member_ensemble_given_as_numpy_arrays_trains_and_evaluates_as_its_member():
    x, y = regression()
    stacked = jax.tree.map(np.asarray, mlp.init_ensemble(jax.random.key(0), 1, [3, 4, 2]))
    trained, history = trained_small(stacked, x, y, ensemble=True, eval_data=(x, y))
    alone, alone_history = trained_small(jax.tree.map(lambda a: a[0], stacked), x, y, eval_data=(x, y))
    assert all(isinstance(a, jax.Array) and a.shape[0] == 1 for a in jax.tree.leaves(trained))
    chex.assert_trees_all_equal(jax.tree.map(lambda a: a[0], trained), alone)
    # A CPU evaluates the members in turn, each by the one-network program: exact.
    assert history[-1]["eval_loss"] == [alone_history[-1]["eval_loss"]]
    loss, _ = train.evaluate(jax.tree.map(np.asarray, trained), x, y, loss="mse", ensemble=True, as_dict=False)
    assert loss.shape == (1,) and loss[0] == history[-1]["eval_loss"][0]


def test_an_ensemble_on_one_cpu_device_trains_member_by_member_and_returns_device_arrays(monkeypatch):
    if jax.default_backend() != "cpu":
        pytest.skip("the member-by-member program is the CPU's")
    x, y = regression()
    calls = []
    run_members = program.run_members
    monkeypatch.setattr(program, "run_members", lambda *a: calls.append(1) or run_members(*a))
    for mesh in (None, placement.make_mesh(devices=jax.devices()[:1])):  # a one-device mesh is no mesh
        trainer = train.Trainer(mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.1), batch_size=4, ensemble=True,
                                mesh=mesh)
        assert trainer.one_by_one and "ensemble='one by one'" in repr(trainer)
        state, _ = trainer.fit(trainer.init(mlp.init_ensemble(jax.random.key(0), 2, [3, 4, 2])), x, y, epochs=2,
                               key=jax.random.key(1), verbose=False)
        assert all(type(a) is type(jnp.zeros(1)) for a in jax.tree.leaves((state.params, state.opt_state)))
    assert len(calls) == 4  # two calls of one epoch each, for each Trainer


def test_an_ensemble_trains_its_members_with_the_network_and_gradient_asked_for():
    x, y = regression()
    stacked = mlp.init_ensemble(jax.random.key(0), 2, [3, 4, 2])
    net = mlp.Net("tanh", output="sigmoid")
    together, _ = trained_small(stacked, x, y, net=net, ensemble=True, grad="manual")
    for k in range(2):
        alone, _ = trained_small(jax.tree.map(lambda a, k=k: a[k], stacked), x, y, net=net)
        chex.assert_trees_all_close(jax.tree.map(lambda a, k=k: a[k], together), alone, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown grad 'numeric'"):
        trained_small(stacked, x, y, ensemble=True, grad="numeric")


def test_the_label_equal_to_the_class_count_is_refused_where_data_enters():
    x = np.zeros((4, 3), np.float32)
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    with refused(ValueError, "training data", "labels must lie in [0, 2)", "max 2"):
        trained_small(params, x, np.array([0, 1, 2, 0]), loss="cross_entropy")


@pytest.mark.parametrize("eval_data, words", [
    (np.zeros((2, 3), np.float32), "eval_data must be an (x, y) pair, got ndarray"),  # two rows, not a pair
    ((np.zeros((4, 3), np.float32),), "eval_data must be an (x, y) pair, got tuple"),
    ({"held": np.zeros((4, 3), np.float32)}, "eval_data['held'] must be an (x, y) pair, got ndarray"),
])
def test_evaluation_data_that_is_not_an_x_y_pair_is_refused_by_its_name(eval_data, words):
    x, y = np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1])
    trainer = train.Trainer(mlp.Net("relu"), loss="cross_entropy", optimizer=optax.sgd(0.1), batch_size=2)
    with refused(ValueError, words):
        trainer.fit(trainer.init(mlp.init(jax.random.key(0), [3, 4, 2])), x, y, epochs=1, key=jax.random.key(0),
                    eval_data=eval_data, verbose=False)
