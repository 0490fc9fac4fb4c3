"""Weights that move: safetensors files PyTorch loads as they are, and models of PyTorch, Equinox and Flax NNX.

jaxnet's ``W_i`` is ``(d_i, d_{i−1})``, i.e. ``(out, in)``: the layout of ``torch.nn.Linear.weight`` and
``eqx.nn.Linear.weight``, so those move as they are; Flax's ``nnx.Linear.kernel`` is ``(in, out)``, the transpose.
Every ``from_*`` returns ``(params, net)``, the list of ``(W, b)`` and the :class:`jaxnet.mlp.Net` that computes
what the model computed.

* :func:`save_safetensors` / :func:`load_safetensors`: the tensors named as ``torch.nn.Sequential`` names them in
  the model :func:`to_torch` builds (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, … when an activation module sits
  between the linear layers), so ``model.load_state_dict(safetensors.torch.load_file(path))`` takes the file as it
  is; the :class:`~jaxnet.mlp.Net` rides along in the file's metadata.
* :func:`to_torch` / :func:`from_torch`: a ``torch.nn.Sequential`` of ``Linear`` layers, activation modules
  (``ReLU``, ``Sigmoid``, ``Tanh``, ``Softmax(dim=-1)``, ``Identity``) and ``Dropout``.
* :func:`to_equinox` / :func:`from_equinox`: an ``eqx.nn.MLP`` (one hidden width and one hidden activation).
* :func:`to_flax` / :func:`from_flax`: an ``nnx.Sequential`` of ``nnx.Linear`` layers, activation functions and
  ``nnx.Dropout``.

What the other side cannot hold is refused with a ``ValueError`` that names it: the sign activation in PyTorch (it
has no module for it), a softmax in an ``eqx.nn.MLP`` (it applies activations one number at a time), unequal hidden
widths in an ``eqx.nn.MLP``, a layer that is not linear, shapes that do not chain. A net's input scaling
(``input_shift``, ``input_scale``) has no place in those models, so ``to_*`` and :func:`save_safetensors` fold it
into the first layer, W₁' = W₁ / s and b₁' = b₁ − W₁' 1·m (the same outputs to float round-off): the file loaded
into the model it is named for computes what the net computed. Dropout goes to PyTorch and Flax as their dropout
layers, not into an ``eqx.nn.MLP`` (it has none); ``compute_dtype`` goes nowhere. An activation added with
:func:`jaxnet.activations.register` goes to Equinox and Flax as its own function (PyTorch has no module for it).

The libraries are the ``interop`` extra (``pip install 'jaxnet-lecture[interop]'``: safetensors, torch, equinox,
flax), imported only when a function here needs one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import activations, mlp

#: The key in a safetensors file's metadata that holds the :class:`jaxnet.mlp.Net` (JSON of its fields).
NET_KEY = "jaxnet.net"

# PyTorch's activation modules, by jaxnet name (identity: no module). sign has none.
_TORCH_MODULES = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}
_KEY = re.compile(r"^(\d+)\.(weight|bias)$")


def _library(name: str, package: str | None = None):
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(f"jaxnet.interop needs {package or name} here: pip install 'jaxnet-lecture[interop]'") \
            from error


# --- the network's description, shared by every format --------------------------------------------------------

def _hidden(names: list[str]) -> str | tuple[str, ...]:
    """One name when every hidden layer shares it (any depth then fits), else the tuple."""
    return names[0] if names and all(n == names[0] for n in names) else (tuple(names) if names else "relu")


def _rates(rates: list[float]) -> float | tuple[float, ...]:
    return rates[0] if rates and all(p == rates[0] for p in rates) else (tuple(rates) if rates else 0.0)


def _check_net(net) -> None:
    if not isinstance(net, mlp.Net):
        raise TypeError(f"net must be a jaxnet.mlp.Net (the activations are not in the parameters), got "
                        f"{type(net).__name__}")


def _folded(params: mlp.Params, net: mlp.Net) -> tuple[list[tuple[np.ndarray, np.ndarray]], mlp.Net]:
    """The parameters as NumPy arrays with the net's input scaling folded into layer 1, and the net without it.

    Raises:
      TypeError: if ``net`` is not a :class:`~jaxnet.mlp.Net`.
    """
    _check_net(net)
    mlp.check_params(params)
    net.names(len(params))
    layers = [(np.asarray(W), np.asarray(b)) for W, b in params]
    if (net.input_shift, net.input_scale) != (0.0, 1.0):
        W, b = layers[0]
        folded = (W / np.asarray(net.input_scale, W.dtype)).astype(W.dtype)
        layers[0] = (folded, (b - folded.sum(axis=1) * np.asarray(net.input_shift, W.dtype)).astype(b.dtype))
        net = dataclasses.replace(net, input_shift=0.0, input_scale=1.0)
    return layers, net


def _as_params(layers: list[tuple[Any, Any]]) -> mlp.Params:
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in layers]
    mlp.check_params(params)
    return params


def _net_from_layers(names: list[str | None], rates: list[float]) -> mlp.Net:
    """A Net from each layer's activation (``None``: identity) and each hidden layer's dropout rate."""
    given = [n or "identity" for n in names]
    return mlp.Net(_hidden(given[:-1]), given[-1], dropout=_rates(rates))


class _Words(NamedTuple):
    """How a library's sequence and its parts are named in messages."""

    entry: str  # "module" (PyTorch) or "entry" (Flax): "module 3 of the Sequential"
    linear: str  # "a Linear layer"
    dropout: str  # "Dropout"


def _read_sequence(entries: list, read: Callable[[int, Any], tuple[str, Any]], words: _Words):
    """``(params, net)`` from a sequence of linear layers, each followed by at most one activation and at most one
    dropout, in that order: the one reading of PyTorch's and Flax's sequences. ``read(position, entry)`` says what an
    entry is: ``("linear", (W, b))``, ``("activation", name)``, ``("dropout", rate)`` or ``("skip", None)``, and
    raises ``ValueError`` for one jaxnet cannot take.

    Raises:
      ValueError: naming the entry's position, for a sequence that does not start with a linear layer, an
        activation after another or after a dropout, two dropouts in a row, a dropout after the last layer, or shapes
        that do not chain (naming the layer).
    """
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    names: list[str | None] = []
    rates: list[float] = []
    for position, entry in enumerate(entries):
        where = f"{words.entry} {position} of the Sequential"
        kind, value = read(position, entry)
        if kind == "linear":
            layers.append(value)
            names.append(None)
            rates.append(0.0)
        elif not layers:
            raise ValueError(f"{where} is {type(entry).__name__}; it must start with {words.linear}")
        elif kind == "activation":
            if names[-1] is not None or rates[-1] > 0:
                raise ValueError(f"{where} ({value}) follows another activation or a dropout; jaxnet has one "
                                 f"activation per layer, before its dropout")
            names[-1] = value
        elif kind == "dropout":
            if rates[-1] > 0:
                raise ValueError(f"{where} ({words.dropout}) follows another {words.dropout}; jaxnet has one dropout "
                                 f"per layer (two in a row drop with rate 1 − (1 − p)(1 − q), not with either)")
            rates[-1] = value
    if not layers:
        raise ValueError(f"the Sequential holds no linear layer; it must start with {words.linear}")
    if rates[-1] > 0:
        raise ValueError(f"the Sequential ends with {words.dropout} after its last linear layer; jaxnet never drops "
                         f"the output")
    return _as_params(layers), _net_from_layers(names, rates[:-1])


# --- safetensors -----------------------------------------------------------------------------------------------

def _torch_layout(net: mlp.Net | None, num_layers: int) -> list[int]:
    """The position of each linear layer in the ``nn.Sequential`` :func:`to_torch` builds for ``net``: a linear
    layer, then its activation module (none for the identity), then its dropout module (none for a rate of 0)."""
    if net is None:  # no net: the common PyTorch MLP, one activation module between linear layers
        return [2 * i for i in range(num_layers)]
    positions = [0]
    for name, rate in zip(net.names(num_layers), net.dropout_rates(num_layers)):  # each layer before the last
        positions.append(positions[-1] + 1 + (name != "identity") + (rate > 0))
    return positions


def save_safetensors(path: str | os.PathLike, params: mlp.Params, net: mlp.Net | None = None) -> None:
    """Writes ``params`` (and ``net``, if given) to a safetensors file at ``path``.

    The tensors are named as PyTorch names the parameters of ``to_torch(params, net)``: ``"{k}.weight"`` of shape
    ``(d_i, d_{i−1})`` and ``"{k}.bias"``, k the linear layer's position in the ``nn.Sequential``. Without a net
    the layout is Linear, activation, Linear, … (k = 0, 2, 4, …). The net's fields go into the file's metadata
    under :data:`NET_KEY`, with ``"format": "pt"`` as PyTorch's own files have. A net's input scaling is folded
    into the first layer, as :func:`to_torch` folds it, and the saved net has none: the file in ``to_torch``'s
    model, and :func:`load_safetensors`'s ``(params, net)``, compute what ``(params, net)`` computed.

    Raises:
      TypeError: for a ``net`` that is neither a :class:`~jaxnet.mlp.Net` nor ``None``.
      ValueError: for parameters that do not chain, or a net of another depth.
    """
    safetensors_numpy = _library("safetensors.numpy", "safetensors")
    mlp.check_params(params)
    layers: list = list(params)
    if net is not None:
        layers, net = _folded(params, net)
    positions = _torch_layout(net, len(layers))
    tensors = {}
    for k, (W, b) in zip(positions, layers):
        tensors[f"{k}.weight"] = np.ascontiguousarray(np.asarray(W))
        tensors[f"{k}.bias"] = np.ascontiguousarray(np.asarray(b))
    metadata = {"format": "pt"}
    if net is not None:
        metadata[NET_KEY] = json.dumps(dataclasses.asdict(net))
    safetensors_numpy.save_file(tensors, os.fspath(path), metadata=metadata)


def load_safetensors(path: str | os.PathLike) -> tuple[mlp.Params, mlp.Net | None]:
    """``(params, net)`` from a safetensors file written by :func:`save_safetensors` or by PyTorch.

    A PyTorch file holds the ``state_dict`` of an ``nn.Sequential`` of linear layers (``"{k}.weight"``, and
    ``"{k}.bias"`` unless the layer has none, then b = 0); ``net`` is ``None`` when the file carries no jaxnet
    net, and the activations are then for the caller to give.

    Raises:
      FileNotFoundError: if there is no file at ``path``.
      ValueError: for a file that is not safetensors, a tensor name that is not ``"{k}.weight"`` or
        ``"{k}.bias"`` (not a jaxnet or PyTorch ``nn.Sequential`` file), a bias without its weight, shapes that do
        not chain (naming the layer), or a saved net that does not fit the tensors.
    """
    safetensors = _library("safetensors")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with safetensors.safe_open(os.fspath(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (safetensors.SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path} is not a safetensors file: {error}") from error
    found: dict[int, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        match = _KEY.match(key)
        if match is None:
            raise ValueError(f"{path}: tensor {key!r} is not named '<position>.weight' or '<position>.bias', so the "
                             f"file is not a jaxnet or PyTorch nn.Sequential safetensors file")
        found.setdefault(int(match[1]), {})[match[2]] = value
    if not found:
        raise ValueError(f"{path} holds no tensors")
    layers = []
    for position in sorted(found):
        if "weight" not in found[position]:
            raise ValueError(f"{path}: '{position}.bias' has no '{position}.weight'")
        W = found[position]["weight"]
        b = found[position].get("bias", np.zeros(W.shape[:1], W.dtype))
        layers.append((W, b))
    params = _as_params(layers)
    net = None
    if NET_KEY in metadata:
        net = mlp.Net(**json.loads(metadata[NET_KEY]))
        net.names(len(params))
        if _torch_layout(net, len(params)) != sorted(found):
            raise ValueError(f"{path}: the saved net {net!r} places its linear layers at "
                             f"{_torch_layout(net, len(params))} but the file has them at {sorted(found)}")
    return params, net


# --- PyTorch ---------------------------------------------------------------------------------------------------

def _tensor(torch, array: np.ndarray):
    """A torch tensor of ``array``'s values, to copy into a parameter of its dtype. NumPy's bfloat16 (from
    ml_dtypes) is not one PyTorch reads, so it goes as float32, which holds every bfloat16 exactly: the copy into a
    bfloat16 parameter gives back the same values."""
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(np.asarray(array, np.float32))
    return torch.from_numpy(np.array(array))


def to_torch(params: mlp.Params, net: mlp.Net):
    """A ``torch.nn.Sequential`` computing ``mlp.apply(params, ·, net)``: per layer a ``Linear`` (weight W_i as it
    is, since both are ``(out, in)``), its activation module unless it is the identity, and ``Dropout(p)`` after
    a hidden layer with a rate p > 0. Tensors keep the parameters' dtype (bfloat16 included).

    Raises:
      TypeError: if ``net`` is not a :class:`~jaxnet.mlp.Net`.
      ValueError: for the sign activation or a registered one (PyTorch has no module for them), or parameters that
        do not chain.
    """
    torch = _library("torch")
    layers, net = _folded(params, net)
    names, rates = net.names(len(layers)), net.dropout_rates(len(layers)) + (0.0,)
    for i, name in enumerate(names, start=1):
        if name != "identity" and name not in _TORCH_MODULES:
            raise ValueError(f"layer {i}'s activation {name!r} has no PyTorch module (PyTorch has "
                             f"{sorted(_TORCH_MODULES)} and the identity)")
    modules = []
    for (W, b), name, rate in zip(layers, names, rates):
        dtype = getattr(torch, W.dtype.name)
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(_tensor(torch, W))
            linear.bias.copy_(_tensor(torch, b))
        modules.append(linear)
        if name == "softmax":
            modules.append(torch.nn.Softmax(dim=-1))
        elif name != "identity":
            modules.append(getattr(torch.nn, _TORCH_MODULES[name])())
        if rate > 0:
            modules.append(torch.nn.Dropout(rate))
    return torch.nn.Sequential(*modules)


def from_torch(module) -> tuple[mlp.Params, mlp.Net]:
    """``(params, net)`` from a ``torch.nn.Sequential`` of ``Linear`` layers, each followed by at most one
    activation module (``ReLU``, ``Sigmoid``, ``Tanh``, ``Softmax`` over the last axis, ``Identity``) and at most
    one ``Dropout``. A ``Linear`` without a bias gets b = 0.

    Raises:
      ValueError: naming the module's position, for a module that is not one of those (a convolution, GELU, …),
        two activations in a row, dropout after the last layer, or shapes that do not chain (naming the layer).
    """
    torch = _library("torch")
    if not isinstance(module, torch.nn.Sequential):
        raise ValueError(f"from_torch takes a torch.nn.Sequential of Linear layers and activations, got "
                         f"{type(module).__name__}")
    activation_names = {v: k for k, v in _TORCH_MODULES.items()}

    def read(position: int, child) -> tuple[str, Any]:
        kind = type(child).__name__
        if isinstance(child, torch.nn.Linear):
            W = child.weight.detach().cpu().numpy()
            b = (np.zeros(W.shape[:1], W.dtype) if child.bias is None else child.bias.detach().cpu().numpy())
            return "linear", (W, b)
        if isinstance(child, torch.nn.Identity):
            return "skip", None
        if isinstance(child, torch.nn.Dropout):
            return "dropout", float(child.p)
        if kind in activation_names and type(child) is getattr(torch.nn, kind):
            if kind == "Softmax" and child.dim not in (-1, None) and child.dim != 1:
                raise ValueError(f"module {position} of the Sequential is Softmax(dim={child.dim}); jaxnet's "
                                 f"softmax is over the last axis (dim=-1)")
            return "activation", activation_names[kind]
        raise ValueError(f"module {position} of the Sequential is {kind}, which jaxnet cannot take: it holds "
                         f"Linear layers, the activations {sorted(activation_names)} (and Identity), and Dropout")

    return _read_sequence(list(module), read, _Words("module", "a Linear layer", "Dropout"))


# --- Equinox ---------------------------------------------------------------------------------------------------

def _identity(x):
    return x


_JAX_FUNCTIONS: dict[str, Callable] = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh,
                                       "sign": jnp.sign, "identity": _identity, "softmax": jax.nn.softmax}
def _function(name: str) -> Callable:
    """The JAX function of activation ``name``: jax's own for the built-in ones, else the registered one's."""
    return _JAX_FUNCTIONS.get(name) or activations.get(name).fn


# Points where the activations differ from one another (a softmax is told apart by its rows summing to 1).
_PROBE = np.array([[-3.0, -1.0, -0.25, 0.0], [0.5, 1.0, 2.0, 4.0]], np.float32)


def _recognised(fn: Callable, *, elementwise: bool) -> str | None:
    """The jaxnet name of an activation function, by what it computes on a probe; ``None`` if none matches."""
    try:
        value = np.asarray(jax.vmap(jax.vmap(fn))(_PROBE) if elementwise else fn(_PROBE))
    except Exception:  # noqa: BLE001  (a function that cannot take the probe is not one of ours)
        return None
    for name in _JAX_FUNCTIONS:
        if elementwise and name == "softmax":
            continue
        expected = np.asarray(activations.get(name).fn(jnp.asarray(_PROBE)))
        if value.shape == expected.shape and np.allclose(value, expected, rtol=1e-6, atol=1e-6):
            return name
    return None


def to_equinox(params: mlp.Params, net: mlp.Net):
    """An ``eqx.nn.MLP`` computing ``mlp.apply(params, ·, net)`` on one example ``(d_0,)`` (``jax.vmap`` it for a
    batch); its weights are W_i as they are (``(out, in)`` in both).

    Raises:
      ValueError: for hidden layers of unequal widths or activations (``eqx.nn.MLP`` has one ``width_size`` and
        one ``activation``), a softmax anywhere (it applies activations one number at a time; keep the output
        as logits, ``output="identity"``, and apply ``jax.nn.softmax`` after it), or an output activation after a
        network's only layer (an ``eqx.nn.MLP`` of depth 0 applies none).
    """
    eqx = _library("equinox")
    layers, net = _folded(params, net)
    names = net.names(len(layers))
    widths = sorted({W.shape[0] for W, _ in layers[:-1]})
    if len(widths) > 1:
        raise ValueError(f"eqx.nn.MLP has one width for every hidden layer, but these are "
                         f"{[W.shape[0] for W, _ in layers[:-1]]}")
    if len(set(names[:-1])) > 1:
        raise ValueError(f"eqx.nn.MLP has one activation for every hidden layer, but these are {list(names[:-1])}")
    whole = [name for name in names if not activations.get(name).elementwise]
    if whole:
        held = "a softmax" if whole[0] == "softmax" else f"{whole[0]!r} (not element-wise)"
        raise ValueError(f"eqx.nn.MLP applies its activations to one number at a time, so it cannot hold {held}; "
                         f"use output='identity' (the cross-entropy takes logits) and apply {whole[0]} to its output")
    if len(layers) == 1 and names[0] != "identity":  # eqx.nn.MLP of depth 0 is its one Linear layer, nothing after
        raise ValueError(f"eqx.nn.MLP of depth 0 (one layer, as this network has) applies no activation, so it cannot "
                         f"hold the output {names[0]!r}; use output='identity' and apply {names[0]} to its output")
    # The layers Equinox draws are all replaced below by the network's own W_i and b_i (in their dtype).
    model = eqx.nn.MLP(layers[0][0].shape[1], layers[-1][0].shape[0], widths[0] if widths else 1, len(layers) - 1,
                       activation=_function(names[0]), final_activation=_function(names[-1]), key=jax.random.key(0))
    weights = [jnp.asarray(W) for W, _ in layers]
    biases = [jnp.asarray(b) for _, b in layers]
    model = eqx.tree_at(lambda m: [layer.weight for layer in m.layers], model, weights)
    return eqx.tree_at(lambda m: [layer.bias for layer in m.layers], model, biases)


def from_equinox(model) -> tuple[mlp.Params, mlp.Net]:
    """``(params, net)`` from an ``eqx.nn.MLP`` (a layer without bias gets b = 0): what it computes, so one of
    depth 0, which applies no activation, gives ``output="identity"``.

    Raises:
      ValueError: for another model, ``scan=True``, a ``"scalar"`` input or output, or an activation jaxnet does
        not have (recognised by what it computes: relu, sigmoid, tanh, sign, identity).
    """
    eqx = _library("equinox")
    if not isinstance(model, eqx.nn.MLP):
        raise ValueError(f"from_equinox takes an eqx.nn.MLP, got {type(model).__name__}")
    if getattr(model, "scan", False):
        raise ValueError("from_equinox takes an eqx.nn.MLP built with scan=False (its layers one by one)")
    if model.in_size == "scalar" or model.out_size == "scalar":
        raise ValueError("from_equinox takes an eqx.nn.MLP with vector input and output, not 'scalar'")
    found = []
    for role, fn in (("activation", model.activation), ("final_activation", model.final_activation)):
        if jax.tree.leaves(eqx.filter(fn, eqx.is_array)):
            raise ValueError(f"the MLP's {role} has learnt parameters, which jaxnet's activations do not")
        name = _recognised(fn, elementwise=True)
        if name is None:
            raise ValueError(f"the MLP's {role} {fn!r} is none of jaxnet's activations "
                             f"{[n for n in _JAX_FUNCTIONS if n != 'softmax']}")
        found.append(name)
    layers = [(np.asarray(layer.weight), np.asarray(layer.bias) if layer.bias is not None
               else np.zeros(layer.weight.shape[:1], layer.weight.dtype)) for layer in model.layers]
    # Of depth 0, an eqx.nn.MLP is its one Linear layer: it applies neither of its activations.
    return _as_params(layers), mlp.Net(found[0], "identity" if model.depth == 0 else found[1])


# --- Flax NNX --------------------------------------------------------------------------------------------------

def to_flax(params: mlp.Params, net: mlp.Net, *, rngs=None):
    """An ``nnx.Sequential`` computing ``mlp.apply(params, ·, net)``: per layer an ``nnx.Linear`` with kernel W_iᵀ
    (Flax's ``(in, out)``), its activation function unless it is the identity, and ``nnx.Dropout(p)`` after a
    hidden layer with a rate p > 0 (Flax applies it unless the model is in eval mode, ``model.eval()``).

    ``rngs``: the ``nnx.Rngs`` the modules are built with, from which the dropouts draw their units in training
    mode; by default ``nnx.Rngs(0)``, so a model made again drops the same units.
    """
    nnx = _library("flax.nnx", "flax")
    layers, net = _folded(params, net)
    names, rates = net.names(len(layers)), net.dropout_rates(len(layers)) + (0.0,)
    rngs = nnx.Rngs(0) if rngs is None else rngs
    modules: list[Any] = []
    for (W, b), name, rate in zip(layers, names, rates):
        kernel, bias = jnp.asarray(W.T), jnp.asarray(b)
        modules.append(nnx.Linear(W.shape[1], W.shape[0], param_dtype=W.dtype, rngs=rngs,
                                  kernel_init=lambda *_, k=kernel: k, bias_init=lambda *_, c=bias: c))
        if name != "identity":
            modules.append(_function(name))
        if rate > 0:
            modules.append(nnx.Dropout(rate, rngs=rngs))
    return nnx.Sequential(*modules)


def from_flax(model) -> tuple[mlp.Params, mlp.Net]:
    """``(params, net)`` from an ``nnx.Sequential`` of ``nnx.Linear`` layers (kernels transposed to ``(out, in)``),
    each followed by at most one activation function and at most one ``nnx.Dropout``; or one ``nnx.Linear``.

    Raises:
      ValueError: naming the entry's position, for a module that is not ``nnx.Linear`` or ``nnx.Dropout``, a
        function that is none of jaxnet's activations (recognised by what it computes), two activations in a row,
        dropout after the last layer, or shapes that do not chain (naming the layer).
    """
    nnx = _library("flax.nnx", "flax")
    entries = [model] if isinstance(model, nnx.Linear) else None
    if entries is None:
        if not isinstance(model, nnx.Sequential):
            raise ValueError(f"from_flax takes an nnx.Sequential of nnx.Linear layers and activations (or one "
                             f"nnx.Linear), got {type(model).__name__}")
        entries = list(model.layers)
    def read(position: int, entry) -> tuple[str, Any]:
        if isinstance(entry, nnx.Linear):
            W = np.ascontiguousarray(np.asarray(entry.kernel[...]).T)
            b = np.zeros(W.shape[:1], W.dtype) if entry.bias is None else np.asarray(entry.bias[...])
            return "linear", (W, b)
        if isinstance(entry, nnx.Dropout):
            return "dropout", float(entry.rate)
        if isinstance(entry, nnx.Module) or not callable(entry):
            raise ValueError(f"entry {position} of the Sequential is {type(entry).__name__}, which jaxnet cannot "
                             f"take: it holds nnx.Linear layers, activation functions and nnx.Dropout")
        name = _recognised(entry, elementwise=False)
        if name is None:
            raise ValueError(f"entry {position} of the Sequential, {entry!r}, is none of jaxnet's activations "
                             f"{list(_JAX_FUNCTIONS)}")
        return "activation", name

    return _read_sequence(entries, read, _Words("entry", "an nnx.Linear", "nnx.Dropout"))
