"""Training with optax: a jitted update step, whole-epoch compiled training, ensembles and data parallelism.

* :func:`make_step` builds a pure, jitted ``step(params, opt_state, x, y) -> (params, opt_state, loss)`` for any
  ``optax.GradientTransformation``, with gradients from ``jax.grad`` or from the hand-written
  :func:`jaxnet.backprop.manual_grad`.
* :func:`fit` trains for some epochs. Each epoch is ONE compiled program: a ``lax.scan`` over the epoch's shuffled
  minibatches, so no Python runs between batches. Shuffling comes from the explicit key (epoch e uses
  ``fold_in(key, e)``), so the same key gives bit-identical parameters, and a run resumed from a checkpoint
  continues exactly where it stopped. Between compiled chunks of ``epochs_per_call`` epochs it evaluates, shows
  progress, logs, checks for divergence and checkpoints.
* Ensembles: ``fit(..., ensemble=True)`` trains K networks stacked along a leading axis (see :func:`init_ensemble`)
  with ``jax.vmap`` in the same single program; per-member hyperparameters go through ``optax.inject_hyperparams``.
* Data parallelism with ``jax.sharding``: on several devices the batch is sharded over a ``"data"`` mesh axis and
  the parameters are replicated; XLA inserts the gradient all-reduce. The same call runs on 1 or many devices.

Multi-host: call ``jax.distributed.initialize()`` in every process before anything else, give every process the
same full ``x``, ``y`` and ``key``, and call :func:`fit` unchanged. ``jax.devices()`` then lists the devices of all
hosts, the mesh spans them, and the data is placed with ``jax.make_array_from_callback`` so each process supplies
only the shards its own devices hold.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnet import backprop, checkpoint, losses, mlp

Array = jax.Array
GRADS = ("autodiff", "manual")


def _value_and_grad(loss: str, activation, output: str, grad: str) -> Callable:
    losses.get(loss)
    if grad == "autodiff":
        loss_fn = losses.get(loss).fn

        def objective(params, x, y):
            return loss_fn(mlp.apply(params, x, activation=activation, output=output), y)

        return jax.value_and_grad(objective)
    if grad == "manual":
        backprop.check_supported(loss, output)  # at construction, not at the first step
        return functools.partial(backprop.value_and_manual_grad, activation=activation, output=output, loss=loss)
    raise ValueError(f"unknown grad {grad!r}; valid values are {list(GRADS)}")


def _make_update(optimizer, loss, activation, output, grad) -> Callable:
    """The pure (un-jitted) update: (params, opt_state, x, y) -> (params, opt_state, loss)."""
    value_and_grad = _value_and_grad(loss, activation, output, grad)

    def update(params, opt_state, x, y):
        value, grads = value_and_grad(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return update


def make_step(optimizer: optax.GradientTransformation, *, loss: str, activation: mlp.ActivationSpec = "relu",
              output: str = "identity", grad: str = "autodiff") -> Callable:
    """A jitted training step for one minibatch.

    Args:
      optimizer: any ``optax.GradientTransformation`` (``optax.sgd(0.1)``, ``optax.adam(1e-3)``, ...).
      loss: ``"mse"``, ``"mae"`` or ``"cross_entropy"``.
      activation: hidden activation name, or one per hidden layer.
      output: output activation.
      grad: ``"autodiff"`` (``jax.grad``) or ``"manual"`` (:func:`jaxnet.backprop.manual_grad`).

    Returns:
      ``step(params, opt_state, x, y) -> (params, opt_state, loss_value)``, pure and jitted; it compiles once per
      input shape and dtype.

    >>> import jax, jax.numpy as jnp, optax
    >>> from jaxnet import mlp
    >>> params = mlp.init(jax.random.key(0), [2, 8, 1])
    >>> optimizer = optax.sgd(0.1)
    >>> step = make_step(optimizer, loss="mse")
    >>> params, opt_state, loss = step(params, optimizer.init(params), jnp.ones((4, 2)), jnp.zeros((4, 1)))
    """
    if isinstance(activation, list):
        activation = tuple(activation)  # hashable, like every other static name
    return jax.jit(_make_update(optimizer, loss, activation, output, grad))


def init_ensemble(key: Array, members: int, sizes: Sequence[int], *, init: str = "he", dtype=jnp.float32):
    """K independently initialised networks stacked along a new leading axis (``W_i`` becomes ``(K, d_i, d_{i-1})``).

    Member k is exactly ``mlp.init(jax.random.split(key, K)[k], sizes, ...)``.
    """
    return jax.vmap(lambda k: mlp.init(k, sizes, init=init, dtype=dtype))(jax.random.split(key, members))


@functools.lru_cache(maxsize=64)
def make_epochs(optimizer, *, loss: str, activation, output: str, grad: str, batch_size: int, ensemble: bool,
                mesh: Mesh | None) -> Callable:
    """The compiled training program behind :func:`fit`: ``epochs(params, opt_state, x, y, key, epoch_ids)``.

    It runs one epoch per entry of ``epoch_ids`` (a ``lax.scan``), and each epoch is a ``lax.scan`` over
    ``N // batch_size`` minibatches of a fresh permutation drawn from ``fold_in(key, epoch)``. The last partial
    batch is DROPPED (a different permutation each epoch means every example is still seen), so every step has the
    same shape and the program compiles once. Returns ``(params, opt_state, losses)`` with the mean minibatch loss
    of each epoch, ``(E,)`` or ``(E, K)`` for an ensemble of K. Cached on its arguments (the optimizer by identity),
    so repeated :func:`fit` calls with the same optimizer object reuse the compiled program.
    """
    update = _make_update(optimizer, loss, activation, output, grad)
    if ensemble:
        update = jax.vmap(update, in_axes=(0, 0, None, None))
    batch_sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("data"))

    def one_epoch(carry, epoch_id, x, y, key):
        n_batches = x.shape[0] // batch_size
        order = jax.random.permutation(jax.random.fold_in(key, epoch_id), x.shape[0])
        order = order[: n_batches * batch_size].reshape(n_batches, batch_size)

        def one_batch(carry, idx):
            params, opt_state = carry
            xb, yb = x[idx], y[idx]
            if batch_sharding is not None:
                xb = jax.lax.with_sharding_constraint(xb, batch_sharding)
                yb = jax.lax.with_sharding_constraint(yb, batch_sharding)
            params, opt_state, value = update(params, opt_state, xb, yb)
            return (params, opt_state), value

        carry, values = jax.lax.scan(one_batch, carry, order)
        return carry, jnp.mean(values, axis=0)

    def epochs(params, opt_state, x, y, key, epoch_ids):
        (params, opt_state), values = jax.lax.scan(
            lambda carry, e: one_epoch(carry, e, x, y, key), (params, opt_state), epoch_ids)
        return params, opt_state, values

    return jax.jit(epochs, donate_argnums=(0, 1))


@functools.lru_cache(maxsize=64)
def make_evaluate(*, loss: str, activation, output: str, chunk_size: int, ensemble: bool) -> Callable:
    """A compiled evaluation ``evaluate(params, x, y, n_valid) -> (mean loss, accuracy)`` over fixed-size chunks.

    ``x`` and ``y`` are padded to a multiple of ``chunk_size`` (rows past ``n_valid`` are ignored), so every eval
    set of any size runs the same one-chunk program. Accuracy (argmax of the output against the label) is reported
    for the cross-entropy only, as NaN otherwise.
    """
    loss_fn = losses.get(loss).fn

    def per_chunk(params, xc, yc, mask):
        yhat = mlp.apply(params, xc, activation=activation, output=output)
        per_example = jax.vmap(loss_fn)(yhat, yc)  # each example alone: N = 1
        if loss == "cross_entropy":
            labels = yc if jnp.issubdtype(yc.dtype, jnp.integer) else jnp.argmax(yc, axis=-1)
            correct = jnp.argmax(yhat, axis=-1) == labels
        else:
            correct = jnp.zeros(mask.shape, bool)
        return jnp.sum(jnp.where(mask, per_example, 0.0)), jnp.sum(mask & correct)

    def evaluate_one(params, x, y, n_valid):
        n_chunks = x.shape[0] // chunk_size
        mask = (jnp.arange(x.shape[0]) < n_valid).reshape(n_chunks, chunk_size)
        chunks = (x.reshape(n_chunks, chunk_size, -1), y.reshape((n_chunks, chunk_size) + y.shape[1:]), mask)
        total, correct = jax.lax.map(lambda c: per_chunk(params, *c), chunks)
        accuracy = jnp.sum(correct) / n_valid if loss == "cross_entropy" else jnp.nan
        return jnp.sum(total) / n_valid, accuracy

    fn = jax.vmap(evaluate_one, in_axes=(0, None, None, None)) if ensemble else evaluate_one
    return jax.jit(fn)


def _pad_for_evaluation(x: np.ndarray, y: np.ndarray, chunk_size: int):
    """``(x, y)`` padded with zero rows to a multiple of the chunk size (clipped to N); returns them, N, the chunk."""
    chunk_size = min(chunk_size, x.shape[0])
    pad = -x.shape[0] % chunk_size
    xp = np.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1))
    yp = np.pad(y, [(0, pad)] + [(0, 0)] * (y.ndim - 1))
    return xp, yp, x.shape[0], chunk_size


def evaluate(params, x, y, *, loss: str, activation: mlp.ActivationSpec = "relu", output: str = "identity",
             chunk_size: int = 1000, ensemble: bool = False) -> tuple[float, float]:
    """Mean loss and accuracy (cross-entropy only; NaN otherwise) of ``params`` on ``(x, y)``, chunk by chunk."""
    activation = tuple(activation) if isinstance(activation, list) else activation
    xp, yp, n, chunk_size = _pad_for_evaluation(np.asarray(x), np.asarray(y), chunk_size)
    fn = make_evaluate(loss=loss, activation=activation, output=output, chunk_size=chunk_size, ensemble=ensemble)
    return fn(params, xp, yp, n)


def _check_data(name: str, x, y, loss: str, d_in: int, d_out: int) -> None:
    if x.ndim != 2 or x.shape[1] != d_in:
        raise ValueError(f"{name}: x must have shape (N, {d_in}) for this network, got {x.shape}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: x has {x.shape[0]} examples but y has {y.shape[0]} (shape {y.shape})")
    bad_rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad_rows.size:
        raise ValueError(f"{name}: x has NaN or inf in {bad_rows.size} rows, the first at row {bad_rows[0]}")
    if np.issubdtype(y.dtype, np.integer):
        if loss != "cross_entropy" or y.ndim != 1:
            raise ValueError(f"{name}: integer targets of shape {y.shape} need loss='cross_entropy' and shape (N,)")
        if y.min() < 0 or y.max() >= d_out:
            raise ValueError(f"{name}: labels must lie in [0, {d_out}), got min {y.min()}, max {y.max()}")
        return
    if y.shape != (x.shape[0], d_out):
        raise ValueError(f"{name}: y must have shape ({x.shape[0]}, {d_out}) like the network's output, got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError(f"{name}: y contains NaN or inf")


def _place(array: np.ndarray, sharding):
    """Puts a host array on the devices of ``sharding``; in a multi-host run each process supplies its own shards."""
    if sharding is None:
        return jnp.asarray(array)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


class _Progress:
    """A tqdm bar over epochs, shown only when asked for and when stderr is a terminal."""

    def __init__(self, total: int, initial: int, verbose: bool):
        self.bar = None
        if verbose and sys.stderr.isatty():
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="epoch", dynamic_ncols=True)

    def update(self, n: int, record: dict) -> None:
        if self.bar is not None:
            shown = {k: v for k, v in record.items() if k in ("train_loss", "eval_loss", "eval_accuracy")}
            self.bar.set_postfix({k: (f"{np.mean(v):.4g}") for k, v in shown.items()}, refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fit(params, x, y, *, optimizer: optax.GradientTransformation, epochs: int, batch_size: int, key: Array,
        loss: str, activation: mlp.ActivationSpec = "relu", output: str = "identity", grad: str = "autodiff",
        eval_data: tuple[Any, Any] | None = None, eval_chunk_size: int = 1000, epochs_per_call: int = 1,
        ensemble: bool = False, hyperparams: dict[str, Any] | None = None, devices: Sequence | None = None,
        checkpoint_path: str | os.PathLike | None = None, log_path: str | os.PathLike | None = None,
        meta: dict[str, Any] | None = None, verbose: bool = True):
    """Trains ``params`` on ``(x, y)`` by minibatch optimisation; returns ``(params, history)``.

    Args:
      params: a list of ``(W, b)``; for ``ensemble=True`` every leaf has a leading member axis K.
      x: inputs ``(N, d_0)``.
      y: targets ``(N, d_L)``, or integer labels ``(N,)`` for the cross-entropy.
      optimizer: any ``optax.GradientTransformation``.
      epochs: the total number of epochs (a resumed run continues up to this number).
      batch_size: minibatch size; ``N // batch_size`` steps per epoch, the last partial batch dropped. Full-batch
        gradient descent is ``batch_size=N``. On several devices it must be a multiple of their number.
      key: PRNG key for the shuffling; the same key gives the same run.
      loss, activation, output, grad: as for :func:`make_step`.
      eval_data: optional ``(x_eval, y_eval)``, evaluated after every compiled call in chunks of ``eval_chunk_size``.
      epochs_per_call: epochs compiled into one program between host-side work (evaluation, progress, logs,
        checkpoints, the divergence check). Raise it for tiny epochs such as full-batch steps.
      ensemble: train K stacked networks at once with ``jax.vmap``.
      hyperparams: for ensembles, per-member optimizer hyperparameters as ``{name: array (K,)}``; the optimizer must
        be built with ``optax.inject_hyperparams`` (e.g. ``optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)``).
      devices: the devices to shard the batch over; default all of ``jax.devices()``.
      checkpoint_path: if given, the state is saved there (atomically) after every call, and a run starts by
        resuming from it when it exists; the resumed run ends with exactly the parameters of an uninterrupted one.
      log_path: if given, one JSON line of metrics per epoch is appended there.
      meta: extra JSON facts for the checkpoint header.
      verbose: show a progress bar (only when stderr is a terminal).

    Returns:
      ``(params, history)``; ``history`` is a list with one dict per epoch: ``epoch``, ``train_loss`` (mean
      minibatch loss; a list of K for ensembles), ``seconds`` (the wall time of its compiled call divided by the
      epochs in it; the first call includes compilation) and, with ``eval_data``, ``eval_loss`` and
      ``eval_accuracy`` (measured at the end of each call, so on the last epoch of each call).

    Raises:
      ValueError: bad shapes, non-finite data, labels out of range, a batch size that does not suit the devices.
      FloatingPointError: the training loss became NaN or inf; the message names the epoch, and the last good
        checkpoint (if any) is left in place.
    """
    if isinstance(activation, list):
        activation = tuple(activation)
    if not isinstance(epochs, int) or epochs < 0 or not isinstance(epochs_per_call, int) or epochs_per_call < 1:
        raise ValueError(f"epochs must be an int >= 0 and epochs_per_call >= 1, got {epochs} and {epochs_per_call}")
    first = jax.tree.map(lambda a: a[0], params) if ensemble else params
    mlp.check_params(first)
    mlp.layer_activations(activation, output, len(first))
    losses.get(loss)
    d_in, d_out = first[0][0].shape[1], first[-1][0].shape[0]
    x_host, y_host = np.asarray(x), np.asarray(y)
    _check_data("training data", x_host, y_host, loss, d_in, d_out)
    if not 1 <= batch_size <= x_host.shape[0]:
        raise ValueError(f"batch_size must be between 1 and the {x_host.shape[0]} training examples, got {batch_size}")
    devices = list(jax.devices() if devices is None else devices)
    if batch_size % len(devices):
        raise ValueError(f"batch_size {batch_size} must be a multiple of the {len(devices)} devices it is sharded over")
    mesh = Mesh(np.array(devices), ("data",)) if len(devices) > 1 else None
    replicated = None if mesh is None else NamedSharding(mesh, PartitionSpec())

    # A private copy: the compiled program donates (reuses) its input buffers, and the caller keeps its params.
    params = jax.tree.map(jnp.array, params)
    opt_state = jax.vmap(optimizer.init)(params) if ensemble else optimizer.init(params)
    if hyperparams:
        if not ensemble or not hasattr(opt_state, "hyperparams"):
            raise ValueError("hyperparams needs ensemble=True and an optimizer built with optax.inject_hyperparams")
        for name, value in hyperparams.items():
            if name not in opt_state.hyperparams:
                raise ValueError(f"unknown hyperparameter {name!r}; the optimizer has {sorted(opt_state.hyperparams)}")
            opt_state.hyperparams[name] = jnp.asarray(value, opt_state.hyperparams[name].dtype).reshape(-1)

    start, history = 0, []
    if checkpoint_path is not None and os.path.exists(checkpoint_path):
        params, opt_state, start, saved_key, header = checkpoint.restore(checkpoint_path, params=params,
                                                                          opt_state=opt_state)
        history = header["meta"].get("history", [])
        if not np.array_equal(np.asarray(jax.random.key_data(saved_key) if _typed(saved_key) else saved_key),
                              np.asarray(jax.random.key_data(key) if _typed(key) else key)):
            raise ValueError(f"{checkpoint_path} was written by a run with another key; pass the same key to resume")

    if replicated is not None:
        params, opt_state = jax.device_put((params, opt_state), replicated)
    xs, ys = _place(x_host, replicated), _place(y_host, replicated)
    if eval_data is not None:
        x_eval, y_eval = np.asarray(eval_data[0]), np.asarray(eval_data[1])
        _check_data("eval_data", x_eval, y_eval, loss, d_in, d_out)
        # Padded and placed on the devices once, not at every evaluation.
        x_eval, y_eval, n_eval, chunk = _pad_for_evaluation(x_eval, y_eval, eval_chunk_size)
        x_eval, y_eval = _place(x_eval, replicated), _place(y_eval, replicated)
        evaluate_fn = make_evaluate(loss=loss, activation=activation, output=output, chunk_size=chunk,
                                    ensemble=ensemble)
    run = make_epochs(optimizer, loss=loss, activation=activation, output=output, grad=grad, batch_size=batch_size,
                      ensemble=ensemble, mesh=mesh)
    progress = _Progress(epochs, start, verbose)
    try:
        for first_epoch in range(start, epochs, epochs_per_call):
            epoch_ids = jnp.arange(first_epoch, min(first_epoch + epochs_per_call, epochs))
            tic = time.perf_counter()
            params, opt_state, values = run(params, opt_state, xs, ys, key, epoch_ids)
            values = np.asarray(values)  # waits for the compiled call to finish
            seconds = (time.perf_counter() - tic) / len(epoch_ids)
            bad = np.flatnonzero(~np.isfinite(values.reshape(len(epoch_ids), -1)).all(axis=1))
            if bad.size:
                kept = f"; the last good checkpoint is {checkpoint_path}" if checkpoint_path else ""
                raise FloatingPointError(f"training diverged: the loss became non-finite in epoch "
                                         f"{first_epoch + bad[0] + 1} (of {epochs}){kept}")
            records = [{"epoch": int(e) + 1, "train_loss": v.tolist(), "seconds": seconds}
                       for e, v in zip(np.asarray(epoch_ids), values)]
            if eval_data is not None:
                eval_loss, eval_accuracy = evaluate_fn(params, x_eval, y_eval, n_eval)
                records[-1]["eval_loss"] = np.asarray(eval_loss).tolist()
                if loss == "cross_entropy":
                    records[-1]["eval_accuracy"] = np.asarray(eval_accuracy).tolist()
            history.extend(records)
            if log_path is not None:
                with open(log_path, "a") as f:
                    f.writelines(json.dumps(r) + "\n" for r in records)
            if checkpoint_path is not None:
                checkpoint.save(checkpoint_path, params=params, opt_state=opt_state, epoch=int(epoch_ids[-1]) + 1,
                                key=key, meta={"sizes": [d_in] + [int(W.shape[-2]) for W, _ in first],
                                               "activation": activation, "output": output, "loss": loss,
                                               "dtype": str(first[0][0].dtype), "history": history, **(meta or {})})
            progress.update(len(epoch_ids), records[-1])
    finally:
        progress.close()
    return params, history


def _typed(key) -> bool:
    return jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
