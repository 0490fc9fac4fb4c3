"""The multi-layer perceptron of the lecture as pure functions over a list of ``(W, b)`` tuples.

Orientation follows the lecture: layer i (1-based) has ``W_i`` of shape ``(d_i, d_{i-1})`` and ``b_i`` of shape
``(d_i,)``, and maps u_{i−1} to

    v_i = W_i u_{i−1} + b_i,    u_i = φ_i(v_i),    u_0 = x,    ŷ = u_L.

The math is written for one example ``x`` of shape ``(d_0,)`` (:func:`forward_one`, the readable definition, which
``jax.vmap`` batches). A batch ``(N, d_0)`` is computed with the examples as rows, V_i = U_{i−1} W_iᵀ + 1 b_iᵀ, one
matrix product per layer with the bias broadcast explicitly: the same numbers to round-off, and on wide layers XLA
runs it several times faster than the vmapped matrix-vector product.

What the network computes besides its parameters is a :class:`Net`: the activations φ_1 … φ_L, validated once when
the value is built. Every function here and in :mod:`jaxnet.backprop` and :mod:`jaxnet.train` takes one; the
keywords ``activation=`` and ``output=`` remain a shorthand that builds it.

>>> import jax
>>> params = init(jax.random.key(0), [3, 5, 2])
>>> [(W.shape, b.shape) for W, b in params]
[((5, 3), (5,)), ((2, 5), (2,))]
>>> net = Net(activation="tanh")
>>> apply(params, jax.numpy.ones((4, 3)), net).shape
(4, 2)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Union

import jax
import jax.numpy as jnp

from jaxnet import activations

Array = jax.Array
Params = list[tuple[Array, Array]]
ActivationSpec = Union[str, Sequence[str]]  # noqa: UP007 (a runtime alias: `|` needs Python 3.10's types)

#: The initialisations :func:`init` knows.
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


@dataclasses.dataclass(frozen=True)
class Net:
    """The activations of a network, φ_1 … φ_L: frozen and hashable, so it can be a static argument of ``jax.jit``.

    Attributes:
      activation: the hidden activation φ_1 … φ_{L−1}: one name for every hidden layer (any depth), or a tuple of
        one name per hidden layer (then the network must have exactly ``len(activation) + 1`` layers).
      output: the output activation φ_L.
      input_shift: subtracted from the input: u_0 = (x − input_shift) / input_scale (by default u_0 = x).
      input_scale: divides the input, after the shift. Together they let data stay compact on the device, e.g.
        ``uint8`` images with ``input_scale=255``, converted and standardised inside the compiled step; integer
        inputs are converted to the parameters' dtype first.

    Raises:
      ValueError: at construction, for an unknown name (listing the valid ones) or a scale that is not positive.

    >>> Net("tanh").names(3)
    ('tanh', 'tanh', 'identity')
    >>> Net(("relu", "sigmoid"), output="softmax").names(3)
    ('relu', 'sigmoid', 'softmax')
    """

    activation: str | tuple[str, ...] = "relu"
    output: str = "identity"
    input_shift: float = 0.0
    input_scale: float = 1.0

    def __post_init__(self):
        if not isinstance(self.activation, str):
            object.__setattr__(self, "activation", tuple(self.activation))  # a list would not be hashable
        for name in self.hidden_names + (self.output,):
            activations.get(name)  # raises with the list of valid names
        object.__setattr__(self, "input_shift", float(self.input_shift))
        object.__setattr__(self, "input_scale", float(self.input_scale))
        if not (math.isfinite(self.input_shift) and math.isfinite(self.input_scale) and self.input_scale > 0):
            raise ValueError(f"input_shift must be finite and input_scale finite and > 0, got {self.input_shift} "
                             f"and {self.input_scale}")

    def input(self, x: Array, dtype) -> Array:
        """u_0 = (x − input_shift) / input_scale in ``dtype`` (integer inputs converted first); x itself by default."""
        if jnp.issubdtype(x.dtype, jnp.integer):
            x = x.astype(dtype)
        if self.input_shift != 0.0:
            x = x - self.input_shift
        if self.input_scale != 1.0:
            x = x / self.input_scale
        return x

    @property
    def hidden_names(self) -> tuple[str, ...]:
        """The hidden activations' names as given (one for any depth, or one per hidden layer)."""
        return (self.activation,) if isinstance(self.activation, str) else self.activation

    def names(self, num_layers: int) -> tuple[str, ...]:
        """φ_1 … φ_L by name for a network of ``num_layers`` layers.

        Raises:
          ValueError: if the hidden activations were given per layer for another depth.
        """
        if isinstance(self.activation, str):
            return (self.activation,) * (num_layers - 1) + (self.output,)
        if len(self.activation) != num_layers - 1:
            raise ValueError(f"activation lists {len(self.activation)} names but the network has "
                             f"{num_layers - 1} hidden layers")
        return self.activation + (self.output,)

    def layers(self, num_layers: int) -> tuple[activations.Activation, ...]:
        """φ_1 … φ_L as :class:`jaxnet.activations.Activation` bundles."""
        return tuple(activations.get(name) for name in self.names(num_layers))


def as_net(net: Net | None = None, activation: ActivationSpec | None = None, output: str | None = None) -> Net:
    """The :class:`Net` a function was given: ``net`` itself, or one built from the ``activation`` / ``output``
    keywords (defaults ``"relu"`` and ``"identity"``).

    Raises:
      TypeError: if ``net`` is not a :class:`Net`.
      ValueError: if both ``net`` and a keyword are given, or for an unknown name.
    """
    if net is None:
        return Net("relu" if activation is None else _names(activation), "identity" if output is None else output)
    if not isinstance(net, Net):
        raise TypeError(f"net must be a jaxnet.mlp.Net, got {type(net).__name__} {net!r}; for names pass "
                        f"activation=... and output=...")
    if activation is not None or output is not None:
        raise ValueError(f"give either net={net!r} or the activation/output keywords, not both")
    return net


def layer_activations(activation: ActivationSpec, output: str, num_layers: int) -> list[str]:
    """The names φ_1 … φ_L: ``activation`` for the hidden layers (one name, or one per hidden layer), ``output`` last.

    Raises:
      ValueError: for an unknown name (listing the valid ones) or a sequence of the wrong length.
    """
    return list(Net(_names(activation), output).names(num_layers))


def _names(activation: ActivationSpec) -> str | tuple[str, ...]:
    return activation if isinstance(activation, str) else tuple(activation)


def check_params(params: Params, x: Array | None = None) -> None:
    """Checks that ``params`` chain into a network of one dtype (and that ``x`` fits its first layer).

    Raises:
      ValueError: naming the first offending layer (1-based, as in the lecture) and the shapes or dtypes involved.
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
        dtypes = (jnp.result_type(W), jnp.result_type(b))
        if dtypes != (jnp.result_type(params[0][0]),) * 2:
            # One dtype for the whole network: a float16 bias on a float32 weight would silently promote (or, under
            # strict promotion, fail) inside the compiled step, and the checkpoint header records one dtype.
            raise ValueError(f"layer {i}: W is {dtypes[0]} and b is {dtypes[1]}, but a network has one dtype "
                             f"(layer 1's W is {jnp.result_type(params[0][0])}); convert them, e.g. with "
                             f"jax.tree.map(lambda a: a.astype(jnp.float32), params)")
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


def forward_one(params: Params, x: Array, net: Net) -> tuple[list[Array], list[Array]]:
    """The lecture's forward pass for ONE example ``x (d_0,)``: v_i = W_i u_{i−1} + b_i, u_i = φ_i(v_i).

    Returns ``(vs, us)`` as :func:`forward` does. This is the definition; ``jax.vmap`` of it batches it, and
    :func:`forward` computes batches row-stacked with the same numbers.
    """
    vs, us = [], [net.input(x, params[0][0].dtype)]
    for (W, b), phi in zip(params, net.layers(len(params))):
        v = W @ us[-1] + b
        vs.append(v)
        us.append(phi.fn(v))
    return vs, us


def _forward_rows(params: Params, x: Array, net: Net) -> tuple[list[Array], list[Array]]:
    # The same rule with examples as rows: V_i = U_{i−1} W_iᵀ + 1 b_iᵀ, one matrix product per layer.
    vs, us = [], [net.input(x, params[0][0].dtype)]
    for (W, b), phi in zip(params, net.layers(len(params))):
        v = us[-1] @ W.T + b[None, :]
        vs.append(v)
        us.append(phi.fn(v))
    return vs, us


def forward(params: Params, x: Array, net: Net | None = None, *, activation: ActivationSpec | None = None,
            output: str | None = None):
    """The forward pass, keeping what back-propagation needs.

    Args:
      params: list of ``(W_i, b_i)``, W_i of shape ``(d_i, d_{i-1})``.
      x: one example ``(d_0,)`` or a batch ``(N, d_0)``.
      net: the activations φ_1 … φ_L (:class:`Net`); default ``Net("relu", "identity")``.
      activation, output: instead of ``net``, the hidden activation name (or one per hidden layer) and the output
        activation, as for :class:`Net`.

    Returns:
      ``(yhat, vs, us)``: ŷ = u_L; ``vs = [v_1, ..., v_L]`` the pre-activations; ``us = [u_0, u_1, ..., u_L]``
      with u_0 = x (or the scaled input, see :class:`Net`).
      Each has shape ``(d_i,)``, or ``(N, d_i)`` for a batch.
    """
    net = as_net(net, activation, output)
    check_params(params, x)
    net.names(len(params))  # a per-layer Net must fit this depth
    x = jnp.asarray(x)
    vs, us = (forward_one if x.ndim == 1 else _forward_rows)(params, x, net)
    return us[-1], vs, us


def apply(params: Params, x: Array, net: Net | None = None, *, activation: ActivationSpec | None = None,
          output: str | None = None) -> Array:
    """The network's prediction ŷ, shape ``(d_L,)`` for one example ``(d_0,)`` or ``(N, d_L)`` for ``(N, d_0)``.

    Arguments are as for :func:`forward`.
    """
    return forward(params, x, net, activation=activation, output=output)[0]
