"""jaxnet.checkpoint: atomic saves, exact round trips, and refusals that name the file and the offending leaf."""

import json
import os
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnet import callbacks, checkpoint, mlp, train

from problems import small_params


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


def test_a_stale_file_that_vanishes_during_cleanup_is_no_error(tmp_path, monkeypatch):
    # Another process's save (or its own cleanup) may remove a leftover between the listing and the removal.
    params = small_params()
    opt_state = optax.sgd(0.1).init(params)
    path = tmp_path / "c.npz"
    stale = tmp_path / ".c.npz.tmp-gone.npz"
    stale.write_bytes(b"half a checkpoint")
    remove = os.remove

    def raced(target):
        if os.fspath(target) == os.fspath(stale):
            remove(target)  # someone else got there first
        remove(target)

    monkeypatch.setattr(os, "remove", raced)
    checkpoint.save(path, params=params, opt_state=opt_state, epoch=1, key=jax.random.key(0))
    assert os.listdir(tmp_path) == ["c.npz"] and checkpoint.read_header(path)["epoch"] == 1


def test_should_resume_by_policy(tmp_path):
    path = tmp_path / "c.npz"
    assert not checkpoint.should_resume(path, "auto") and not checkpoint.should_resume(None, "auto")
    assert not checkpoint.should_resume(path, False)
    path.write_bytes(b"")
    assert checkpoint.should_resume(path, "auto") and checkpoint.should_resume(path, True)
    assert not checkpoint.should_resume(path, False)
    with pytest.raises(ValueError, match="^resume=True needs a checkpoint_path to resume from$"):
        checkpoint.should_resume(None, True)
    for wrong in ("AUTO", "yes", 1, None):
        with pytest.raises(ValueError, match="^resume must be True, False or 'auto', got "):
            checkpoint.should_resume(path, wrong)


def _saved(tmp_path, key, meta):
    params = mlp.init(jax.random.key(0), [2, 3, 1])
    optimizer = optax.sgd(0.1)
    path = tmp_path / "c.npz"
    checkpoint.save(path, params=params, opt_state=optimizer.init(params), epoch=2, key=key, meta=meta)
    return path, params, optimizer.init(params)


def test_restore_returns_the_saved_state_and_history(tmp_path):
    key = jax.random.key(3)
    history = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}]
    path, params, opt_state = _saved(tmp_path, key, {"history": history})
    restored, _, start, records = checkpoint.restore_run(path, params=params, opt_state=opt_state, key=key)
    chex.assert_trees_all_equal(restored, params)
    assert (start, records) == (2, history)
    # A checkpoint written without a history (by checkpoint.save directly) resumes with an empty one.
    path, params, opt_state = _saved(tmp_path, key, {})
    assert checkpoint.restore_run(path, params=params, opt_state=opt_state, key=key)[3] == []
    x = np.zeros((8, 2), np.float32)
    trainer = train.Trainer(mlp.Net("relu"), loss="mse", optimizer=optax.sgd(0.1), batch_size=4)
    _, resumed = trainer.fit(trainer.init(params), x, np.zeros((8, 1), np.float32), epochs=3, key=key,
                             callbacks=[callbacks.Checkpoint(path, resume=True)], verbose=False)
    assert [r["epoch"] for r in resumed] == [3]


@pytest.mark.parametrize("kind", ["typed", "raw"])
def test_restore_refuses_another_key_typed_or_raw(tmp_path, kind):
    make = jax.random.key if kind == "typed" else jax.random.PRNGKey
    path, params, opt_state = _saved(tmp_path, make(3), {})
    assert checkpoint.restore_run(path, params=params, opt_state=opt_state, key=make(3))[2] == 2
    with pytest.raises(ValueError, match="written by a run with another key"):
        checkpoint.restore_run(path, params=params, opt_state=opt_state, key=make(4))
    with jax.legacy_prng_key("error"):  # a raw key is compared as it is, never passed to jax.random
        if kind == "raw":
            assert checkpoint.restore_run(path, params=params, opt_state=opt_state, key=make(3))[2] == 2


def test_extras_are_read_back_by_name_and_a_header_without_them_has_none(tmp_path):
    params = small_params()
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, params=params, opt_state=(), epoch=1, key=jax.random.key(0),
                    extras={"a": np.arange(3.0), "b/c": np.ones((2, 2), np.int32)})
    extras = checkpoint.read_extras(path)
    assert sorted(extras) == ["a", "b/c"] and extras["b/c"].dtype == np.int32
    np.testing.assert_array_equal(extras["a"], np.arange(3.0))
    # A header that lists no extras (as written before they existed) has none.
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays["header"].tobytes().decode())
    del header["extras"]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    older = tmp_path / "older.npz"
    np.savez(older, **arrays)
    assert checkpoint.read_extras(older) == {}
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(checkpoint.CheckpointError, match=f"^{re.escape(str(tmp_path / 'other.npz'))} is not a jaxnet"):
        checkpoint.read_extras(tmp_path / "other.npz")
