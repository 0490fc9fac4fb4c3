"""Losses of the lecture (section 2.1), each next to its error signal ∂L/∂ŷ.

Shapes follow the network: a prediction ``yhat`` is one example ``(d,)`` (then N = 1) or a batch ``(N, d)``; the
target ``y`` has exactly the same shape. Mismatched shapes raise ``ValueError`` rather than broadcast: a ``(N, 1)``
prediction against a ``(N,)`` target would otherwise silently become an ``(N, N)`` loss.

* ``mse``  L2 = 1/(2N)·Σᵢ‖ŷᵢ − yᵢ‖², the ½ of the lecture (and Bishop), so that ∂L/∂ŷᵢ = (ŷᵢ − yᵢ)/N;
* ``mae``  L1 = 1/N·Σᵢ‖ŷᵢ − yᵢ‖₁, with the subgradient sign(0) := +1 at a tie, as ``jax.grad(jnp.abs)`` has it;
* ``cross_entropy``  −1/N·Σᵢ yᵢᵀ log softmax(ŷᵢ) on logits ŷ, through log-sum-exp; ``y`` is one-hot or soft
  ``(N, K)``, or integer labels ``(N,)`` (one label ``()`` for one example). Its signal is the lecture's fused
  (yᵢᵀ1)·zᵢ − yᵢ over N, which is zᵢ − yᵢ for targets that sum to one.

Each :class:`Loss` also says what the training engine needs to know about it (whether it takes logits, whether it
accepts integer labels, which metric applies), so no other module tests a loss by its name. Adding a loss is one
:func:`register` call.

The losses give the same values and the same errors eagerly and under ``jit``: shape errors are static and raise in
both; values are never inspected here (checking data for NaN or bad labels is done once where data enters, in
:func:`jaxnet.train.fit`, :func:`jaxnet.train.evaluate` and :mod:`jaxnet.data`). An out-of-range integer label makes
the loss NaN rather than silently contributing zero.

>>> import jax.numpy as jnp
>>> float(mse(jnp.array([[1.0, 2.0]]), jnp.array([[0.0, 0.0]])))
2.5
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnet import activations

Array = jax.Array


class Loss(NamedTuple):
    """A loss L(ŷ, y), its error signal ∂L/∂ŷ (same shape as ŷ), and what the engine needs to know about it.

    Attributes:
      name: the name :func:`get` finds it by.
      fn: ``fn(yhat, y)``, the scalar loss of a batch ``(N, d)`` or one example ``(d,)``.
      signal: ``signal(yhat, y)``, ∂L/∂ŷ with the shape of ``yhat``.
      takes_logits: ŷ are logits and the loss applies its own softmax, so the network's output activation must be
        the identity (a softmax output would apply it twice).
      integer_labels: ``y`` may be integer class labels ``(N,)`` instead of rows shaped like ŷ.
      metric: ``"accuracy"`` (argmax of ŷ against the label) or ``None``; what evaluation reports besides the loss.
    """

    name: str
    fn: Callable[[Array, Array], Array]
    signal: Callable[[Array, Array], Array]
    takes_logits: bool = False
    integer_labels: bool = False
    metric: str | None = None


def _batch_size(yhat: Array) -> int:
    return 1 if yhat.ndim == 1 else yhat.shape[0]


def _check_regression(name: str, yhat, y) -> tuple[Array, Array]:
    yhat, y = jnp.asarray(yhat), jnp.asarray(y)
    if yhat.ndim not in (1, 2):
        raise ValueError(f"{name}: yhat must be one example (d,) or a batch (N, d), got shape {yhat.shape}")
    if yhat.shape != y.shape:
        raise ValueError(f"{name}: yhat has shape {yhat.shape} but y has shape {y.shape}; they must be equal")
    return yhat, y


def mse(yhat: Array, y: Array) -> Array:
    """L2 = 1/(2N)·Σᵢ‖ŷᵢ − yᵢ‖²: half the mean over examples of the squared error, summed over outputs."""
    yhat, y = _check_regression("mse", yhat, y)
    return 0.5 * jnp.sum((yhat - y) ** 2) / _batch_size(yhat)


def mse_signal(yhat: Array, y: Array) -> Array:
    """∂L2/∂ŷ = (ŷ − y)/N (the lecture's step I, g_L = ŷ − y, with the batch's 1/N)."""
    yhat, y = _check_regression("mse", yhat, y)
    return (yhat - y) / _batch_size(yhat)


def _abs(d: Array) -> Array:
    # where(d >= 0, ...) rather than jnp.abs so the tie convention is written here, next to its signal.
    return jnp.where(d >= 0, d, -d)


def mae(yhat: Array, y: Array) -> Array:
    """L1 = 1/N·Σᵢ‖ŷᵢ − yᵢ‖₁: the mean over examples of the absolute error, summed over outputs."""
    yhat, y = _check_regression("mae", yhat, y)
    return jnp.sum(_abs(yhat - y)) / _batch_size(yhat)


def mae_signal(yhat: Array, y: Array) -> Array:
    """∂L1/∂ŷ = sign(ŷ − y)/N, with sign(0) := +1 (the subgradient ``jax.grad`` picks)."""
    yhat, y = _check_regression("mae", yhat, y)
    return jnp.where(yhat - y >= 0, 1.0, -1.0).astype(yhat.dtype) / _batch_size(yhat)


def one_hot(labels: Array, num_classes: int, *, dtype=jnp.float32) -> Array:
    """Integer labels ``(N,)`` (or ``()``) to one-hot rows ``(N, K)`` (or ``(K,)``), the lecture's delta targets.

    A label outside ``[0, num_classes)`` gives a row of zeros, eagerly and under ``jit`` alike (check labels where
    they enter, as :func:`jaxnet.train.fit` does).

    Raises:
      ValueError: for non-integer labels.
    """
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    return jax.nn.one_hot(labels, num_classes, dtype=dtype)


def _check_classification(logits, y) -> tuple[Array, Array, Array]:
    """Returns (logits, soft targets of the same shape, a per-example validity mask)."""
    logits, y = jnp.asarray(logits), jnp.asarray(y)
    if logits.ndim not in (1, 2):
        raise ValueError(f"cross_entropy: logits must be one example (K,) or a batch (N, K), got shape {logits.shape}")
    if jnp.issubdtype(y.dtype, jnp.integer):
        if y.shape != logits.shape[:-1]:
            raise ValueError(
                f"cross_entropy: integer labels must have shape {logits.shape[:-1]} for logits of shape "
                f"{logits.shape}, got labels of shape {y.shape}"
            )
        num_classes = logits.shape[-1]
        valid = (y >= 0) & (y < num_classes)
        return logits, jax.nn.one_hot(y, num_classes, dtype=logits.dtype), valid
    if y.shape != logits.shape:
        raise ValueError(f"cross_entropy: logits have shape {logits.shape} but y has shape {y.shape}; "
                         f"they must be equal")
    return logits, y.astype(logits.dtype), jnp.ones(logits.shape[:-1], dtype=bool)


def cross_entropy(logits: Array, y: Array) -> Array:
    """L = −1/N·Σᵢ yᵢᵀ log softmax(ŷᵢ), from log-softmax (never log of a softmax), so logits of ±1e4 stay finite.

    Args:
      logits: the network's output ŷ before softmax, ``(K,)`` or ``(N, K)``.
      y: one-hot or soft targets of the same shape, or integer labels ``()`` / ``(N,)``.
    """
    logits, target, valid = _check_classification(logits, y)
    # 0·log z must stay 0 where z underflows (log z = −inf would otherwise give NaN).
    terms = jnp.where(target == 0, 0.0, target * activations.log_softmax(logits))
    per_example = -jnp.sum(terms, axis=-1)
    per_example = jnp.where(valid, per_example, jnp.nan)
    return jnp.sum(per_example) / _batch_size(logits)


def cross_entropy_signal(logits: Array, y: Array) -> Array:
    """∂L/∂ŷ = ((yᵢᵀ1)·zᵢ − yᵢ)/N with z = softmax(ŷ): the lecture's fused softmax + cross-entropy gradient."""
    logits, target, valid = _check_classification(logits, y)
    z = activations.softmax(logits)
    signal = jnp.sum(target, axis=-1, keepdims=True) * z - target
    signal = jnp.where(valid[..., None], signal, jnp.nan)
    return signal / _batch_size(logits)


#: The losses by name; :func:`register` adds one.
LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", mse, mse_signal),
    "mae": Loss("mae", mae, mae_signal),
    "cross_entropy": Loss("cross_entropy", cross_entropy, cross_entropy_signal, takes_logits=True,
                          integer_labels=True, metric="accuracy"),
}
#: What a loss may declare that evaluation reports besides it.
METRICS = (None, "accuracy")


def register(loss: Loss) -> Loss:
    """Adds ``loss`` to :data:`LOSSES` so every function that takes ``loss="<name>"`` finds it; returns it.

    Raises:
      ValueError: if the name is taken or ``metric`` is not one of :data:`METRICS`.
    """
    if loss.name in LOSSES:
        raise ValueError(f"a loss called {loss.name!r} is already registered")
    if loss.metric not in METRICS:
        raise ValueError(f"loss {loss.name!r}: unknown metric {loss.metric!r}; valid metrics are {list(METRICS)}")
    LOSSES[loss.name] = loss
    return loss


def get(loss: str | Loss) -> Loss:
    """Returns the :class:`Loss` called ``loss`` (a :class:`Loss` itself is returned as it is).

    Raises:
      ValueError: if ``loss`` is not one of :data:`LOSSES`; the message lists the valid names.
    """
    if isinstance(loss, Loss):
        return loss
    try:
        return LOSSES[loss]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {loss!r}; valid losses are {sorted(LOSSES)}") from None


def check_output(loss: str | Loss, output: str, *, fused_signal: bool = False) -> None:
    """The one rule tying a loss to the network's output activation: a loss on logits needs no softmax before it.

    Args:
      loss: the loss.
      output: the name of the network's output activation φ_L.
      fused_signal: the caller back-propagates the loss's fused signal (yᵀ1)·z − y as it is, as
        :func:`jaxnet.backprop.manual_grad` does, which assumes the logits come straight out of the last layer.

    Raises:
      ValueError: for a softmax output before a loss that takes logits (the softmax would be applied twice), and,
        with ``fused_signal``, for any output activation but the identity before such a loss.
    """
    loss = get(loss)
    if loss.takes_logits and output == "softmax":
        raise ValueError(
            f"loss {loss.name!r} takes logits and applies the softmax inside it, so output='softmax' would apply it "
            f"twice; use output='identity' (the default) and activations.softmax(yhat) for probabilities")
    if fused_signal and loss.takes_logits and output != "identity":
        raise ValueError(
            f"manual_grad: loss={loss.name!r} takes logits, so output must be 'identity' (the softmax is inside "
            f"the loss), got output={output!r}")
