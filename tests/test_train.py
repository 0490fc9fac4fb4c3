import json
import os
import re
import subprocess
import sys
import textwrap
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnet import backprop, checkpoint, losses, mlp, program, train

# Float32 round-off after one epoch of a few dozen SGD steps: each step moves parameters by ~1e-7 relative; a few
# dozen steps of compounding keep the difference far below 1e-5.
EPOCH_TOL = dict(rtol=1e-5, atol=1e-6)


def blobs(n=203, d=4, k=3, seed=0):
    """A learnable classification problem: k Gaussian clusters in d dimensions (n not a multiple of the batch)."""
    rng = np.random.RandomState(seed)
    centres = rng.randn(k, d) * 3
    labels = rng.randint(0, k, n)
    return (centres[labels] + rng.randn(n, d)).astype(np.float32), labels.astype(np.int32)


def small_params(seed=0, sizes=(4, 16, 3)):
    return mlp.init(jax.random.key(seed), list(sizes))


def fit(params, x, y, **kwargs):
    kwargs = {"optimizer": optax.sgd(0.1), "epochs": 3, "batch_size": 32, "key": jax.random.key(1),
              "loss": "cross_entropy", "verbose": False, **kwargs}
    return train.fit(params, x, y, **kwargs)


@pytest.fixture
def traces(monkeypatch):
    """Registers a loss "counted_cross_entropy" that counts how often JAX traces it (Python runs only when tracing)."""
    count = {"n": 0}

    def counted(logits, y):
        count["n"] += 1
        return losses.cross_entropy(logits, y)

    monkeypatch.setitem(losses.LOSSES, "counted_cross_entropy",
                        losses.get("cross_entropy")._replace(name="counted_cross_entropy", fn=counted))
    return count


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


def test_manual_step_equals_autodiff_step_after_an_epoch():
    x, y = blobs()
    a, _ = fit(small_params(), x, y, epochs=1, grad="autodiff")
    m, _ = fit(small_params(), x, y, epochs=1, grad="manual")
    chex.assert_trees_all_close(a, m, **EPOCH_TOL)


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
    loss, accuracy = train.evaluate(params, x[500:], y[500:], loss="cross_entropy", chunk_size=64)
    np.testing.assert_allclose(loss, losses.cross_entropy(mlp.apply(params, x[500:]), y[500:]), rtol=1e-5)
    np.testing.assert_allclose(accuracy, np.mean(np.argmax(mlp.apply(params, x[500:]), 1) == y[500:]), rtol=1e-6)
    assert history[-1]["eval_loss"] == pytest.approx(float(loss), rel=1e-5)


def test_same_key_bit_identical_other_key_different():
    x, y = blobs()
    a, _ = fit(small_params(), x, y)
    b, _ = fit(small_params(), x, y)
    c, _ = fit(small_params(), x, y, key=jax.random.key(2))
    chex.assert_trees_all_equal(a, b)
    assert not np.allclose(a[0][0], c[0][0])


def test_fit_leaves_the_callers_params_alone():
    x, y = blobs()
    params = small_params()
    before = jax.tree.map(np.array, params)
    fit(params, x, y)
    chex.assert_trees_all_equal(params, before)


def test_epochs_per_call_gives_the_same_run():
    x, y = blobs()
    a, ha = fit(small_params(), x, y, epochs=5)
    b, hb = fit(small_params(), x, y, epochs=5, epochs_per_call=2)
    chex.assert_trees_all_equal(a, b)
    np.testing.assert_allclose([r["train_loss"] for r in ha], [r["train_loss"] for r in hb], rtol=1e-6)


def test_ensemble_equals_separate_runs():
    x, y = blobs()
    stacked = train.init_ensemble(jax.random.key(5), 3, [4, 16, 3])
    together, history = fit(stacked, x, y, ensemble=True)
    assert len(history[-1]["train_loss"]) == 3
    for k, member_key in enumerate(jax.random.split(jax.random.key(5), 3)):
        alone, _ = fit(mlp.init(member_key, [4, 16, 3]), x, y)
        chex.assert_trees_all_close(jax.tree.map(lambda a, k=k: a[k], together), alone, **EPOCH_TOL)


def test_the_vmapped_ensemble_program_equals_members_in_turn():
    # A CPU trains an ensemble member by member; accelerators and meshes run the vmapped program. Both must give
    # the same parameters and losses (float32 round-off: batched products sum in another order).
    x, y = blobs()
    stacked = train.init_ensemble(jax.random.key(5), 3, [4, 16, 3])
    optimizer = optax.adam(1e-2)
    args = (jnp.asarray(x), jnp.asarray(y), jax.random.key(1), jnp.arange(3))
    net, kwargs = mlp.Net("relu"), dict(loss="cross_entropy", batch_size=32)
    vmapped = train.make_epochs(optimizer, net, ensemble=True, **kwargs)
    single = train.make_epochs(optimizer, net, **kwargs)
    fresh = lambda: jax.tree.map(jnp.array, stacked)
    a = vmapped(fresh(), jax.vmap(optimizer.init)(fresh()), *args)
    b = program.run_members(single, fresh(), jax.vmap(optimizer.init)(fresh()), *args)
    chex.assert_trees_all_close(a, b, **EPOCH_TOL)
    assert b[2].shape == (3, 3)  # (epochs, members)


def test_ensemble_with_per_member_learning_rates():
    x, y = blobs()
    stacked = jax.vmap(lambda _: small_params())(jnp.arange(2))  # the same network twice
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    together, _ = fit(stacked, x, y, optimizer=optimizer, ensemble=True,
                      hyperparams={"learning_rate": jnp.array([0.1, 0.02])})
    for k, lr in enumerate([0.1, 0.02]):
        alone, _ = fit(small_params(), x, y, optimizer=optax.sgd(lr))
        chex.assert_trees_all_close(jax.tree.map(lambda a, k=k: a[k], together), alone, **EPOCH_TOL)
    with pytest.raises(ValueError, match="inject_hyperparams"):
        fit(stacked, x, y, ensemble=True, hyperparams={"learning_rate": jnp.array([0.1, 0.02])})
    three = jax.vmap(lambda _: small_params())(jnp.arange(3))
    with pytest.raises(ValueError, match=r"hyperparams\['learning_rate'\] has 2 values for an ensemble of 3"):
        fit(three, x, y, optimizer=optimizer, ensemble=True, hyperparams={"learning_rate": jnp.array([0.1, 0.2])})


def test_an_optimizer_state_from_another_optimizer_is_refused():
    x, y = blobs()
    params = small_params()
    with pytest.raises(ValueError, match="opt_state does not belong to this optimizer"):
        fit(params, x, y, optimizer=optax.sgd(0.1), opt_state=optax.adam(1e-3).init(params))
    with pytest.raises(ValueError, match=r"opt_state.* is float32\[16, 4\], the optimizer expects float32\[8, 4\]"):
        fit(mlp.init(jax.random.key(0), [4, 8, 3]), x, y, optimizer=optax.adam(1e-3),
            opt_state=optax.adam(1e-3).init(params))
    _, history = fit(params, x, y, optimizer=optax.adam(1e-3), epochs=1)
    fit(params, x, y, optimizer=optax.adam(1e-3), opt_state=history.opt_state)  # its own state is taken


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    x, y = blobs()
    optimizer = optax.adam(1e-2)  # a stateful optimizer: its moments must survive the restart
    full, full_history = fit(small_params(), x, y, optimizer=optimizer, epochs=6)
    path = tmp_path / "ckpt.npz"
    fit(small_params(), x, y, optimizer=optimizer, epochs=4, checkpoint_path=path)
    assert checkpoint.read_header(path)["epoch"] == 4
    resumed, history = fit(small_params(), x, y, optimizer=optimizer, epochs=6, checkpoint_path=path, resume=True)
    chex.assert_trees_all_equal(resumed, full)
    assert [r["epoch"] for r in history] == list(range(1, 7))
    assert history[-1]["train_loss"] == full_history[-1]["train_loss"]


def test_checkpoint_round_trip_and_header(tmp_path):
    params = small_params()
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)
    path = tmp_path / "sub" / "c.npz"
    checkpoint.save(path, params=params, opt_state=opt_state, epoch=7, key=jax.random.key(3),
                    meta={"sizes": [4, 16, 3]})
    p, s, epoch, key, header = checkpoint.restore(path, params=params, opt_state=opt_state)
    chex.assert_trees_all_equal((p, s), (params, opt_state))
    assert epoch == 7 and header["meta"]["sizes"] == [4, 16, 3] and "jax" in header["versions"]
    np.testing.assert_array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(3)))
    assert os.listdir(path.parent) == ["c.npz"]  # no temporary file left behind


def test_checkpoint_refuses_mismatches(tmp_path):
    params = small_params()
    optimizer = optax.sgd(0.1)
    path = tmp_path / "c.npz"
    checkpoint.save(path, params=params, opt_state=optimizer.init(params), epoch=1, key=jax.random.key(0))
    wider = small_params(sizes=(4, 17, 3))
    with pytest.raises(ValueError, match=r"leaf .*\[0\]\[0\].*shape \[16, 4\].*expected shape \[17, 4\]"):
        checkpoint.restore(path, params=wider, opt_state=optimizer.init(wider))
    doubles = jax.tree.map(lambda a: a.astype(jnp.float16), params)
    with pytest.raises(ValueError, match="dtype float32.*dtype float16"):
        checkpoint.restore(path, params=doubles, opt_state=optimizer.init(doubles))
    deeper = small_params(sizes=(4, 16, 16, 3))
    with pytest.raises(ValueError, match="structure"):
        checkpoint.restore(path, params=deeper, opt_state=optimizer.init(deeper))


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    params = small_params()
    opt_state = optax.sgd(0.1).init(params)
    path = tmp_path / "c.npz"
    checkpoint.save(path, params=params, opt_state=opt_state, epoch=1, key=jax.random.key(0))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, params=params, opt_state=opt_state, epoch=2, key=jax.random.key(0))
    assert checkpoint.read_header(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["c.npz"]


def test_divergence_names_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = blobs()
    path = tmp_path / "c.npz"
    fit(small_params(), x, y, epochs=2, checkpoint_path=path)
    message = f"training diverged: the loss became non-finite in epoch 3 (of 5); the last good checkpoint is {path}"
    with pytest.raises(FloatingPointError, match=f"^{re.escape(message)}$"):
        fit(small_params(), x * 1e30, y, optimizer=optax.sgd(1e10), epochs=5, checkpoint_path=path, resume=True)
    assert checkpoint.read_header(path)["epoch"] == 2


def test_log_file_gets_one_json_line_per_epoch(tmp_path):
    x, y = blobs()
    log = tmp_path / "log.jsonl"
    fit(small_params(), x, y, epochs=3, log_path=log, eval_data=(x, y))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3] and "eval_accuracy" in lines[-1]


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
    from jaxnet import mlp, train
    assert jax.device_count() == {n}
    rng = np.random.RandomState(0)
    x = rng.randn(512, 8).astype(np.float32); y = rng.randint(0, 4, 512)
    params = mlp.init(jax.random.key(0), [8, 32, 4])
    kwargs = dict(optimizer=optax.sgd(0.1), epochs=2, batch_size=64, key=jax.random.key(1),
                  loss="cross_entropy", eval_data=(x, y), verbose=False)
    # Where fit puts what: each device holds its rows of the data sets and a whole copy of the parameters.
    placed = []
    place = train._place
    train._place = lambda array, sharding: placed.append(place(array, sharding)) or placed[-1]
    many, history = train.fit(params, x, y, **kwargs)
    train._place = place
    rows = [a for a in placed if a.shape[0] == 512]  # x, y, and the evaluation set's x, y
    state = [a for a in placed if a.shape[0] != 512]
    assert len(rows) == 4 and len(state) == len(jax.tree.leaves(params)), [a.shape for a in placed]  # SGD: no state
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
    stacked = train.init_ensemble(jax.random.key(2), 2, [8, 32, 4])
    many, _ = train.fit(stacked, x, y, ensemble=True, **kwargs)
    one, _ = train.fit(stacked, x, y, ensemble=True, devices=jax.devices()[:1], **kwargs)
    diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree.leaves(many), jax.tree.leaves(one)))
    assert diff < 1e-5, diff
    # The members spread over the devices: each device holds its own member's parameters, the rows whole.
    placed.clear()
    train._place = lambda array, sharding: placed.append(place(array, sharding)) or placed[-1]
    spread, _ = train.fit(stacked, x, y, ensemble=True, mesh=train.make_mesh(members={n}), **kwargs)
    train._place = place
    state = [a for a in placed if a.shape[0] != 512]
    assert len(state) == len(jax.tree.leaves(stacked)), [a.shape for a in placed]
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
        train.evaluate(params, x, y, net, loss="cross_entropy")
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


def test_equal_optimizers_reuse_the_compiled_program(traces):
    # optax.adam(1e-2) built twice gives unequal objects; the program is cached on what they compute.
    x, y = blobs()
    fit(small_params(), x, y, optimizer=optax.adam(1e-2), loss="counted_cross_entropy")
    fit(small_params(1), x, y, optimizer=optax.adam(1e-2), loss="counted_cross_entropy")
    assert traces["n"] == 1
    fit(small_params(), x, y, optimizer=optax.adam(2e-2), loss="counted_cross_entropy")  # other hyperparameters
    fit(small_params(), x, y, optimizer=optax.sgd(1e-2), loss="counted_cross_entropy")  # another optimizer
    assert traces["n"] == 3


def test_fingerprint_tells_optimizers_apart():
    fp = program.optimizer_fingerprint
    assert fp(optax.adam(1e-3)) == fp(optax.adam(1e-3))
    assert fp(optax.adam(1e-3)) != fp(optax.adam(1e-3, b1=0.8))
    schedule = optax.cosine_decay_schedule(0.1, 100)
    assert fp(optax.sgd(schedule)) == fp(optax.sgd(optax.cosine_decay_schedule(0.1, 100)))
    assert fp(optax.sgd(schedule)) != fp(optax.sgd(optax.cosine_decay_schedule(0.1, 200)))
    mask = np.array([True, False])
    assert fp(optax.masked(optax.sgd(1.0), mask)) != fp(optax.masked(optax.sgd(1.0), ~mask))


def test_training_continues_from_the_returned_optimizer_state():
    # Full-batch Adam, so the shuffling key does not matter: 3 + 3 epochs in two calls equal 6 in one, which needs
    # Adam's moments and step count to carry over.
    x, y = blobs(n=64)
    kwargs = dict(optimizer=optax.adam(1e-2), batch_size=64)
    once, _ = fit(small_params(), x, y, epochs=6, **kwargs)
    half, history = fit(small_params(), x, y, epochs=3, **kwargs)
    assert int(history.opt_state[0].count) == 3
    twice, history = fit(half, x, y, epochs=3, opt_state=history.opt_state, **kwargs)
    assert int(history.opt_state[0].count) == 6
    chex.assert_trees_all_close(twice, once, rtol=1e-5, atol=1e-6)  # float32: the batch sum's order may differ


def test_resume_policies(tmp_path):
    x, y = blobs()
    path, log = tmp_path / "c.npz", tmp_path / "log.jsonl"
    with pytest.raises(FileNotFoundError, match="resume=True but there is no checkpoint at .*c.npz"):
        fit(small_params(), x, y, checkpoint_path=path, resume=True)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_path"):
        fit(small_params(), x, y, resume=True)
    with pytest.raises(ValueError, match="resume must be True, False or 'auto', got 'yes'"):
        fit(small_params(), x, y, checkpoint_path=path, resume="yes")
    _, history = fit(small_params(), x, y, epochs=2, checkpoint_path=path, resume="auto", log_path=log)
    assert [r["epoch"] for r in history] == [1, 2]  # nothing to resume from: a fresh start
    straight, _ = fit(small_params(), x, y, epochs=3)
    # Other starting parameters: a resumed run ignores them, a fresh one would start from them.
    resumed, history = fit(small_params(seed=5), x, y, epochs=3, checkpoint_path=path, resume="auto", log_path=log)
    assert [r["epoch"] for r in history] == [1, 2, 3]  # resumed after epoch 2
    chex.assert_trees_all_equal(resumed, straight)
    assert len(log.read_text().splitlines()) == 3  # the resumed run appends
    _, history = fit(small_params(), x, y, epochs=1, checkpoint_path=path, log_path=log)  # default: fresh
    assert [r["epoch"] for r in history] == [1] and checkpoint.read_header(path)["epoch"] == 1
    assert len(log.read_text().splitlines()) == 1  # and a fresh log


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"epoch,loss\n1,0.5\n", "truncated"],
                         ids=["empty", "broken-zip", "foreign", "truncated"])
def test_an_unreadable_checkpoint_names_the_file_and_the_way_out(tmp_path, content):
    x, y = blobs()
    path = tmp_path / "c.npz"
    if content == "truncated":
        fit(small_params(), x, y, epochs=1, checkpoint_path=path)
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    message = re.escape(str(path)) + r" is not a readable jaxnet checkpoint.*resume=False"  # a path is not a regex
    for call in (lambda: fit(small_params(), x, y, checkpoint_path=path, resume=True),
                 lambda: checkpoint.read_header(path)):
        with pytest.raises(ValueError, match=message):
            call()
    assert path.read_bytes() == content  # nothing is deleted on the way


def test_a_checkpoint_without_a_header_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, weights=np.zeros(3))
    message = re.escape(str(path)) + r" is not a jaxnet checkpoint \(no header\).*resume=False"
    params = small_params()
    for call in (lambda: checkpoint.read_header(path),
                 lambda: checkpoint.restore(path, params=params, opt_state=optax.sgd(0.1).init(params)),
                 lambda: fit(params, *blobs(), checkpoint_path=path, resume=True)):
        with pytest.raises(ValueError, match=message):
            call()


def test_the_next_save_removes_temporaries_of_a_killed_save(tmp_path):
    params = small_params()
    opt_state = optax.sgd(0.1).init(params)
    path = tmp_path / "c.npz"
    stale = tmp_path / ".c.npz.tmp-abc123.npz"
    stale.write_bytes(b"half a checkpoint")  # what a save killed before its rename leaves
    other = tmp_path / ".other.npz.tmp-xyz.npz"
    other.write_bytes(b"another checkpoint's save in progress")
    checkpoint.save(path, params=params, opt_state=opt_state, epoch=1, key=jax.random.key(0))
    assert sorted(os.listdir(tmp_path)) == [".other.npz.tmp-xyz.npz", "c.npz"]


def test_evaluate_checks_its_data():
    x, y = blobs()
    with pytest.raises(ValueError, match=r"evaluate: labels must lie in \[0, 3\), got min 0, max 7"):
        train.evaluate(small_params(), x, np.where(y == 2, 7, y), loss="cross_entropy")
    with pytest.raises(ValueError, match="evaluate: x has NaN or inf in 1 rows, the first at row 3"):
        train.evaluate(small_params(), np.where(np.arange(len(x))[:, None] == 3, np.inf, x), y, loss="cross_entropy")


def test_integer_inputs_train_like_their_float_values():
    # uint8 images stay uint8 on the device and are converted inside the compiled step.
    x, y = blobs()
    x8 = np.clip(np.round(x * 10 + 128), 0, 255).astype(np.uint8)
    with pytest.warns(train.UnscaledInputWarning, match=r"uint8 with values up to \d+ .*input_scale=255\.0"):
        a, _ = fit(small_params(), x8, y, optimizer=optax.sgd(1e-4))
    b, _ = fit(small_params(), x8.astype(np.float32), y, optimizer=optax.sgd(1e-4))
    chex.assert_trees_all_close(a, b, **EPOCH_TOL)


def test_raw_pixels_in_the_evaluation_set_are_named_too():
    # Training on scaled floats and evaluating on the raw uint8 pixels is the same silent mistake.
    x, y = blobs()
    x8 = np.clip(np.round(x * 10 + 128), 0, 255).astype(np.uint8)
    with pytest.warns(train.UnscaledInputWarning, match=r"^eval_data: x is uint8"):
        fit(small_params(), x, y, optimizer=optax.sgd(1e-4), eval_data=(x8, y))


def test_scaled_or_small_integer_inputs_train_without_a_warning():
    x, y = blobs()
    x8 = np.clip(np.round(x * 10 + 128), 0, 255).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(small_params(), x8, y, net=mlp.Net("relu", input_scale=255.0), optimizer=optax.sgd(1e-4))
        fit(small_params(), (x > 0).astype(np.int32), y, optimizer=optax.sgd(1e-4))  # 0/1 features need no scale


def test_the_checkpoint_header_describes_the_network_and_keeps_the_callers_meta(tmp_path):
    # What a reader of the checkpoint alone (the playground's digits page) rebuilds the network from: the layer
    # sizes, the activations, the input's shift and scale, the loss and the dtype; an ensemble's sizes without K.
    net = mlp.Net(("tanh", "sigmoid"), input_shift=0.5, input_scale=2.0)
    params = train.init_ensemble(jax.random.key(0), 2, [3, 5, 4, 2])
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    path = tmp_path / "c.npz"
    train.fit(params, x, y, net, optimizer=optax.sgd(0.1), epochs=1, batch_size=4, key=jax.random.key(1),
              loss="mse", ensemble=True, checkpoint_path=path, meta={"note": "mine"}, verbose=False)
    meta = checkpoint.read_header(path)["meta"]
    expected = {"sizes": [3, 5, 4, 2], "activation": ["tanh", "sigmoid"], "output": "identity", "input_shift": 0.5,
                "input_scale": 2.0, "loss": "mse", "dtype": "float32", "note": "mine"}
    assert {k: meta.get(k) for k in expected} == expected
