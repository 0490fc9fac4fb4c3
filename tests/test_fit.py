"""train.fit, the one-call form of train.Trainer: it learns, it is exact, and every keyword reaches its place.

A keyword that is silently dropped (``activation=`` not passed on, ``ensemble=`` forgotten by ``evaluate``) or a
message naming the wrong thing changes no number in the tests of the training itself; each is compared here with the
same call spelled another way (a :class:`jaxnet.mlp.Net` instead of keywords, member by member instead of stacked).
The keywords that moved to callbacks keep working for one release, with a warning (the callbacks themselves are
tested in test_callbacks.py).
"""

import os
import re
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from refusals import refused
from warned import points_at

from jaxnet import backprop, callbacks, checkpoint, datachecks, losses, mlp, train

from problems import blobs, small_params
from problems import regression as problem

# Float32 round-off after one epoch of a few dozen SGD steps: each step moves parameters by ~1e-7 relative; a few
# dozen steps of compounding keep the difference far below 1e-5.
EPOCH_TOL = dict(rtol=1e-5, atol=1e-6)
N = 16  # the examples of problem()


def fit(params, x, y, **kwargs):
    kwargs = {"optimizer": optax.sgd(0.1), "epochs": 3, "batch_size": 32, "key": jax.random.key(1),
              "loss": "cross_entropy", "verbose": False, **kwargs}
    return train.fit(params, x, y, **kwargs)


def fit_small(params, x, y, **kwargs):
    kwargs = {"optimizer": optax.sgd(0.1), "epochs": 2, "batch_size": 4, "key": jax.random.key(1), "loss": "mse",
              "verbose": False, **kwargs}
    return train.fit(params, x, y, **kwargs)


def test_fit_is_a_fresh_trainers_fit_bit_for_bit():
    # The one-call form builds a Trainer and trains it: parameters, history (but its wall times) and optimizer state
    # equal Trainer.fit's, an ensemble's and a continued run's (epochs_before) too. Trainer behaviour itself is
    # tested in test_trainer.py, once.
    x, y = blobs()
    eval_data = (x[:50], y[:50])
    for ensemble, params in ((False, small_params()), (True, mlp.init_ensemble(jax.random.key(2), 2, [4, 16, 3]))):
        kwargs = dict(optimizer=optax.adam(1e-2), batch_size=32, ensemble=ensemble)
        trainer = train.Trainer(mlp.Net("tanh"), loss="cross_entropy", **kwargs)
        state, expected = trainer.fit(trainer.init(params), x, y, epochs=3, key=jax.random.key(1),
                                      eval_data=eval_data, verbose=False)
        trained, history = train.fit(params, x, y, mlp.Net("tanh"), loss="cross_entropy", epochs=3,
                                     key=jax.random.key(1), eval_data=eval_data, verbose=False, **kwargs)
        chex.assert_trees_all_equal(trained, state.params)
        chex.assert_trees_all_equal(history.opt_state, state.opt_state)
        without_time = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
        assert without_time(history) == without_time(expected)
        later, _ = trainer.fit(state, x, y, epochs=5, key=jax.random.key(1), verbose=False)
        continued, _ = train.fit(trained, x, y, mlp.Net("tanh"), loss="cross_entropy", epochs=2,
                                 key=jax.random.key(1), opt_state=history.opt_state, epochs_before=3,
                                 verbose=False, **kwargs)
        chex.assert_trees_all_equal(continued, later.params)


def test_fit_traces_its_step_once_with_a_short_last_batch_in_the_data(traces):
    # 203 = 6·32 + 11: one shape of step, traced once (a short batch would need a second trace). That the short batch
    # is dropped, and the number of steps, are checked against a plain loop in tests/test_engine_reference.py.
    x, labels = blobs(n=203)
    y = np.eye(3, dtype=np.float32)[labels]  # one-hot: integer targets are reserved for loss="cross_entropy"
    _, history = fit(small_params(), x, y, optimizer=optax.adam(1e-2), epochs=6, batch_size=32,
                     loss="counted_cross_entropy")
    assert traces["n"] == 1
    assert [r["epoch"] for r in history] == list(range(1, 7))
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_fit_learns_and_evaluates():
    x, y = blobs(n=600)
    params, history = fit(small_params(), x[:500], y[:500], epochs=20, eval_data=(x[500:], y[500:]),
                          eval_chunk_size=64)
    assert history[-1]["eval_accuracy"] > 0.9
    loss, accuracy = train.evaluate(params, x[500:], y[500:], loss="cross_entropy", chunk_size=64, as_dict=False)
    np.testing.assert_allclose(loss, losses.cross_entropy(mlp.apply(params, x[500:]), y[500:]), rtol=1e-5)
    np.testing.assert_allclose(accuracy, np.mean(np.argmax(mlp.apply(params, x[500:]), 1) == y[500:]), rtol=1e-6)
    assert history[-1]["eval_loss"] == pytest.approx(float(loss), rel=1e-5)


def test_bad_input_is_refused_with_a_clear_error():
    x, y = blobs()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got min 0, max 5"):
        fit(small_params(), x, np.where(y == 2, 5, y))
    with pytest.raises(ValueError, match="NaN or inf in 1 rows, the first at row 7"):
        fit(small_params(), np.where(np.arange(len(x))[:, None] == 7, np.nan, x), y)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4\)"):
        fit(small_params(), x[:, :3], y)
    with pytest.raises(ValueError, match="203 examples but y has 200"):
        fit(small_params(), x, y[:200])
    with pytest.raises(ValueError, match="batch_size must be between"):
        fit(small_params(), x, y, batch_size=1000)
    with pytest.raises(ValueError, match=r"unknown grad 'numeric'.*manual"):
        fit(small_params(), x, y, grad="numeric")


def test_batch_size_must_suit_the_devices():
    x, y = blobs()
    with pytest.raises(ValueError, match="batch_size 33 must be a multiple of the 2 devices"):
        fit(small_params(), x, y, batch_size=33, devices=[jax.devices()[0]] * 2)


SHARDED = textwrap.dedent("""
    import jax, numpy as np, optax
    from jaxnet import mlp, placement, train
    assert jax.device_count() == {n}
    rng = np.random.RandomState(0)
    x = rng.randn(512, 8).astype(np.float32); y = rng.randint(0, 4, 512)
    params = mlp.init(jax.random.key(0), [8, 32, 4])
    # Adam: its state holds a scalar step count beside the moments, and each must be placed as the parameters are.
    kwargs = dict(optimizer=optax.adam(1e-3), epochs=2, batch_size=64, key=jax.random.key(1),
                  loss="cross_entropy", eval_data=(x, y), verbose=False)
    state_leaves = len(jax.tree.leaves(optax.adam(1e-3).init(params)))
    # Where fit puts what: each device holds its rows of the data sets and a whole copy of the parameters.
    placed = []
    make = jax.make_array_from_callback  # every array put on the mesh from the host
    jax.make_array_from_callback = lambda *args: placed.append(make(*args)) or placed[-1]
    many, history = train.fit(params, x, y, **kwargs)
    jax.make_array_from_callback = make
    rows = [a for a in placed if a.shape[:1] == (512,)]  # x, y, and the evaluation set's x, y
    state = [a for a in placed if a.shape[:1] != (512,)]
    assert len(rows) == 4 and len(state) == len(jax.tree.leaves(params)) + state_leaves, [a.shape for a in placed]
    assert any(a.shape == () for a in state)  # the step count
    for a in rows:
        assert a.sharding.spec == jax.sharding.PartitionSpec("data"), a.sharding
        assert [s.data.shape[0] for s in a.addressable_shards] == [512 // {n}] * {n}
    for a in state:
        assert a.sharding.is_fully_replicated and len(a.sharding.device_set) == {n}, a.sharding
    one, _ = train.fit(params, x, y, devices=jax.devices()[:1], **kwargs)
    assert len(many[0][0].sharding.device_set) == {n}
    diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree.leaves(many), jax.tree.leaves(one)))
    print("max difference", diff)
    assert diff < 1e-5, diff
    # An evaluation set and a chunk that do not divide over the shards (333 rows, chunks of 111): padded until they
    # do, the same loss.
    odd = dict(kwargs, eval_data=(x[:333], y[:333]), eval_chunk_size=111, epochs=1)
    (_, odd_many), (_, odd_one) = (train.fit(params, x, y, devices=d, **odd) for d in (None, jax.devices()[:1]))
    assert abs(odd_many[-1]["eval_loss"] - odd_one[-1]["eval_loss"]) < 1e-5, (odd_many[-1], odd_one[-1])
    # An ensemble sharded the same way: the members' batch axis is sharded, their own axis is not.
    stacked = mlp.init_ensemble(jax.random.key(2), 2, [8, 32, 4])
    many, _ = train.fit(stacked, x, y, ensemble=True, **kwargs)
    one, _ = train.fit(stacked, x, y, ensemble=True, devices=jax.devices()[:1], **kwargs)
    diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree.leaves(many), jax.tree.leaves(one)))
    assert diff < 1e-5, diff
    # The members spread over the devices: each device holds its own member's parameters, the rows whole.
    placed.clear()
    jax.make_array_from_callback = lambda *args: placed.append(make(*args)) or placed[-1]
    spread, _ = train.fit(stacked, x, y, ensemble=True, mesh=placement.make_mesh(members={n}), **kwargs)
    jax.make_array_from_callback = make
    state = [a for a in placed if a.shape[:1] != (512,)]
    assert len(state) == len(jax.tree.leaves(stacked)) + state_leaves, [a.shape for a in placed]
    for a in state:
        # (fit has donated them to its program: the sharding says where each member went)
        assert a.sharding.spec[0] == "members" and len(a.sharding.device_set) == {n}, a.sharding
        assert a.sharding.shard_shape(a.shape)[0] == 2 // {n}, a.sharding
    diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree.leaves(spread), jax.tree.leaves(one)))
    assert diff < 1e-5, diff
""")


# A multi-device run in its own process: with the multi-process tests in `make launchers`, not in `make test`.
@pytest.mark.slow
@pytest.mark.launchers
@pytest.mark.parametrize("n", [2])  # 4 devices run as 2 processes × 2 in tests/test_distributed.py
def test_data_parallel_equals_one_device(n):
    # Simulated host devices, in a subprocess because the device count is fixed when JAX starts. Two epochs of
    # 8 steps: a sharded all-reduce sums in another order, so parameters agree to float32 round-off (< 1e-5).
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SHARDED.format(n=n)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


DOUBLE_SOFTMAX = "takes logits and applies the softmax inside it.*twice"


def test_the_double_softmax_is_refused_in_every_path():
    # What a reader of the lecture writes first: a softmax output layer, then the cross-entropy (which has its own).
    x, y = blobs()
    params = small_params()
    net = mlp.Net("relu", output="softmax")
    for grad in train.GRADS:
        with pytest.raises(ValueError, match=DOUBLE_SOFTMAX):
            train.make_step(optax.sgd(0.1), net, loss="cross_entropy", grad=grad)
        with pytest.raises(ValueError, match=DOUBLE_SOFTMAX):
            fit(params, x, y, output="softmax", grad=grad)
    with pytest.raises(ValueError, match=DOUBLE_SOFTMAX):
        train.evaluate(params, x, y, net, loss="cross_entropy", as_dict=False)
    with pytest.raises(ValueError, match=DOUBLE_SOFTMAX):
        backprop.manual_grad(params, x, y, net, loss="cross_entropy")
    # A softmax output is fine for a loss on probabilities.
    train.make_step(optax.sgd(0.1), net, loss="mse")


def test_a_registered_loss_trains_with_no_other_change(monkeypatch):
    # Adding a loss is one entry in one file: here the Huber loss, with its signal, registered and trained with.
    monkeypatch.setattr(losses, "LOSSES", dict(losses.LOSSES))

    def huber(yhat, y):
        d = yhat - y
        return jnp.sum(jnp.where(jnp.abs(d) <= 1, 0.5 * d * d, jnp.abs(d) - 0.5)) / yhat.shape[0]

    def huber_signal(yhat, y):
        return jnp.clip(yhat - y, -1, 1) / yhat.shape[0]

    losses.register(losses.Loss("huber", huber, huber_signal))
    with pytest.raises(ValueError, match="already registered"):
        losses.register(losses.Loss("huber", huber, huber_signal))
    x, labels = blobs(n=256)
    y = np.eye(3, dtype=np.float32)[labels] * 4  # targets far enough for both branches of the loss
    results = {}
    for grad in train.GRADS:
        params, history = fit(small_params(), x, y, loss="huber", grad=grad, epochs=5, eval_data=(x, y))
        assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
        assert "eval_accuracy" not in history[-1]  # no metric declared, none reported
        results[grad] = params
    chex.assert_trees_all_close(results["autodiff"], results["manual"], **EPOCH_TOL)
    with pytest.raises(ValueError, match="integer targets .* need a loss that takes integer labels"):
        fit(small_params(), x, labels, loss="huber")


def test_training_continues_from_the_returned_optimizer_state():
    # Full-batch Adam, so the shuffling key does not matter: 3 + 3 epochs in two calls equal 6 in one, which needs
    # Adam's moments and step count to carry over.
    x, y = blobs(n=64)
    kwargs = dict(optimizer=optax.adam(1e-2), batch_size=64)
    once, _ = fit(small_params(), x, y, epochs=6, **kwargs)
    half, history = fit(small_params(), x, y, epochs=3, **kwargs)
    assert int(history.opt_state[0].count) == 3
    twice, history = fit(half, x, y, epochs=3, opt_state=history.opt_state, epochs_before=3, **kwargs)
    assert int(history.opt_state[0].count) == 6
    chex.assert_trees_all_close(twice, once, rtol=1e-5, atol=1e-6)  # float32: the batch sum's order may differ


def test_a_continued_fit_numbers_its_epochs_on_and_shuffles_as_one_longer_run():
    # Minibatches of 8, so the shuffles matter: 2 + 2 epochs with the same key equal 4 in one call only if the
    # second call's epochs are numbered 3 and 4 (each epoch's order comes from fold_in(key, epoch)).
    x, y = blobs(n=64)
    kwargs = dict(optimizer=optax.adam(1e-2), batch_size=8, key=jax.random.key(5), verbose=False)
    once, _ = fit(small_params(), x, y, epochs=4, **kwargs)
    half, history = fit(small_params(), x, y, epochs=2, **kwargs)
    twice, history = fit(half, x, y, epochs=2, opt_state=history.opt_state, epochs_before=2, **kwargs)
    assert [record["epoch"] for record in history] == [3, 4]
    chex.assert_trees_all_close(twice, once, rtol=1e-6, atol=1e-7)  # the same program: equal but for round-off
    # Without epochs_before the epochs restart at 1 (the old behaviour), which is said.
    with pytest.warns(train.RestartedEpochsWarning, match="pass epochs_before=<the epochs trained before>"):
        restarted, history = fit(half, x, y, epochs=2, opt_state=history.opt_state, **kwargs)
    assert [record["epoch"] for record in history] == [1, 2]
    for before in (-1, 1.5, True):
        with pytest.raises(ValueError, match=rf"epochs_before must be an int >= 0 .*got {before}$"):
            fit(half, x, y, epochs=2, epochs_before=before, **kwargs)


def test_evaluate_checks_its_data():
    x, y = blobs()
    with pytest.raises(ValueError, match=r"evaluate: labels must lie in \[0, 3\), got min 0, max 7"):
        train.evaluate(small_params(), x, np.where(y == 2, 7, y), loss="cross_entropy", as_dict=False)
    with pytest.raises(ValueError, match="evaluate: x has NaN or inf in 1 rows, the first at row 3"):
        train.evaluate(small_params(), np.where(np.arange(len(x))[:, None] == 3, np.inf, x), y, loss="cross_entropy",
                       as_dict=False)


def test_activation_and_output_keywords_build_the_same_network_as_a_net():
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 8, 2])
    net = mlp.Net("tanh", output="sigmoid")
    by_net, _ = fit_small(params, x, y, net=net)
    by_keywords, _ = fit_small(params, x, y, activation="tanh", output="sigmoid")
    chex.assert_trees_all_equal(by_keywords, by_net)
    default, _ = fit_small(params, x, y)
    assert not np.allclose(default[0][0], by_net[0][0])  # the default (relu, identity) trains otherwise
    assert train.evaluate(params, x, y, activation="tanh", output="sigmoid", loss="mse", as_dict=False)[0] == \
        train.evaluate(params, x, y, net, loss="mse", as_dict=False)[0]  # [1] is the metric: NaN, mse has none
    assert train.evaluate(params, x, y, activation="tanh", loss="mse", as_dict=False)[0] != \
        train.evaluate(params, x, y, loss="mse", as_dict=False)[0]
    optimizer = optax.sgd(0.1)
    by_step = train.make_step(optimizer, activation="tanh", output="sigmoid", loss="mse")
    by_net_step = train.make_step(optimizer, net, loss="mse")
    chex.assert_trees_all_equal(by_step(params, optimizer.init(params), x, y),
                                by_net_step(params, optimizer.init(params), x, y))


def test_evaluate_of_an_ensemble_is_each_members_evaluation():
    x, y = problem()
    stacked = mlp.init_ensemble(jax.random.key(0), 3, [3, 5, 4, 2])
    losses, metrics = train.evaluate(stacked, x, y, mlp.Net("tanh"), loss="mse", ensemble=True, as_dict=False)
    assert losses.shape == (3,) and metrics.shape == (3,)
    for k in range(3):
        member = jax.tree.map(lambda a, k=k: a[k], stacked)
        alone = train.evaluate(member, x, y, mlp.Net("tanh"), loss="mse", as_dict=False)
        if jax.default_backend() == "cpu":  # members in turn, each by the one-network program: exact
            np.testing.assert_array_equal([losses[k], metrics[k]], alone)  # NaN metric (MSE) equals NaN here
        else:  # vmapped: XLA may group the float32 sums otherwise
            np.testing.assert_allclose(losses[k], alone[0], rtol=1e-6)
    with refused(ValueError, "evaluate", "y must have shape (16, 2)", "got (16, 4)"):
        train.evaluate(stacked, x, np.zeros((N, 4), np.float32), loss="mse", ensemble=True, as_dict=False)


def test_zero_epochs_returns_the_parameters_untrained():
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    trained, history = fit_small(params, x, y, epochs=0)
    chex.assert_trees_all_equal(trained, params)
    assert list(history) == []
    for epochs in (-1, 1.5, True):  # a count: a whole number, not a bool
        with pytest.raises(ValueError, match=rf"epochs must be an int >= 0 .*got {epochs}$"):
            fit_small(params, x, y, epochs=epochs)


def test_make_evaluate_takes_the_network_by_keywords_and_one_network_by_default():
    from jaxnet import evaluation, mlp

    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    xp, yp, n, chunk = evaluation.pad(x, y, 5)
    with pytest.warns(DeprecationWarning, match="pass a jaxnet.mlp.Net") as caught:
        by_keywords = evaluation.make_evaluate(loss="mse", chunk_size=chunk, activation="tanh", output="sigmoid")
    assert points_at(caught[0], __file__)
    by_net = evaluation.make_evaluate(mlp.Net("tanh", output="sigmoid"), loss="mse", chunk_size=chunk)
    value = by_keywords(params, xp, yp, n)[0]
    assert value.shape == () and value == by_net(params, xp, yp, n)[0]  # one network: a scalar, not per member
    yhat = mlp.apply(params, x, mlp.Net("tanh", output="sigmoid"))
    np.testing.assert_allclose(value, 0.5 * np.sum((np.asarray(yhat) - y) ** 2) / N, rtol=1e-6)  # L2, written out
    # An ensemble on a CPU, by default member by member: each member's values are its own evaluation's, bit for bit,
    # its metrics included.
    metrics = (("max_abs", lambda yhat, y: jnp.max(jnp.abs(yhat - y), axis=-1)),)
    net = mlp.Net("tanh", output="sigmoid")
    members = mlp.init_ensemble(jax.random.key(1), 3, [3, 4, 2])
    together = evaluation.make_evaluate(net, loss="mse", chunk_size=chunk, ensemble=True, metrics=metrics)(
        members, xp, yp, n)
    single = evaluation.make_evaluate(net, loss="mse", chunk_size=chunk, metrics=metrics)
    assert len(jax.tree.leaves(together)) == 3  # the loss, the (empty) accuracy count, max_abs
    for k in range(3):
        alone = single(jax.tree.map(lambda a, k=k: a[k], members), xp, yp, n)
        for got, expected in zip(jax.tree.leaves(together), jax.tree.leaves(alone), strict=True):
            np.testing.assert_array_equal(np.asarray(got)[k], expected)


def test_pad_rounds_the_chunk_to_the_shards_only_when_asked():
    from jaxnet import evaluation

    x, y = np.zeros((7, 2)), np.zeros(7)
    assert evaluation.pad(x, y, 5)[2:] == (7, 5)  # one shard: the chunk as given
    assert evaluation.pad(x, y, 5, multiple_of=2)[2:] == (7, 6)
    xp, yp, n, chunk = evaluation.pad(x, None, 5)  # inputs alone (predict): no targets to pad
    assert yp is None and xp.shape == (10, 2) and (n, chunk) == (7, 5)


@pytest.mark.skipif("MUTANT_UNDER_TEST" in __import__("os").environ,
                    reason="make mutants calls jaxnet through a frame of its own, so warnings point elsewhere")
def test_the_unscaled_input_warnings_point_at_the_caller_of_fit():
    x, y = problem()
    pixels = np.full((N, 3), 200, np.uint8)
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    with pytest.warns(train.UnscaledInputWarning) as caught:
        fit_small(params, pixels, y, epochs=1)  # the training data, through this file's fit helper
        train.fit(params, x, y, optimizer=optax.sgd(0.1), epochs=1, batch_size=4, key=jax.random.key(1), loss="mse",
                  eval_data=(pixels, y), verbose=False)
    assert len(caught) == 2 and all(points_at(w, __file__) for w in caught)


def test_the_keywords_that_moved_to_callbacks_still_work_with_a_warning_naming_the_replacement(tmp_path):
    x, y = blobs()
    old = {"checkpoint_path": tmp_path / "old.npz", "log_path": tmp_path / "old.jsonl"}
    with pytest.warns(DeprecationWarning) as caught:
        params, history = fit(small_params(), x, y, **old, meta={"note": "mine"})
        assert checkpoint.read_header(old["checkpoint_path"])["meta"]["note"] == "mine"  # meta= reached the file
        resumed, _ = fit(small_params(seed=4), x, y, epochs=4, checkpoint_path=old["checkpoint_path"],
                         resume=True)
    messages = [str(w.message) for w in caught]
    assert messages == [
        "fit's checkpoint_path= is deprecated and will be removed in the next release; pass "
        "callbacks=[callbacks.Checkpoint(path, resume=...)] instead",
        "fit's log_path= is deprecated and will be removed in the next release; pass "
        "callbacks=[callbacks.JsonLog(path)] instead",
        "fit's meta= is deprecated and will be removed in the next release; pass "
        "callbacks=[callbacks.Checkpoint(path, meta=...)] instead",
        "fit's checkpoint_path= is deprecated and will be removed in the next release; pass "
        "callbacks=[callbacks.Checkpoint(path, resume=...)] instead",
        "fit's resume= is deprecated and will be removed in the next release; pass "
        "callbacks=[callbacks.Checkpoint(path, resume=...)] instead"]
    if "MUTANT_UNDER_TEST" not in os.environ:  # make mutants calls jaxnet through frames of its own
        assert all(points_at(w, __file__) for w in caught)  # each points at the caller of train.fit
    new = [callbacks.Checkpoint(tmp_path / "new.npz", meta={"note": "mine"}), callbacks.JsonLog(tmp_path / "new.jsonl")]
    same, same_history = fit(small_params(), x, y, callbacks=new)
    chex.assert_trees_all_equal(params, same)
    assert checkpoint.read_header(old["checkpoint_path"])["epoch"] == 4
    assert checkpoint.read_header(tmp_path / "new.npz")["meta"]["note"] == "mine"
    assert (tmp_path / "old.jsonl").read_text() != "" and len((tmp_path / "new.jsonl").read_text().splitlines()) == 3
    longer, _ = fit(small_params(), x, y, epochs=4)
    chex.assert_trees_all_equal(resumed, longer)  # the old resume= still continues exactly
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="resume=True needs a checkpoint_path"):
        fit(small_params(), x, y, resume=True)


@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ,
                    reason="make mutants calls jaxnet through frames of its own, so warnings point elsewhere")
def test_the_unscaled_input_warning_points_two_frames_up_on_a_direct_call():
    # check_input_scale warns at stacklevel 3 by default: the caller of the function that called it, which is the
    # caller of fit when fit calls it.
    x8 = np.full((4, 3), 200, np.uint8)
    calls = []

    def checks():
        calls.append(sys._getframe(1).f_lineno)  # the line that called checks(): two frames up from the warning
        datachecks.check_input_scale("data", x8, mlp.Net("relu"))

    with pytest.warns(datachecks.UnscaledInputWarning) as caught:
        checks()
    assert points_at(caught[0], __file__, calls[0])


def test_the_default_evaluation_chunk_is_a_thousand_rows(monkeypatch):
    # The chunk is read where the set is padded to it: the summation order it sets is XLA's to choose, so the
    # numbers cannot show it on every version.
    from jaxnet import evaluation

    chunks = []
    pad = evaluation.pad
    monkeypatch.setattr(evaluation, "pad", lambda x, y, chunk, **kw: chunks.append(chunk) or pad(x, y, chunk, **kw))
    x, y = np.zeros((3000, 4), np.float32), np.zeros(3000, np.int32)
    params = small_params()
    train.evaluate(params, x, y, loss="cross_entropy", as_dict=False)
    train.evaluate(params, x, y, loss="cross_entropy", chunk_size=7, as_dict=False)
    assert chunks == [1000, 7]
    fit(params, x[:64], y[:64], optimizer=optax.sgd(0.0), epochs=1, eval_data=(x, y), eval_chunk_size=9)
    fit(params, x[:64], y[:64], optimizer=optax.sgd(0.0), epochs=1, eval_data=(x, y))
    assert chunks[2:] == [9, 1000]  # fit's eval_chunk_size= reaches the evaluation, and defaults to 1,000
    _, history = fit(params, x[:64], y[:64], epochs=0, eval_data=(x, y))  # no epoch: no record
    assert list(history) == []


def test_fit_checks_epochs_per_call_as_the_trainer_does():
    # One check, the Trainer's: a NumPy integer is an int to both (fit alone used to refuse np.int64).
    x, y = problem()
    params = mlp.init(jax.random.key(0), [3, 4, 2])
    for bad in (2.0, True, 0):
        message = f"^epochs_per_call must be an int >= 1, got {re.escape(repr(bad))}$"
        with pytest.raises(ValueError, match=message):
            fit_small(params, x, y, epochs_per_call=bad)
        with pytest.raises(ValueError, match=message):
            train.Trainer(mlp.Net("tanh"), loss="mse", optimizer=optax.sgd(0.1), batch_size=8, epochs_per_call=bad)
    _, history = fit_small(params, x, y, epochs=2, epochs_per_call=np.int64(2))
    assert [r["epoch"] for r in history] == [1, 2]


# Names that moved to the module that owns their job: each old name still works, warns once per use, names the new
# home, and is the very object found there (the mapping is written out here, not read from the code).
MOVED = [("loop", "Progress", "callbacks", "ProgressBar"), ("loop", "in_notebook", "callbacks", "in_notebook"),
         ("loop", "start_log", "callbacks", "start_log"), ("loop", "append_log", "callbacks", "append_log"),
         ("loop", "check_finite", "train", "check_finite"), ("loop", "RESUME", "checkpoint", "RESUME"),
         ("loop", "should_resume", "checkpoint", "should_resume"), ("loop", "restore", "checkpoint", "restore_run"),
         ("train", "init_ensemble", "mlp", "init_ensemble"), ("train", "make_mesh", "placement", "make_mesh")]


@pytest.mark.parametrize("old_module, old, new_module, new", MOVED, ids=[f"{m}.{n}" for m, n, _, _ in MOVED])
def test_a_moved_name_still_works_and_says_where_it_went(old_module, old, new_module, new):
    import importlib

    before, after = (importlib.import_module(f"jaxnet.{m}") for m in (old_module, new_module))
    with pytest.warns(DeprecationWarning, match=re.escape(f"jaxnet.{new_module}.{new}")) as caught:
        found = getattr(before, old)
    assert found is getattr(after, new)
    assert len(caught) == 1 and points_at(caught[0], __file__)  # the warning points at the caller's line
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        before.nothing  # noqa: B018


@pytest.mark.parametrize("loss, fields", [("cross_entropy", ["loss", "accuracy"]), ("mse", ["loss"])])
def test_evaluate_gives_the_trainers_dict_when_asked_and_warns_before_the_pair_goes(loss, fields):
    x, y = blobs()
    targets = y if loss == "cross_entropy" else np.eye(3, dtype=np.float32)[y]
    params, net = small_params(), mlp.Net("tanh")
    trainer = train.Trainer(net, loss=loss, optimizer=optax.sgd(0.1), batch_size=8)
    as_dict = train.evaluate(params, x, targets, net, loss=loss, as_dict=True)
    assert list(as_dict) == fields == list(trainer.evaluate(params, x, targets))
    for field in fields:
        np.testing.assert_array_equal(as_dict[field], trainer.evaluate(params, x, targets)[field])
    # The mean loss written out: softmax cross-entropy or ½‖ŷ − y‖² per example, in float64.
    z = np.asarray(mlp.apply(params, x, net), np.float64)
    if loss == "cross_entropy":
        per_example = np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]
    else:
        per_example = 0.5 * ((z - targets) ** 2).sum(1)
    np.testing.assert_allclose(as_dict["loss"], per_example.mean(), rtol=1e-5)
    with pytest.warns(FutureWarning, match="as_dict=True for the dict") as caught:
        pair = train.evaluate(params, x, targets, net, loss=loss)
    assert points_at(caught[0], __file__) and isinstance(pair, tuple) and len(pair) == 2
    np.testing.assert_array_equal(pair[0], as_dict["loss"])
