"""The multi-layer perceptron of the lecture as pure functions over a list of ``(W, b)`` tuples.

Orientation follows the lecture: layer i (1-based) has ``W_i`` of shape ``(d_i, d_{i-1})`` and ``b_i`` of shape
``(d_i,)``, and maps u_{i−1} to

    v_i = W_i u_{i−1} + b_i,    u_i = φ_i(v_i),    u_0 = x,    ŷ = u_L.

The math is written for one example ``x`` of shape ``(d_0,)``; a batch ``(N, d_0)`` is handled by ``jax.vmap`` of the
same code, so the forward pass never relies on implicit rank promotion of the bias.

>>> import jax
>>> params = init(jax.random.key(0), [3, 5, 2])
>>> [(W.shape, b.shape) for W, b in params]
[((5, 3), (5,)), ((2, 5), (2,))]
>>> apply(params, jax.numpy.ones((4, 3))).shape
(4, 2)
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import jax
import jax.numpy as jnp

from jaxnet import activations

Array = jax.Array
Params = list[tuple[Array, Array]]
ActivationSpec = Union[str, Sequence[str]]

INITS = ("he", "glorot", "lecun", "normal")


def init(key: Array, sizes: Sequence[int], *, init: str = "he", dtype=jnp.float32) -> Params:
    """Random parameters for an MLP with layer widths ``sizes = [d_0, d_1, ..., d_L]``.

    Biases start at zero. Weights ``W_i`` of shape ``(d_i, d_{i-1})`` are drawn, with fan_in = d_{i−1}, as

    * ``"he"``: N(0, 2/fan_in), which keeps the activations' scale through ReLU layers (He et al., 2015);
    * ``"glorot"``: U(±√(6/(fan_in + fan_out))), for tanh and sigmoid layers (Glorot and Bengio, 2010);
    * ``"lecun"``: N(0, 1/fan_in);
    * ``"normal"``: N(0, 0.01²), the small fixed scale of classic examples.

    Args:
      key: a JAX PRNG key; it is split into one key per layer (no global random state).
      sizes: the widths d_0 … d_L, at least two positive integers.
      init: one of :data:`INITS`.
      dtype: floating dtype of every array.

    Returns:
      A list of L tuples ``(W_i, b_i)``.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or not all(isinstance(d, int) and d > 0 for d in sizes):
        raise ValueError(f"sizes must be at least two positive integers [d_0, ..., d_L], got {sizes}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid inits are {list(INITS)}")
    params = []
    for layer_key, fan_in, fan_out in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
        shape = (fan_out, fan_in)
        if init == "glorot":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            W = jax.random.uniform(layer_key, shape, dtype, -limit, limit)
        else:
            std = {"he": math.sqrt(2.0 / fan_in), "lecun": math.sqrt(1.0 / fan_in), "normal": 0.01}[init]
            W = std * jax.random.normal(layer_key, shape, dtype)
        params.append((W, jnp.zeros((fan_out,), dtype)))
    return params


def layer_activations(activation: ActivationSpec, output: str, num_layers: int) -> list[str]:
    """The names φ_1 … φ_L: ``activation`` for the hidden layers (one name, or one per hidden layer), ``output`` last.

    Raises:
      ValueError: for an unknown name (listing the valid ones) or a sequence of the wrong length.
    """
    if isinstance(activation, str):
        hidden = [activation] * (num_layers - 1)
    else:
        hidden = list(activation)
        if len(hidden) != num_layers - 1:
            raise ValueError(
                f"activation lists {len(hidden)} names but the network has {num_layers - 1} hidden layers"
            )
    names = hidden + [output]
    for name in names:
        activations.get(name)  # raises with the list of valid names
    return names


def check_params(params: Params, x: Array | None = None) -> None:
    """Checks that ``params`` chain into a network (and that ``x`` fits its first layer).

    Raises:
      ValueError: naming the first offending layer (1-based, as in the lecture) and the shapes involved.
    """
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise ValueError("params must be a non-empty list of (W, b) tuples")
    for i, layer in enumerate(params, start=1):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise ValueError(f"layer {i}: expected a (W, b) tuple, got {type(layer).__name__}")
        W, b = layer
        if jnp.ndim(W) != 2:
            raise ValueError(f"layer {i}: W must be a matrix (d_{i}, d_{i - 1}), got shape {jnp.shape(W)}")
        if jnp.shape(b) != (jnp.shape(W)[0],):
            raise ValueError(f"layer {i}: W has shape {jnp.shape(W)} so b must have shape "
                             f"({jnp.shape(W)[0]},), got {jnp.shape(b)}")
        if i > 1:
            previous = jnp.shape(params[i - 2][0])
            if jnp.shape(W)[1] != previous[0]:
                raise ValueError(f"layer {i}: W has shape {jnp.shape(W)}, which does not take the output of "
                                 f"layer {i - 1} (W of shape {previous}): expected {jnp.shape(W)[0]} x {previous[0]}")
    if x is not None:
        d_0 = jnp.shape(params[0][0])[1]
        if jnp.ndim(x) not in (1, 2) or jnp.shape(x)[-1] != d_0:
            raise ValueError(f"layer 1: W has shape {jnp.shape(params[0][0])} and takes inputs (d_0,) = ({d_0},) "
                             f"or (N, {d_0}), got x of shape {jnp.shape(x)}")


def _forward_one(params: Params, x: Array, names: Sequence[str]):
    vs, us = [], [x]
    for (W, b), name in zip(params, names):
        v = W @ us[-1] + b
        vs.append(v)
        us.append(activations.get(name).fn(v))
    return vs, us


def forward(params: Params, x: Array, *, activation: ActivationSpec = "relu", output: str = "identity"):
    """The forward pass, keeping what back-propagation needs.

    Args:
      params: list of ``(W_i, b_i)``, W_i of shape ``(d_i, d_{i-1})``.
      x: one example ``(d_0,)`` or a batch ``(N, d_0)``.
      activation: hidden activation name, or one name per hidden layer (φ_1 … φ_{L−1}).
      output: the output activation φ_L.

    Returns:
      ``(yhat, vs, us)``: ŷ = u_L; ``vs = [v_1, ..., v_L]`` the pre-activations; ``us = [u_0 = x, u_1, ..., u_L]``.
      Each has shape ``(d_i,)``, or ``(N, d_i)`` for a batch.
    """
    check_params(params, x)
    names = layer_activations(activation, output, len(params))
    x = jnp.asarray(x)
    if x.ndim == 1:
        vs, us = _forward_one(params, x, names)
    else:
        vs, us = jax.vmap(_forward_one, in_axes=(None, 0, None))(params, x, names)
    return us[-1], vs, us


def apply(params: Params, x: Array, *, activation: ActivationSpec = "relu", output: str = "identity") -> Array:
    """The network's prediction ŷ, shape ``(d_L,)`` for one example ``(d_0,)`` or ``(N, d_L)`` for ``(N, d_0)``.

    Arguments are as for :func:`forward`.
    """
    return forward(params, x, activation=activation, output=output)[0]
