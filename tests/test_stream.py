"""Streamed training (Trainer(..., steps_per_call=K)): the whole-epoch program's parameters, bit for bit, from data
that stays where it is (arrays, memmaps, array-likes), in memory bounded by the chunks."""

import os
import re
import subprocess
import sys

import chex
import jax
import numpy as np
import optax
import pytest

from jaxnet import mlp, stream, train

from problems import blobs, small_params

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def trainer(**kwargs):
    kwargs = {"loss": "cross_entropy", "optimizer": optax.adam(1e-2), "batch_size": 32, **kwargs}
    return train.Trainer(kwargs.pop("net", mlp.Net("relu")), **kwargs)


def fit(t, params, x, y, **kwargs):
    return t.fit(t.init(params), x, y, epochs=3, key=jax.random.key(1), verbose=False, **kwargs)


class Rows:
    """An array-like with only ``shape``, ``dtype`` and indexing by sorted integer arrays or slices, as h5py's
    datasets are (unsorted or repeated indices are refused, as h5py refuses them)."""

    def __init__(self, array):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        self.reads = 0

    def __getitem__(self, index):
        if isinstance(index, np.ndarray):
            assert np.all(np.diff(index) > 0), "indices must be increasing"
        self.reads += 1
        return self.array[index]


@pytest.mark.parametrize("steps_per_call, grad", [(1, "autodiff"), (4, "autodiff"), (6, "manual"),
                                                  (100, "autodiff")])
def test_streamed_training_equals_the_whole_epoch_program_bit_for_bit(steps_per_call, grad):
    x, y = blobs()  # 203 examples: 6 minibatches of 32 an epoch, the rest dropped
    whole, whole_history = fit(trainer(grad=grad), small_params(), x, y, eval_data=(x[:50], y[:50]))
    streamed, history = fit(trainer(steps_per_call=steps_per_call, grad=grad), small_params(), Rows(x), Rows(y),
                            eval_data=(x[:50], y[:50]))
    chex.assert_trees_all_equal(streamed.params, whole.params)
    chex.assert_trees_all_equal(streamed.opt_state, whole.opt_state)
    assert [r["train_loss"] for r in history] == pytest.approx([r["train_loss"] for r in whole_history], rel=1e-6)
    assert history[-1]["eval_loss"] == pytest.approx(whole_history[-1]["eval_loss"], rel=1e-6)


def test_streaming_keeps_dropout_ensembles_and_continuation_exact(monkeypatch):
    x, y = blobs()
    net = mlp.Net("relu", dropout=0.3)
    stacked = mlp.init_ensemble(jax.random.key(0), 2, [4, 16, 3])
    for one_by_one in (True, False):
        from jaxnet import program

        monkeypatch.setattr(program, "members_one_by_one", lambda mesh, v=one_by_one: v)
        whole, whole_history = fit(trainer(net=net, ensemble=True), stacked, x, y)
        streamed, history = fit(trainer(net=net, ensemble=True, steps_per_call=4), stacked, x, y)
        losses = lambda h: np.array([r["train_loss"] for r in h])  # (epochs, members): each member's own mean
        assert losses(history).shape == (3, 2)
        if one_by_one:
            chex.assert_trees_all_equal(streamed.params, whole.params)
            # The epoch's mean of the calls' losses: float32 round-off of another grouping of the same sum.
            np.testing.assert_allclose(losses(history), losses(whole_history), rtol=1e-6)
        else:  # the vmapped program (an accelerator's): the same steps, float32 round-off of the batched products
            chex.assert_trees_all_close(streamed.params, whole.params, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(losses(history), losses(whole_history), rtol=1e-5)
    monkeypatch.undo()
    t = trainer(steps_per_call=5)
    two, _ = t.fit(t.init(small_params()), x, y, epochs=2, key=jax.random.key(1), verbose=False)
    three, _ = t.fit(two, x, y, epochs=3, key=jax.random.key(1), verbose=False)
    once, _ = fit(trainer(), small_params(), x, y)
    chex.assert_trees_all_equal(three.params, once.params)


def test_a_memmap_trains_as_its_array_and_uint8_pixels_keep_their_scaling(tmp_path):
    x, y = blobs()
    pixels = np.clip(x * 20 + 128, 0, 255).astype(np.uint8)
    np.save(tmp_path / "x.npy", pixels)
    np.save(tmp_path / "y.npy", y)
    mapped_x, mapped_y = np.load(tmp_path / "x.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")
    net = mlp.Net("relu", input_scale=255.0)
    whole, _ = fit(trainer(net=net), small_params(), pixels, y)
    streamed, history = fit(trainer(net=net, steps_per_call=3), small_params(), mapped_x, mapped_y,
                            eval_data={"val": (mapped_x, mapped_y)})
    chex.assert_trees_all_equal(streamed.params, whole.params)
    in_memory = trainer(net=net).evaluate(streamed.params, pixels, y)
    assert history[-1]["val_loss"] == pytest.approx(float(in_memory["loss"]), rel=1e-6)
    assert history[-1]["val_accuracy"] == pytest.approx(float(in_memory["accuracy"]), abs=1e-6)


def test_gather_reads_sorted_rows_once_and_returns_them_in_the_order_asked():
    data = Rows(np.arange(20).reshape(10, 2))
    rows = np.array([[7, 2], [2, 9]])
    np.testing.assert_array_equal(stream.gather(data, rows), np.arange(20).reshape(10, 2)[rows])
    assert data.reads == 1


def test_streaming_settings_are_refused_clearly():
    x, y = blobs()
    with pytest.raises(ValueError, match="steps_per_call must be an int >= 1, got 0"):
        trainer(steps_per_call=0)
    with pytest.raises(ValueError, match="steps_per_call streams the training set to one device"):
        trainer(steps_per_call=2, devices=jax.devices()[:1])
    with pytest.raises(ValueError, match="full-batch training, one step per epoch"):
        fit(trainer(steps_per_call=2, batch_size=203), small_params(), x, y)
    with pytest.raises(ValueError, match=r"training data: x must have shape \(N, 4\)"):
        fit(trainer(steps_per_call=2), small_params(), Rows(x[:, :3]), Rows(y))
    bad = x.copy()
    bad[150, 1] = np.nan
    with pytest.raises(ValueError, match="x has NaN or inf in 1 rows, the first at row 150"):
        fit(trainer(steps_per_call=2), small_params(), Rows(bad), Rows(y))


MEMORY_RUN = """
import sys, numpy as np, jax, optax
from jaxnet import mlp, train

def anonymous_mib():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("RssAnon")).split()[1]) / 1024

x = np.load(sys.argv[1], mmap_mode="r")
y = np.load(sys.argv[2], mmap_mode="r")
t = train.Trainer(mlp.Net("relu", input_scale=255.0), loss="cross_entropy", optimizer=optax.sgd(0.1),
                  batch_size=256, steps_per_call=8, eval_chunk_size=1024)
state = t.init(mlp.init(jax.random.key(0), [x.shape[1], 32, 10]))
# A first epoch on a few rows: compilation and JAX's own buffers are counted before the measurement.
small_x, small_y = np.asarray(x[:4096]), np.asarray(y[:4096])
state, _ = t.fit(state, small_x, small_y, epochs=1, key=jax.random.key(1), verbose=False,
                 eval_data=(small_x, small_y))
before = anonymous_mib()
state, history = t.fit(state._replace(epoch=0), x, y, epochs=1, key=jax.random.key(1), verbose=False,
                       eval_data=(x, y))
print(f"grew {anonymous_mib() - before:.1f} MiB; set {x.nbytes / 2**20:.0f} MiB; loss {history[-1]['train_loss']}")
"""


@pytest.mark.slow
def test_a_set_on_disk_trains_in_memory_bounded_by_its_chunks(tmp_path):
    # 600 MB of uint8 pixels on disk (200,000 rows of 3,000); an epoch of it, and its evaluation, must grow the
    # process's anonymous memory (the set itself is read through the page cache, which is not counted) by far
    # less: here by less than 100 MB, a sixth of the set.
    rows, width = 200_000, 3_000
    rng = np.random.default_rng(0)
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=(rows, width))
    for start in range(0, rows, 20_000):
        x[start:start + 20_000] = rng.integers(0, 256, (20_000, width), dtype=np.uint8)
    x.flush()
    del x
    np.save(tmp_path / "y.npy", rng.integers(0, 10, rows).astype(np.int32))
    result = subprocess.run([sys.executable, "-c", MEMORY_RUN, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr[-3000:]
    grew = float(re.search(r"grew (-?[\d.]+) MiB", result.stdout).group(1))
    assert grew < 100, result.stdout


def test_a_streamed_evaluation_over_many_chunks_is_the_in_memory_one():
    # 8 rows at a time over the whole set, the last chunk short: the chunks' means weighted by their rows, added and
    # divided by N, equal the in-memory evaluation to float32 round-off and are float32 numbers like it.
    x, y = blobs()
    assert len(x) % 8 and len(x) > 3 * 8
    streamed, history = fit(trainer(steps_per_call=3, eval_chunk_size=8), small_params(), x, y,
                            eval_data={"val": (x, y)})
    in_memory = trainer().evaluate(streamed.params, x, y)
    assert history[-1]["val_loss"] == pytest.approx(float(in_memory["loss"]), rel=1e-6)
    assert history[-1]["val_accuracy"] == pytest.approx(float(in_memory["accuracy"]), abs=1e-6)
    assert all(float(np.float32(r["val_loss"])) == r["val_loss"] for r in history)
    # From a set that can only be indexed (h5py's kind), chunk by chunk: 26 chunks of 8 rows per evaluation.
    rows_x, rows_y = Rows(x), Rows(y)
    _, from_rows = fit(trainer(steps_per_call=3, eval_chunk_size=8), small_params(), x, y,
                       eval_data={"val": (rows_x, rows_y)})
    assert [r["val_loss"] for r in from_rows] == [r["val_loss"] for r in history]
    # Once through each in blocks for its checks (one block for a set this small), then 26 chunks of 8 for each
    # of the 3 evaluations.
    assert rows_x.reads == rows_y.reads == 1 + 3 * -(-len(x) // 8)
    # In memory, Python lists are arrays like any other.
    _, from_lists = fit(trainer(), small_params(), x, y, eval_data=(x.tolist(), y.tolist()))
    _, from_arrays = fit(trainer(), small_params(), x, y, eval_data=(x, y))
    drop_seconds = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert drop_seconds(from_lists) == drop_seconds(from_arrays)


def test_the_chunks_values_are_added_in_float64():
    # Each chunk's mean times its rows is added in float64 and only the mean over N rounded to float32: in float32,
    # 2^24 + 1 + 1 would stay 2^24. A program of one-row chunks whose means are the rows' x.
    x = np.array([2.0**24, 1.0, 1.0], np.float32)

    def program(chunk):
        return lambda params, xp, yp, rows: {"loss": xp[0]}

    def pad(xs, ys, chunk_size):
        return xs, ys, len(xs), len(xs)

    got = stream.evaluate_in_chunks(program, None, x, x, 1, pad)["loss"]
    assert got.dtype == np.float32 and got == np.float32((2.0**24 + 2.0) / 3)  # written out in float64
    assert got != np.float32(np.float32(2.0**24) / 3)  # what float32 sums would give


@pytest.mark.parametrize("steps_per_call", [3, 2])  # 6 steps an epoch: 2 calls of 3; 3 calls of 2
def test_a_streamed_epoch_reads_each_calls_minibatches_once_and_nothing_past_its_last(steps_per_call):
    # The next call's rows are read while the device works on this call: every call's once, none after the last.
    x, y = blobs()
    x, y = x[:200], y[:200]  # 6 minibatches of 32 an epoch (8 rows left out)
    rows_x, rows_y = Rows(x), Rows(y)
    streamed, _ = fit(trainer(steps_per_call=steps_per_call), small_params(), rows_x, rows_y)
    in_memory, _ = fit(trainer(steps_per_call=steps_per_call), small_params(), x, y)
    chex.assert_trees_all_equal(streamed.params, in_memory.params)
    # Once through each in blocks for its checks (one block for a set this small), then each call's rows.
    assert rows_x.reads == rows_y.reads == 1 + 3 * (6 // steps_per_call)


def test_an_epochs_minibatches_are_the_whole_epoch_programs_and_only_a_dropout_net_gets_keys():
    x, y = blobs()
    key = jax.random.key(4)
    for net, keyed in [(mlp.Net("relu"), False), (mlp.Net("relu", dropout=0.5), True)]:
        order, keys = stream.Streamer(x, y, 32, 2, net).batches(key, 3)
        # As jaxnet.program.make_epochs draws them: epoch 3's permutation, cut into whole minibatches of 32.
        epoch_key = jax.random.fold_in(key, 3)
        steps = len(x) // 32
        np.testing.assert_array_equal(order, np.asarray(jax.random.permutation(epoch_key, len(x)))[:steps * 32]
                                      .reshape(steps, 32))
        if keyed:
            np.testing.assert_array_equal(jax.random.key_data(keys), jax.random.key_data(
                jax.random.split(jax.random.fold_in(epoch_key, 1), steps)))
        else:
            assert keys is None
