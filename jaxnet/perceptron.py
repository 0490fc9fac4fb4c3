"""The single perceptron ŷ = sign(wᵀx + b) for binary labels ±1, trained with Rosenblatt's rule.

The perceptron is the one-layer network of :mod:`jaxnet.mlp` with a sign output: its parameters are
``[(W, b)]`` with ``W`` of shape ``(1, d)`` and ``b`` of shape ``(1,)``, so ``mlp.apply(params, x, output="sign")``
predicts with it. It is not trained by gradient descent: sign'(v) = 0 almost everywhere (``jax.grad(jnp.sign)`` is 0),
so a gradient step never moves it. Instead every misclassified example (y·(wᵀx + b) ≤ 0, a point on the boundary
counts as wrong) moves the boundary towards it:

    w ← w + y x,    b ← b + y.

On linearly separable data this stops after finitely many updates (Novikoff, 1962); otherwise it cycles, and
:func:`train` says so when its epoch budget runs out.

>>> import jax.numpy as jnp
>>> x = jnp.array([[2.0, 1.0], [1.0, 3.0], [-1.0, -2.0], [-3.0, -1.0]])
>>> y = jnp.array([1, 1, -1, -1])
>>> result = train(x, y)
>>> bool(result.converged), predict(result.params, x).tolist()
(True, [1.0, 1.0, -1.0, -1.0])
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnet import mlp

Array = jax.Array


class ConvergenceWarning(UserWarning):
    """The perceptron still misclassified training examples when its epoch budget ran out."""


class PerceptronResult(NamedTuple):
    """What :func:`train` returns: ``params = [(W (1, d), b (1,))]``, epochs run, and whether it converged."""

    params: mlp.Params
    epochs: int
    mistakes: int
    converged: bool


def perceptron_step(w: Array, b: Array, x: Array, y: Array) -> tuple[Array, Array, Array]:
    """One example of the perceptron rule. ``w (d,)``, ``b ()``, ``x (d,)``, ``y ()`` in {−1, +1}.

    Returns the updated ``(w, b)`` and whether the example was misclassified.
    """
    wrong = y * (w @ x + b) <= 0
    return w + jnp.where(wrong, y, 0) * x, b + jnp.where(wrong, y, 0), wrong


@jax.jit
def _epochs(w, b, x, y, max_epochs):
    def one_epoch(state):
        w, b, epoch, _ = state

        def visit(carry, example):
            w, b = carry
            w, b, wrong = perceptron_step(w, b, *example)
            return (w, b), wrong

        (w, b), wrong = jax.lax.scan(visit, (w, b), (x, y))
        return w, b, epoch + 1, jnp.sum(wrong)

    def not_done(state):
        _, _, epoch, mistakes = state
        return (mistakes > 0) & (epoch < max_epochs)

    return jax.lax.while_loop(not_done, one_epoch, (w, b, jnp.int32(0), jnp.int32(1)))


def train(x: Array, y: Array, *, epochs: int = 1000, dtype=jnp.float32) -> PerceptronResult:
    """Trains a perceptron from zero weights, visiting the examples in order, until an epoch makes no mistake.

    The whole run is one compiled ``lax.while_loop`` over epochs of a ``lax.scan`` over examples.

    Args:
      x: inputs ``(N, d)``.
      y: labels ``(N,)``, each −1 or +1.
      epochs: the most passes over the data.
      dtype: floating dtype of the parameters.

    Returns:
      A :class:`PerceptronResult`. If the last epoch still made mistakes it has ``converged=False`` and a
      :class:`ConvergenceWarning` is issued (the data may not be linearly separable).
    """
    x, y = jnp.asarray(x, dtype), jnp.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"perceptron: x must be (N, d) and y (N,), got x {x.shape} and y {y.shape}")
    if not bool(jnp.all((y == 1) | (y == -1))):
        raise ValueError("perceptron: labels must be -1 or +1")
    if not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError("perceptron: x contains NaN or inf")
    w0, b0 = jnp.zeros(x.shape[1], dtype), jnp.zeros((), dtype)
    w, b, epochs_run, mistakes = _epochs(w0, b0, x, y.astype(dtype), epochs)
    converged = int(mistakes) == 0
    if not converged:
        warnings.warn(
            f"perceptron did not converge: {int(mistakes)} of {x.shape[0]} examples still misclassified after "
            f"{int(epochs_run)} epochs; the data may not be linearly separable",
            ConvergenceWarning,
            stacklevel=2,
        )
    return PerceptronResult([(w[None, :], b[None])], int(epochs_run), int(mistakes), converged)


def predict(params: mlp.Params, x: Array) -> Array:
    """sign(wᵀx + b): ``(N,)`` for ``x (N, d)`` or ``()`` for ``x (d,)``.

    ``params`` is a perceptron's ``[(W (1, d), b (1,))]``; a network of more layers or outputs is refused (its
    first output alone would be a silent guess at what was meant).
    """
    shapes = [tuple(jnp.shape(w)) for w, _ in params]
    if len(shapes) != 1 or shapes[0][0] != 1:
        raise ValueError(f"perceptron: params must be one layer [(W (1, d), b (1,))], got W shapes {shapes}")
    return mlp.apply(params, x, output="sign")[..., 0]
