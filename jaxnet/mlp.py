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
import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Union

import jax
import jax.numpy as jnp

from jaxnet import activations

Array = jax.Array
Params = list[tuple[Array, Array]]
ActivationSpec = Union[str, Sequence[str]]  # noqa: UP007 (a runtime alias: `|` needs Python 3.10's types)

#: The initialisations :func:`init` knows.
INITS = ("he", "glorot", "lecun", "normal")


def init(key: Array, sizes: Sequence[int], *, init: str | Callable = "he", dtype=jnp.float32,
         bias_init: Callable | None = None) -> Params:
    """Random parameters for an MLP with layer widths ``sizes = [d_0, d_1, ..., d_L]``.

    Weights ``W_i`` of shape ``(d_i, d_{i-1})`` are drawn, with fan_in = d_{i−1} and fan_out = d_i, as

    * ``"he"``: N(0, 2/fan_in), which keeps the activations' scale through ReLU layers (He et al., 2015);
    * ``"glorot"``: U(±√(6/(fan_in + fan_out))), for tanh and sigmoid layers (Glorot and Bengio, 2010);
    * ``"lecun"``: N(0, 1/fan_in);
    * ``"normal"``: N(0, 0.01²), the small fixed scale of classic examples;
    * any ``jax.nn.initializers`` callable ``(key, shape, dtype) -> array``, e.g.
      ``jax.nn.initializers.orthogonal()`` or ``variance_scaling(1.0, "fan_avg", "uniform")``.

    Those callables read the fans of a ``(in, out)`` kernel (``in_axis=-2, out_axis=-1``), Flax's layout, while
    jaxnet's ``W_i`` is ``(out, in)``. So the callable draws the ``(d_{i−1}, d_i)`` kernel and ``W_i`` is its
    transpose: fan-in is d_{i−1}, as the initializer means it, whatever the initializer. An initializer given
    PyTorch's axes for jaxnet's layout (``in_axis=-1, out_axis=-2``) is honoured: it draws ``W_i`` as it is.

    Args:
      key: a JAX PRNG key; it is split into one key per layer (no global random state).
      sizes: the widths d_0 … d_L, at least two positive integers.
      init: one of :data:`INITS`, or an initializer callable.
      dtype: floating dtype of every array.
      bias_init: an initializer callable ``(key, (d_i,), dtype)`` for the biases; ``None`` (the default) starts them
        at zero.

    Returns:
      A list of L tuples ``(W_i, b_i)``.

    Raises:
      ValueError: for sizes that are not positive integers or an unknown name.
      TypeError: for an ``init`` or ``bias_init`` that is neither a name nor a callable.

    >>> params = init(jax.random.key(0), [300, 100], init=jax.nn.initializers.he_normal())
    >>> params[0][0].shape, round(float(params[0][0].var() * 300), 1)  # Var(W) = 2 / fan_in
    ((100, 300), 2.0)
    """
    sizes = list(sizes)
    if len(sizes) < 2 or not all(isinstance(d, int) and d > 0 for d in sizes):
        raise ValueError(f"sizes must be at least two positive integers [d_0, ..., d_L], got {sizes}")
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; valid inits are {list(INITS)} or a jax.nn.initializers "
                             f"callable")
    elif not callable(init):
        raise TypeError(f"init must be one of {list(INITS)} or a jax.nn.initializers callable (key, shape, dtype), "
                        f"got {type(init).__name__} {init!r}")
    if bias_init is not None and not callable(bias_init):
        raise TypeError(f"bias_init must be None (zeros) or a jax.nn.initializers callable (key, shape, dtype), "
                        f"got {type(bias_init).__name__} {bias_init!r}")
    params: Params = []
    for layer_key, fan_in, fan_out in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
        shape = (fan_out, fan_in)
        if callable(init) and _reads_out_in(init):
            W = jnp.asarray(init(layer_key, shape, dtype), dtype)  # the initializer's own axes: (out, in)
        elif callable(init):
            W = jnp.asarray(init(layer_key, (fan_in, fan_out), dtype), dtype).T  # drawn (in, out), kept (out, in)
        elif init == "glorot":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            W = jax.random.uniform(layer_key, shape, dtype, -limit, limit)
        else:
            std = {"he": math.sqrt(2.0 / fan_in), "lecun": math.sqrt(1.0 / fan_in), "normal": 0.01}[init]
            W = std * jax.random.normal(layer_key, shape, dtype)
        if bias_init is None:
            b = jnp.zeros((fan_out,), dtype)
        else:  # a key of its own, so that the weights are those drawn without bias_init
            b = jnp.asarray(bias_init(jax.random.fold_in(layer_key, 1), (fan_out,), dtype), dtype)
        if W.shape != shape or b.shape != (fan_out,):
            raise ValueError(f"the initializers gave W of shape {W.shape[::-1]} (in, out) and b of shape {b.shape} "
                             f"for layer {len(params) + 1}, expected {(fan_in, fan_out)} and {(fan_out,)}")
        params.append((W, b))
    return params


_init = init  # init_ensemble's keyword ``init`` (the scheme) hides the function of that name


def init_ensemble(key: Array, members: int, sizes: Sequence[int], *, init: str | Callable = "he",
                  dtype=jnp.float32, bias_init: Callable | None = None) -> Params:
    """K independently initialised networks stacked along a new leading axis (``W_i`` becomes ``(K, d_i, d_{i-1})``,
    ``b_i`` ``(K, d_i)``), for ``fit(..., ensemble=True)``.

    Member k is exactly ``init(jax.random.split(key, K)[k], sizes, ...)``.
    """
    return jax.vmap(lambda k: _init(k, sizes, init=init, dtype=dtype, bias_init=bias_init))(
        jax.random.split(key, members))


def _reads_out_in(initializer: Callable) -> bool:
    """Whether a ``jax.nn.initializers`` callable was built with the axes of an ``(out, in)`` matrix
    (``in_axis=-1, out_axis=-2``, or 1 and 0), as its closure holds them; ``False`` for any other callable."""
    code, cells = getattr(initializer, "__code__", None), getattr(initializer, "__closure__", None) or ()
    names = dict(zip(code.co_freevars, (c.cell_contents for c in cells))) if code is not None else {}
    return (names.get("in_axis"), names.get("out_axis")) in ((-1, -2), (1, 0))


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class Net:
    """The activations of a network, φ_1 … φ_L: frozen and hashable, and a pytree with no leaves (static), so
    ``jax.jit(mlp.apply)(params, x, net)`` compiles once per net with no ``static_argnums``, as can any function
    that takes one.

    Attributes:
      activation: the hidden activation φ_1 … φ_{L−1}: one name for every hidden layer (any depth), or a tuple of
        one name per hidden layer (then the network must have exactly ``len(activation) + 1`` layers).
      output: the output activation φ_L.
      input_shift: subtracted from the input: u_0 = (x − input_shift) / input_scale (by default u_0 = x).
      input_scale: divides the input, after the shift. Together they let data stay compact on the device, e.g.
        ``uint8`` images with ``input_scale=255``, converted and standardised inside the compiled step; integer
        inputs are converted to the parameters' dtype first.
      dropout: the rate p of inverted dropout on the hidden layers' outputs u_1 … u_{L−1} (never on the input or
        the output): one rate for every hidden layer, or a tuple of one per hidden layer, each 0 ≤ p < 1. A unit
        is kept with probability 1 − p and a kept unit is divided by 1 − p, so the expected u_i is unchanged and
        evaluation (no key) uses the network as it is. Units are dropped only when :func:`apply` (or
        :func:`forward`, or :func:`jaxnet.backprop.manual_grad`) is given a ``key``; training passes one per step.
        ``0`` (the default) computes exactly what a network without dropout computes.
      compute_dtype: the dtype of the matrix products, e.g. ``"bfloat16"`` (mixed precision), or ``None`` (the
        default) for the parameters' own. The products' inputs are cast to it and accumulate in the parameters'
        dtype (``preferred_element_type``), so the parameters, the biases, the activations, the output ŷ, the loss
        (softmax and log-sum-exp included), the gradients and the optimizer state all stay in the parameters' dtype.
        The backward pass's products are low-precision too (a custom VJP: reverse-mode ``jax.grad`` and
        ``jax.vjp`` work, forward-mode ``jax.jvp`` does not). XLA's CPU backend cannot run the training program
        of a vmapped ensemble with low-precision products (:class:`jaxnet.train.Trainer` refuses it; a CPU trains
        an ensemble's members in turn, which works).

    Raises:
      ValueError: at construction, for an unknown name (listing the valid ones), a scale that is not positive, a
        dropout rate outside [0, 1) or a compute dtype that is not a floating dtype.

    >>> Net("tanh").names(3)
    ('tanh', 'tanh', 'identity')
    >>> Net(("relu", "sigmoid"), output="softmax").names(3)
    ('relu', 'sigmoid', 'softmax')
    >>> Net("relu", dropout=0.2).dropout_rates(3)
    (0.2, 0.2)
    """

    activation: str | tuple[str, ...] = "relu"
    output: str = "identity"
    input_shift: float = 0.0
    input_scale: float = 1.0
    dropout: float | tuple[float, ...] = 0.0
    compute_dtype: str | None = None

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
        object.__setattr__(self, "dropout", _rates(self.dropout))
        if not isinstance(self.dropout, float) and not isinstance(self.activation, str) \
                and len(self.dropout) != len(self.activation):
            raise ValueError(f"dropout gives {len(self.dropout)} rates but activation names {len(self.activation)} "
                             f"hidden layers")
        if self.compute_dtype is not None:
            object.__setattr__(self, "compute_dtype", _floating_name(self.compute_dtype))

    def __repr__(self) -> str:
        # dropout and compute_dtype appear only when set, so a plain network reads as it always has.
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                 if f.name not in ("dropout", "compute_dtype") or getattr(self, f.name) != f.default]
        return f"Net({', '.join(shown)})"

    @property
    def drops(self) -> bool:
        """Whether any hidden layer has a dropout rate above 0 (so that a key changes what the network computes)."""
        return any(p > 0 for p in ((self.dropout,) if isinstance(self.dropout, float) else self.dropout))

    def dropout_rates(self, num_layers: int) -> tuple[float, ...]:
        """The dropout rates of the hidden layers 1 … L − 1 of a network of ``num_layers`` layers.

        Raises:
          ValueError: if the rates were given per layer for another depth.
        """
        if isinstance(self.dropout, float):
            return (self.dropout,) * (num_layers - 1)
        if len(self.dropout) != num_layers - 1:
            raise ValueError(f"dropout gives {len(self.dropout)} rates but the network has {num_layers - 1} hidden "
                             f"layers")
        return self.dropout

    def product(self, a: Array, b: Array) -> Array:
        """``a @ b`` in ``compute_dtype``, accumulated and returned in the inputs' own dtype (float32 for
        float32 parameters); plain ``a @ b`` without a compute dtype."""
        if self.compute_dtype is None:
            return a @ b
        return _mixed_product(a, b, self.compute_dtype)

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


def engine_net(owner: str, net: Net | None, activation: ActivationSpec | None, output: str | None) -> Net:
    """The :class:`Net` an engine builder (``program.make_epochs``, ``evaluation.make_evaluate``) was given. They take
    a :class:`Net`; the ``activation`` / ``output`` shorthand, resolved by the public entry points (``fit``,
    ``make_step``, ``evaluate``), still works here for one release, with a ``DeprecationWarning``."""
    if net is None or activation is not None or output is not None:
        warnings.warn(f"{owner}'s activation=/output= keywords (and its default network) are deprecated and will be "
                      f"removed in the next release; pass a jaxnet.mlp.Net", DeprecationWarning, stacklevel=3)
    return as_net(net, activation, output)


def layer_activations(activation: ActivationSpec, output: str, num_layers: int) -> list[str]:
    """The names φ_1 … φ_L: ``activation`` for the hidden layers (one name, or one per hidden layer), ``output`` last.

    Raises:
      ValueError: for an unknown name (listing the valid ones) or a sequence of the wrong length.
    """
    return list(Net(_names(activation), output).names(num_layers))


def _names(activation: ActivationSpec) -> str | tuple[str, ...]:
    """One name, or a tuple of them: Net's field type (Net makes a tuple of any sequence itself)."""
    return activation if isinstance(activation, str) else tuple(activation)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _mixed_product(a: Array, b: Array, low: str) -> Array:
    """``a @ b`` (a a matrix, b a matrix or a vector) from inputs rounded to ``low``, accumulated in their dtype."""
    return jnp.matmul(a.astype(low), b.astype(low), preferred_element_type=jnp.result_type(a, b))


def _mixed_product_forward(a, b, low):
    return _mixed_product(a, b, low), (a.astype(low), b.astype(low))


def _mixed_product_backward(low, rounded, cotangent):
    # The two products of the backward pass in the low dtype too, accumulated in the high one. (JAX's own
    # transpose of a product with preferred_element_type multiplies the float32 cotangent by the bfloat16 operand,
    # which an accelerator runs as a float32 product.) Forward-mode differentiation (jax.jvp) is not defined here.
    a, b = rounded
    high = cotangent.dtype
    c = cotangent.astype(low)
    if b.ndim == 1:  # W u: ∂W = c uᵀ (an outer product), ∂u = Wᵀ c
        return (jnp.matmul(c[:, None], b[None, :], preferred_element_type=high),
                jnp.matmul(a.T, c, preferred_element_type=high))
    return jnp.matmul(c, b.T, preferred_element_type=high), jnp.matmul(a.T, c, preferred_element_type=high)


_mixed_product.defvjp(_mixed_product_forward, _mixed_product_backward)


def _rates(dropout) -> float | tuple[float, ...]:
    """``dropout`` as a float or a tuple of floats, each checked to lie in [0, 1)."""
    many = isinstance(dropout, (list, tuple))
    rates = tuple(dropout) if many else (dropout,)
    for p in rates:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"dropout rates must be numbers with 0 <= p < 1 (the probability of dropping a unit), "
                             f"got {dropout!r}")
    return tuple(float(p) for p in rates) if many else float(rates[0])


def _floating_name(dtype) -> str:
    """The canonical name of a floating dtype (``"bfloat16"``, ``"float32"``, ...)."""
    try:
        name = jnp.dtype(dtype).name
    except TypeError:
        name = None
    if name is None or not jnp.issubdtype(jnp.dtype(name), jnp.floating):
        raise ValueError(f"compute_dtype must be a floating dtype such as 'bfloat16', 'float16' or 'float32', or "
                         f"None, got {dtype!r}")
    return name


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


def dropout_scales(params: Params, x: Array, net: Net, key: Array | None) -> list[Array | None]:
    """What inverted dropout multiplies each hidden layer's output u_1 … u_{L−1} by: one entry per hidden layer.

    An entry is ``None`` where nothing is dropped (a rate of 0, or no ``key``), else an array shaped like u_i
    (``(d_i,)`` for one example ``x (d_0,)``, ``(N, d_i)`` for a batch) holding 0 for a dropped unit and 1/(1 − p)
    for a kept one, in the parameters' dtype. Layer i's units are drawn from ``fold_in(key, i)``, so
    :func:`forward` and :func:`jaxnet.backprop.manual_grad` given the same key drop the same units.
    """
    rates = net.dropout_rates(len(params))
    if key is None:
        return [None] * len(rates)
    batch = jnp.shape(x)[:-1]
    scales: list[Array | None] = []
    for i, (p, (W, _)) in enumerate(zip(rates, params), start=1):
        if p == 0:
            scales.append(None)
            continue
        kept = jax.random.bernoulli(jax.random.fold_in(key, i), 1.0 - p, batch + (W.shape[0],))
        scales.append(jnp.where(kept, jnp.asarray(1.0 / (1.0 - p), W.dtype), jnp.zeros((), W.dtype)))
    return scales


def _dropped(u: Array, scale: Array | None) -> Array:
    return u if scale is None else u * scale


def forward_one(params: Params, x: Array, net: Net, *, key: Array | None = None) -> tuple[list[Array], list[Array]]:
    """The lecture's forward pass for ONE example ``x (d_0,)``: v_i = W_i u_{i−1} + b_i, u_i = φ_i(v_i).

    Returns ``(vs, us)`` as :func:`forward` does. This is the definition; ``jax.vmap`` of it batches it, and
    :func:`forward` computes batches row-stacked with the same numbers. With a ``key`` the hidden outputs are
    dropped as :func:`dropout_scales` says.
    """
    return _forward_one(params, x, net, dropout_scales(params, x, net, key))


def _forward_one(params, x, net, scales):
    vs, us = [], [net.input(x, params[0][0].dtype)]
    for i, ((W, b), phi) in enumerate(zip(params, net.layers(len(params)))):
        v = net.product(W, us[-1]) + b
        vs.append(v)
        us.append(_dropped(phi.fn(v), scales[i] if i < len(scales) else None))
    return vs, us


def _forward_rows(params: Params, x: Array, net: Net, scales) -> tuple[list[Array], list[Array]]:
    # The same rule with examples as rows: V_i = U_{i−1} W_iᵀ + 1 b_iᵀ, one matrix product per layer.
    vs, us = [], [net.input(x, params[0][0].dtype)]
    for i, ((W, b), phi) in enumerate(zip(params, net.layers(len(params)))):
        v = net.product(us[-1], W.T) + b[None, :]
        vs.append(v)
        us.append(_dropped(phi.fn(v), scales[i] if i < len(scales) else None))
    return vs, us


def forward(params: Params, x: Array, net: Net | None = None, *, activation: ActivationSpec | None = None,
            output: str | None = None, key: Array | None = None):
    """The forward pass, keeping what back-propagation needs.

    Args:
      params: list of ``(W_i, b_i)``, W_i of shape ``(d_i, d_{i-1})``.
      x: one example ``(d_0,)`` or a batch ``(N, d_0)``.
      net: the activations φ_1 … φ_L (:class:`Net`); default ``Net("relu", "identity")``.
      activation, output: instead of ``net``, the hidden activation name (or one per hidden layer) and the output
        activation, as for :class:`Net`.
      key: a PRNG key that switches dropout on (the net's rates, :func:`dropout_scales`); without one (evaluation)
        nothing is dropped, and with one a net without dropout computes what it computes without.

    Returns:
      ``(yhat, vs, us)``: ŷ = u_L; ``vs = [v_1, ..., v_L]`` the pre-activations; ``us = [u_0, u_1, ..., u_L]``
      with u_0 = x (or the scaled input, see :class:`Net`) and each hidden u_i after dropout.
      Each has shape ``(d_i,)``, or ``(N, d_i)`` for a batch.
    """
    net = as_net(net, activation, output)
    check_params(params, x)
    net.names(len(params))  # a per-layer Net must fit this depth
    x = jnp.asarray(x)
    scales = dropout_scales(params, x, net, key)
    vs, us = (_forward_one if x.ndim == 1 else _forward_rows)(params, x, net, scales)
    return us[-1], vs, us


def apply(params: Params, x: Array, net: Net | None = None, *, activation: ActivationSpec | None = None,
          output: str | None = None, key: Array | None = None) -> Array:
    """The network's prediction ŷ, shape ``(d_L,)`` for one example ``(d_0,)`` or ``(N, d_L)`` for ``(N, d_0)``.

    Arguments are as for :func:`forward`: with a ``key``, a net with dropout drops units (training); without one
    it is deterministic (evaluation).

    >>> net = Net("relu", dropout=0.5)
    >>> params = init(jax.random.key(0), [3, 100, 1])
    >>> x = jax.numpy.ones((1, 3))
    >>> bool((apply(params, x, net) == apply(params, x, net)).all())  # no key: nothing dropped
    True
    >>> bool((apply(params, x, net, key=jax.random.key(1)) != apply(params, x, net)).any())
    True
    """
    return forward(params, x, net, activation=activation, output=output, key=key)[0]
