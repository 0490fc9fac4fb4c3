"""Training data that stays where it is: the epoch's minibatches gathered by the host, K steps at a time.

With ``Trainer(..., steps_per_call=K)`` the training set is never put on the device whole. It may be a NumPy
array, an ``np.load(..., mmap_mode="r")`` memmap, or any array-like with ``shape``, ``dtype`` and integer-array
indexing (h5py, zarr). For each epoch the host draws the same permutation the whole-epoch program draws on the
device (``jax.random.permutation(fold_in(key, epoch), N)``, the last partial batch dropped), gathers the next K
minibatches of it (rows in increasing order, as h5py requires, then put in the permutation's order), and one
compiled program (:func:`jaxnet.program.make_steps`) runs the K steps. The parameters are the whole-epoch
program's, bit for bit, for any K and the same key.

The next K minibatches are gathered while the device runs the previous call: JAX dispatches a compiled call and
returns before it has run, so the host's reading of the next rows overlaps the device's work with no thread of
ours. Before dispatching a call the host waits for the one before the last to finish, so at most two calls'
minibatches and one gathered chunk are held at a time (about 3·K·B rows), never the set, however fast the host.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import mlp


def gather(data, rows: np.ndarray) -> np.ndarray:
    """``data[rows]`` for any array-like: the distinct rows read once, in increasing order (h5py and zarr take
    sorted indices), then put in the order of ``rows`` (any shape of indices)."""
    flat = rows.ravel()
    unique, inverse = np.unique(flat, return_inverse=True)
    read = np.asarray(data[unique])
    return read[inverse].reshape(rows.shape + read.shape[1:])  # inverse: one index per entry of flat


class Streamer:
    """Runs epochs of streamed minibatches (see the module docstring).

    Args:
      x, y: the training set, array-likes of ``N`` rows.
      batch_size: B, with ``B < N`` (full-batch training has nothing to stream).
      steps_per_call: K, the minibatches of one compiled call (the epoch's last call takes what is left).
      net: the network (a dropout net draws each step's units from the whole-epoch program's keys).
    """

    def __init__(self, x, y, batch_size: int, steps_per_call: int, net: mlp.Net):
        self.x, self.y, self.batch_size, self.steps_per_call, self.net = x, y, batch_size, steps_per_call, net
        self.n = int(x.shape[0])

    def batches(self, key, epoch: int):
        """The epoch's minibatch rows ``(steps, B)`` and its steps' dropout keys (``None`` without dropout), as
        :func:`jaxnet.program.make_epochs` draws them."""
        epoch_key = jax.random.fold_in(key, epoch)
        steps = self.n // self.batch_size
        order = np.asarray(jax.random.permutation(epoch_key, self.n))[: steps * self.batch_size]
        keys = jax.random.split(jax.random.fold_in(epoch_key, 1), steps) if self.net.drops else None
        return order.reshape(steps, self.batch_size), keys

    def run(self, run_steps: Callable, params, opt_state, key, epoch_ids, scale):
        """Trains the epochs ``epoch_ids`` with ``run_steps`` (a :func:`jaxnet.program.make_steps` program, or the
        members-in-turn wrapper of one); returns ``(params, opt_state, values)`` with each epoch's mean minibatch
        loss, ``(E,)`` or ``(E, members)``, as the whole-epoch program returns them."""
        means = []
        for epoch in epoch_ids:
            order, keys = self.batches(key, int(epoch))
            values = []
            calls = range(0, order.shape[0], self.steps_per_call)
            chunk = self._chunk(order, keys, 0)
            for start in calls:
                # Dispatched, not yet run: the next chunk is read from disk while the device works on this one.
                params, opt_state, value = run_steps(params, opt_state, *chunk, scale)
                values.append(value)
                if start + self.steps_per_call < order.shape[0]:
                    chunk = self._chunk(order, keys, start + self.steps_per_call)
                if len(values) > 1:
                    # The call before this one has finished before the next is dispatched: at most two calls'
                    # minibatches wait on the device, however far ahead the host could run.
                    jax.block_until_ready(values[-2])
            means.append(jnp.mean(jnp.concatenate(values), axis=0))
        return params, opt_state, jnp.stack(means)

    def _chunk(self, order, keys, start: int):
        """The minibatches of one call, on the device: ``(xb (k, B, d_0), yb (k, B, …), step keys or None)``."""
        rows = order[start:start + self.steps_per_call]
        step_keys = None if keys is None else keys[start:start + self.steps_per_call]
        return jnp.asarray(gather(self.x, rows)), jnp.asarray(gather(self.y, rows)), step_keys


def evaluate_in_chunks(program: Callable, params, x, y, chunk_size: int, pad: Callable):
    """The evaluation program's values over ``(x, y)`` read ``chunk_size`` rows at a time from wherever they are
    (a memmap stays on disk): each chunk's means weighted by its rows, added, divided by N. Equal to the in-memory
    evaluation to float32 round-off (the same sums, grouped by chunk)."""
    n = int(x.shape[0])
    total = None
    for start in range(0, n, chunk_size):
        xs, ys = np.asarray(x[start:start + chunk_size]), np.asarray(y[start:start + chunk_size])
        xp, yp, rows, chunk = pad(xs, ys, chunk_size)
        values = jax.tree.map(lambda v, rows=rows: np.asarray(v, np.float64) * rows, program(chunk)(params, xp, yp,
                                                                                                  rows))
        total = values if total is None else jax.tree.map(np.add, total, values)
    return jax.tree.map(lambda t: (t / n).astype(np.float32), total)
