"""Activation functions φ, each next to its derivative, looked up by name.

Every activation acts on one pre-activation vector ``v`` of shape ``(d,)`` (or on a batch ``(N, d)``; all but softmax
are element-wise, softmax works along the last axis). Each comes as an :class:`Activation` bundle of three pure
functions:

* ``fn(v)``: the forward rule u = φ(v);
* ``derivative(v)``: φ'(v). For the element-wise activations this is the diagonal of the lecture's Φ'(v) (exercise 2:
  the Jacobian of an element-wise φ is diag φ'(v)), same shape as ``v``. For softmax it is the full Jacobian
  diag(z) − z zᵀ, shape ``(..., d, d)``;
* ``vjp(v, g)``: Φ'(v)ᵀ g, the product back-propagation needs, without ever building a Jacobian.

Conventions that differ from ``jax.nn``:

* ``relu(v) = where(v >= 0, v, 0)`` so that ReLU'(0) = 1, the lecture's definition; ``jax.grad`` of this relu agrees
  at exactly 0. (``jax.nn.relu`` has gradient 0 at 0 and ``jnp.maximum(v, 0)`` has 0.5.)
* ``sign'(v) = 0`` everywhere, as ``jax.grad(jnp.sign)`` says: sign networks are not trained by gradients (see
  :mod:`jaxnet.perceptron`).

>>> import jax.numpy as jnp
>>> get("relu").fn(jnp.array([-1.0, 0.0, 2.0]))
Array([0., 0., 2.], dtype=float32)
>>> get("relu").derivative(jnp.array([-1.0, 0.0, 2.0]))
Array([0., 1., 1.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class Activation(NamedTuple):
    """An activation φ with its derivative and its vector-Jacobian product; see the module docstring."""

    name: str
    fn: Callable[[Array], Array]
    derivative: Callable[[Array], Array]
    vjp: Callable[[Array, Array], Array]
    elementwise: bool


def relu(v: Array) -> Array:
    """ReLU(v) = v for v ≥ 0, else 0 (element-wise)."""
    return jnp.where(v >= 0, v, jnp.zeros_like(v))


def relu_derivative(v: Array) -> Array:
    """ReLU'(v) = 1 for v ≥ 0, else 0: the lecture's convention, 1 at exactly 0."""
    return (v >= 0).astype(v.dtype)


def sigmoid(v: Array) -> Array:
    """σ(v) = 1/(1 + e^{−v}), through ``jax.nn.sigmoid`` so it stays finite for v of either sign in the thousands."""
    return jax.nn.sigmoid(v)


def sigmoid_derivative(v: Array) -> Array:
    """σ'(v) = σ(v)(1 − σ(v)), built on the stable σ (no overflow at v = ±1000)."""
    s = jax.nn.sigmoid(v)
    return s * (1 - s)


def tanh(v: Array) -> Array:
    """tanh(v), element-wise."""
    return jnp.tanh(v)


def tanh_derivative(v: Array) -> Array:
    """tanh'(v) = 1 − tanh²(v)."""
    t = jnp.tanh(v)
    return 1 - t * t


def sign(v: Array) -> Array:
    """sign(v) ∈ {−1, 0, 1}, the perceptron's activation."""
    return jnp.sign(v)


def sign_derivative(v: Array) -> Array:
    """sign'(v) = 0: zero almost everywhere, and 0 at the jump as ``jax.grad(jnp.sign)`` defines it."""
    return jnp.zeros_like(v)


def identity(v: Array) -> Array:
    """φ(v) = v, the usual output activation for regression (and for logits)."""
    return v


def identity_derivative(v: Array) -> Array:
    """φ'(v) = 1."""
    return jnp.ones_like(v)


def softmax(v: Array) -> Array:
    """z = exp(v) / 1ᵀexp(v) along the last axis, computed as exp(v − logsumexp(v)) so large inputs cannot overflow."""
    return jnp.exp(log_softmax(v))


def log_softmax(v: Array) -> Array:
    """log z = v − log 1ᵀexp(v) along the last axis; the stable way to the cross-entropy."""
    return v - jax.scipy.special.logsumexp(v, axis=-1, keepdims=True)


def softmax_derivative(v: Array) -> Array:
    """The softmax Jacobian ∂z/∂v = diag(z) − z zᵀ, shape ``(..., d, d)`` for ``v`` of shape ``(..., d)``."""
    z = softmax(v)
    return jnp.einsum("...i,ij->...ij", z, jnp.eye(z.shape[-1], dtype=z.dtype)) - z[..., :, None] * z[..., None, :]


def softmax_vjp(v: Array, g: Array) -> Array:
    """(diag(z) − z zᵀ)ᵀ g = z ⊙ (g − zᵀg), without forming the d × d Jacobian."""
    z = softmax(v)
    return z * (g - jnp.sum(z * g, axis=-1, keepdims=True))


def elementwise(name: str, fn: Callable[[Array], Array], derivative: Callable[[Array], Array]) -> Activation:
    """An element-wise :class:`Activation` from φ and φ' (both map ``v`` to an array of its shape); its
    vector-Jacobian product is φ'(v) ⊙ g, since the Jacobian is diag φ'(v).

    >>> import jax.numpy as jnp
    >>> softplus = elementwise("softplus", lambda v: jnp.logaddexp(v, 0.0), lambda v: 1 / (1 + jnp.exp(-v)))
    >>> softplus.vjp(jnp.zeros(2), jnp.array([2.0, 4.0]))
    Array([1., 2.], dtype=float32)
    """
    return Activation(name, fn, derivative, lambda v, g: derivative(v) * g, True)


#: The activations by name; :func:`register` adds one.
ACTIVATIONS: dict[str, Activation] = {
    "relu": elementwise("relu", relu, relu_derivative),
    "sigmoid": elementwise("sigmoid", sigmoid, sigmoid_derivative),
    "tanh": elementwise("tanh", tanh, tanh_derivative),
    "sign": elementwise("sign", sign, sign_derivative),
    "identity": elementwise("identity", identity, identity_derivative),
    "softmax": Activation("softmax", softmax, softmax_derivative, softmax_vjp, False),
}


def register(activation: Activation) -> Activation:
    """Adds ``activation`` to :data:`ACTIVATIONS` so that ``mlp.Net("<name>")`` and every function that takes an
    activation name find it; returns it. Build an element-wise one with :func:`elementwise`.

    Raises:
      TypeError: if ``activation`` is not an :class:`Activation`.
      ValueError: if the name is taken.
    """
    if not isinstance(activation, Activation):
        raise TypeError(f"register takes an Activation (see elementwise), got {type(activation).__name__}")
    if activation.name in ACTIVATIONS:
        raise ValueError(f"an activation called {activation.name!r} is already registered")
    ACTIVATIONS[activation.name] = activation
    return activation


def get(name: str) -> Activation:
    """Returns the :class:`Activation` called ``name``.

    Raises:
      ValueError: if ``name`` is not one of :data:`ACTIVATIONS`; the message lists the valid names.
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; valid activations are {sorted(ACTIVATIONS)}") from None
