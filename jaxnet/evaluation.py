"""Evaluation: the mean loss and the loss's metric over a data set, in fixed-size compiled chunks.

The set is padded with zero rows to a multiple of the chunk size and a mask drops the padding, so an evaluation set
of any size runs the same one-chunk program, compiled once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import losses, mlp, program


def make_evaluate(net: mlp.Net | None = None, *, loss: str | losses.Loss, chunk_size: int, ensemble: bool = False,
                  activation: mlp.ActivationSpec | None = None, output: str | None = None,
                  one_by_one: bool | None = None, metrics: tuple[tuple[str, Callable], ...] = ()) -> Callable:
    """A compiled ``evaluate(params, x, y, n_valid) -> (mean loss, metric)`` over chunks of ``chunk_size`` rows.

    ``x`` and ``y`` are padded to a multiple of ``chunk_size`` (rows past ``n_valid`` are ignored). The metric is
    the loss's own (``Loss.metric``): the accuracy, argmax of the output against the label, or NaN for none.
    ``metrics``: more ``(name, fn)`` pairs, ``fn(yhat, y)`` giving one value per example (``(rows,)`` for a chunk);
    with any, the result is ``(mean loss, metric, (mean of each))``, each mean over the set's valid rows (the
    chunks' sums added, so any chunk size gives the mean of the whole set). Cached on its arguments, so every
    evaluation of the same network, loss and metrics reuses one compiled program.

    An ensemble's members are evaluated as its training runs them (``one_by_one``, by default
    :func:`jaxnet.program.members_one_by_one` without a mesh): in turn, each by the one-network program, so each
    member's values equal its own evaluation bit for bit; or side by side with ``jax.vmap``, whose batched sums
    XLA may group in another order (the values then agree to float32 round-off, and which bits move depends on
    XLA's version).

    Raises:
      ValueError: for a softmax output before a loss that takes logits.
    """
    net, loss = mlp.engine_net("evaluation.make_evaluate", net, activation, output), losses.get(loss)
    losses.check_output(loss, net.output)
    if one_by_one is None:
        one_by_one = program.members_one_by_one(None)
    if ensemble and one_by_one:
        return _members_in_turn(_make_evaluate(net, loss, chunk_size, False, metrics))
    return _make_evaluate(net, loss, chunk_size, ensemble, metrics)


def named(values, loss: losses.Loss, metrics: tuple[tuple[str, Callable], ...] = ()) -> dict:
    """An evaluation's values by name, the one shape ``Trainer.evaluate`` and ``train.evaluate(..., as_dict=True)``
    return: ``loss``, then the loss's metric under its name (``accuracy`` for the cross-entropy; none for a loss
    without one), then each of ``metrics``."""
    result = {"loss": values[0]}
    if loss.metric is not None:
        result[loss.metric] = values[1]
    for (name, _), value in zip(metrics, values[2] if metrics else ()):
        result[name] = value
    return result


def _members_in_turn(evaluate_one: Callable) -> Callable:
    """The one-network ``evaluate_one`` applied to each member of a stacked ensemble; values stacked, ``(K,)``."""
    def evaluate(params, x, y, n_valid):
        x, y = jnp.asarray(x), jnp.asarray(y)  # on the device once, not once per member
        members = jax.tree.leaves(params)[0].shape[0]
        values = [evaluate_one(jax.tree.map(lambda a, k=k: a[k], params), x, y, n_valid) for k in range(members)]
        return jax.tree.map(lambda *column: jnp.stack(column), *values)

    return evaluate


@functools.lru_cache(maxsize=64)
def _make_evaluate(net: mlp.Net, loss: losses.Loss, chunk_size: int, ensemble: bool,
                   metrics: tuple[tuple[str, Callable], ...] = ()) -> Callable:

    def per_chunk(params, xc, yc, mask):
        yhat = mlp.apply(params, xc, net)
        per_example = jax.vmap(loss.fn)(yhat, yc)  # each example alone: N = 1
        if loss.metric == "accuracy":
            labels = yc if jnp.issubdtype(yc.dtype, jnp.integer) else jnp.argmax(yc, axis=-1)
            correct = jnp.argmax(yhat, axis=-1) == labels
        else:
            correct = jnp.zeros(mask.shape, bool)
        extra = tuple(jnp.sum(jnp.where(mask, jnp.reshape(fn(yhat, yc), mask.shape), 0.0)) for _, fn in metrics)
        return jnp.sum(jnp.where(mask, per_example, 0.0)), jnp.sum(mask & correct), extra

    def evaluate_one(params, x, y, n_valid):
        n_chunks = x.shape[0] // chunk_size
        mask = (jnp.arange(x.shape[0]) < n_valid).reshape(n_chunks, chunk_size)
        chunks = (x.reshape(n_chunks, chunk_size, -1), y.reshape((n_chunks, chunk_size) + y.shape[1:]), mask)
        total, correct, extra = jax.lax.map(lambda c: per_chunk(params, *c), chunks)
        metric = jnp.sum(correct) / n_valid if loss.metric is not None else jnp.nan
        if metrics:
            return jnp.sum(total) / n_valid, metric, tuple(jnp.sum(e) / n_valid for e in extra)
        return jnp.sum(total) / n_valid, metric

    fn = jax.vmap(evaluate_one, in_axes=(0, None, None, None)) if ensemble else evaluate_one
    return jax.jit(fn)


@functools.lru_cache(maxsize=64)
def make_predict(net: mlp.Net, chunk_size: int, ensemble: bool) -> Callable:
    """A compiled ``predict(params, x) -> ŷ`` over chunks of ``chunk_size`` rows of ``x`` (padded to a multiple of
    it): ``(rows, d_L)``, or ``(K, rows, d_L)`` for an ensemble. Cached on its arguments."""
    def predict_one(params, x):
        chunks = x.reshape(x.shape[0] // chunk_size, chunk_size, -1)
        out = jax.lax.map(lambda c: mlp.apply(params, c, net), chunks)
        return out.reshape(x.shape[0], -1)

    return jax.jit(jax.vmap(predict_one, in_axes=(0, None)) if ensemble else predict_one)


def pad(x: np.ndarray, y: np.ndarray | None, chunk_size: int, *, multiple_of: int = 1):
    """``(x, y)`` padded with zero rows to a multiple of the chunk size; returns them (``y`` None stays None), N and
    the chunk.

    The chunk is clipped to N, then rounded up to a multiple of ``multiple_of`` (the data shards it is split over).
    """
    chunk_size = -(-min(chunk_size, x.shape[0]) // multiple_of) * multiple_of
    extra = -x.shape[0] % chunk_size
    xp = np.pad(x, [(0, extra)] + [(0, 0)] * (x.ndim - 1))
    yp = None if y is None else np.pad(y, [(0, extra)] + [(0, 0)] * (y.ndim - 1))
    return xp, yp, x.shape[0], chunk_size
