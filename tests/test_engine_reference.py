"""``fit`` against references written out independently: a plain loop of ``jax.grad`` and optax steps.

The reference draws each epoch's order as ``fit`` documents it (``permutation(fold_in(key, epoch), N)``, the short
last batch dropped) and computes the network and the loss from their formulas, not from jaxnet. Agreement to
float32 round-off after three epochs means the same examples, in the same batches, in the same number of steps:
the same order in every epoch, a lost step or a lost batch would each move the parameters far more than that.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnet import callbacks, mlp, train

N, D, K, BATCH, EPOCHS = 100, 3, 2, 32, 3  # 3 steps per epoch; the last 4 examples of each order are dropped
# One compiled scan against a Python loop of jitted steps: the same arithmetic, fused differently (a few float32
# ulps per step, compounded over 9 steps).
TOL = dict(rtol=2e-5, atol=2e-6)


def problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype(np.float32)
    y = np.stack([np.sin(x[:, 0]) + x[:, 1], x[:, 2] * x[:, 0]], axis=1).astype(np.float32)
    return x, y


def forward(params, x):
    """ŷ = W₂ tanh(W₁x + b₁) + b₂ for rows x, written out."""
    (W1, b1), (W2, b2) = params
    return jnp.tanh(x @ W1.T + b1[None, :]) @ W2.T + b2[None, :]


def l2(params, x, y):
    """The lecture's L2 loss, 1/(2N)·Σ‖ŷ − y‖², written out."""
    return jnp.sum((forward(params, x) - y) ** 2) / (2 * x.shape[0])


def reference_fit(params, x, y, optimizer, key, epochs):
    """Plain minibatch training: per epoch a fresh permutation from fold_in(key, epoch), N // B full batches."""
    state = optimizer.init(params)
    step = jax.jit(lambda p, s, xb, yb: _step(optimizer, p, s, xb, yb))
    steps = 0
    for epoch in range(epochs):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), x.shape[0]))
        for b in range(x.shape[0] // BATCH):
            batch = order[b * BATCH:(b + 1) * BATCH]
            params, state = step(params, state, x[batch], y[batch])
            steps += 1
    return params, steps


def _step(optimizer, params, state, xb, yb):
    grads = jax.grad(l2)(params, xb, yb)
    updates, state = optimizer.update(grads, state, params)
    return optax.apply_updates(params, updates), state


@pytest.mark.parametrize("name, optimizer", [("sgd", optax.sgd(0.1)), ("adam", optax.adam(1e-2))])
def test_fit_equals_a_plain_loop_over_the_documented_permutations(name, optimizer):
    x, y = problem()
    params = mlp.init(jax.random.key(0), [D, 16, K])
    key = jax.random.key(7)
    trained, history = train.fit(params, x, y, mlp.Net("tanh"), optimizer=optimizer, epochs=EPOCHS,
                                 batch_size=BATCH, key=key, loss="mse", verbose=False)
    expected, steps = reference_fit(params, jnp.asarray(x), jnp.asarray(y), optimizer, key, EPOCHS)
    assert steps == EPOCHS * (N // BATCH) == 9
    for (W, b), (W_ref, b_ref) in zip(trained, expected):
        np.testing.assert_allclose(W, W_ref, **TOL)
        np.testing.assert_allclose(b, b_ref, **TOL)
    if name == "adam":  # Adam counts its steps: exactly epochs × ⌊N / B⌋
        assert int(history.opt_state[0].count) == steps
    # And the parameters moved: agreement is not two copies of the initial values.
    assert float(np.abs(trained[0][0] - params[0][0]).max()) > 1e-3


def test_the_order_differs_between_epochs_and_is_the_one_documented():
    # The reference above is only independent if fold_in(key, e) gives different orders for different e.
    key = jax.random.key(7)
    orders = [np.asarray(jax.random.permutation(jax.random.fold_in(key, e), N)) for e in range(EPOCHS)]
    assert all(sorted(o) == list(range(N)) for o in orders)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])


def test_an_ensembles_evaluation_reports_each_member_by_itself():
    x, y = problem()
    rng = np.random.default_rng(1)
    labels = rng.integers(0, K, N).astype(np.int32)
    x_eval, y_eval = x[:60], labels[:60]
    params = mlp.init_ensemble(jax.random.key(3), 3, [D, 8, K])
    trained, history = train.fit(params, x, labels, mlp.Net("tanh"), optimizer=optax.sgd(0.5), epochs=2,
                                 batch_size=BATCH, key=jax.random.key(1), loss="cross_entropy",
                                 eval_data=(x_eval, y_eval), ensemble=True, verbose=False)
    record = history[-1]
    assert len(record["eval_loss"]) == len(record["eval_accuracy"]) == 3
    for k in range(3):
        member = jax.tree.map(lambda a, k=k: a[k], trained)
        loss, accuracy = train.evaluate(member, x_eval, y_eval, mlp.Net("tanh"), loss="cross_entropy", as_dict=False)
        # And from the formulas: softmax cross-entropy of the logits, the argmax against the labels.
        logits = np.asarray(forward(member, jnp.asarray(x_eval)), np.float64)
        log_p = logits - logits.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(record["eval_loss"][k], -log_p[np.arange(60), y_eval].mean(), rtol=1e-5)
        # (the accuracy is a float32 ratio: exact counts of 60 to within 1e-6)
        assert record["eval_accuracy"][k] == pytest.approx(np.mean(logits.argmax(axis=1) == y_eval), abs=1e-6)
        np.testing.assert_allclose(record["eval_loss"][k], loss, rtol=1e-6)
        assert record["eval_accuracy"][k] == pytest.approx(float(accuracy), abs=1e-6)
    assert len(set(record["eval_loss"])) == 3  # three members, three different losses


def test_resuming_with_another_key_is_refused(tmp_path):
    x, y = problem()
    path = tmp_path / "c.npz"
    trainer = train.Trainer(mlp.Net("tanh"), loss="mse", optimizer=optax.sgd(0.1), batch_size=BATCH)
    state = trainer.init(mlp.init(jax.random.key(0), [D, 8, K]))

    def fit(epochs, key, resume):
        return trainer.fit(state, x, y, epochs=epochs, key=jax.random.key(key), verbose=False,
                           callbacks=[callbacks.Checkpoint(path, resume=resume)])

    fit(1, key=1, resume=False)
    with pytest.raises(ValueError, match="was written by a run with another key; pass the same key to resume"):
        fit(2, key=2, resume=True)
    resumed, history = fit(2, key=1, resume=True)
    assert [r["epoch"] for r in history] == [1, 2]


@pytest.mark.parametrize("n, features, chunk, multiple_of, expected_chunk, expected_rows", [
    (5, 3, 1000, 1, 5, 5),  # the chunk is clipped to the 5 rows (not to the 3 features)
    (10, 3, 4, 1, 4, 12),   # 10 rows in chunks of 4: padded to 12
    (10, 3, 3, 2, 4, 12),   # a chunk of 3 rounded up to the 2 data shards: 4
])
def test_evaluation_pads_rows_to_whole_chunks_and_keeps_the_count(n, features, chunk, multiple_of, expected_chunk,
                                                                  expected_rows):
    from jaxnet import evaluation

    x = np.arange(n * features, dtype=np.float32).reshape(n, features) + 1
    for y in (np.arange(n), np.ones((n, 2), np.float32)):  # labels (N,) and targets (N, d)
        xp, yp, count, got_chunk = evaluation.pad(x, y, chunk, multiple_of=multiple_of)
        assert (count, got_chunk) == (n, expected_chunk)
        assert xp.shape == (expected_rows, features) and yp.shape == (expected_rows,) + y.shape[1:]
        np.testing.assert_array_equal(xp[:n], x)
        np.testing.assert_array_equal(yp[:n], y)
        assert not xp[n:].any() and not yp[n:].any()  # zero rows
