"""The playground's second tab: back-propagation by the lecture's tables, beside ``jax.grad``.

For a small network and one example (x, y), :func:`compute` runs :func:`jaxnet.backprop.tables` (the lecture's rules:
g_L = Φ'_L ∂L/∂ŷ, g_i = Φ'_i W_{i+1}ᵀ g_{i+1}, ∇W_i = g_i u_{i−1}ᵀ, ∇b_i = g_i) and ``jax.grad`` of the same loss,
and returns every number with their largest difference. The weights are jaxnet's initialisation for the seed and the
biases 0, as training starts; optionally the biases are drawn too (from the same seed), so that the + b of
v = W u + b shows in every table. Optionally the first unit of layer 1 gets an exactly zero pre-activation (its row
of W_1 and its bias set to 0), which shows the lecture's ReLU'(0) = 1.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments.cli import Range
from experiments.playground.fit import label
from jaxnet import backprop, gradcheck, losses, mlp

MAX_WIDTH, MAX_LAYERS = 12, 6  # what a page of tables can show
# |x| and |y| at most this: with 6 layers of 12 units and weights of N(0, 2/fan_in) (even at 10 σ), a forward and
# backward pass then stays far inside float32 (1e3 · (12 · 14)^11 ≈ 3e27 for the largest ∇W entry, the loss below
# 1e34, against float32's 3.4e38); x = 1e39 is itself inf in float32 and x = 1e30 overflows the loss.
BOUND = 1000.0
# A probability row must sum to 1 within this (typed decimals such as 0.1, 0.2, 0.7 sum to 1 ± 2e-16).
ROW_SUM_TOLERANCE = 1e-6
# The spread of the seeded biases: as large as a typical entry of v_1 for the default x (a bias of 1e-3 would not
# show in six digits beside it, one of 10 would swamp W u).
BIAS_SCALE = 0.5
LOSS_FORMULAS = {"mse": "½‖ŷ − y‖²", "mae": "‖ŷ − y‖₁", "cross_entropy": "−yᵀ log softmax(ŷ)"}


def numbers(text: str, what: str, bound: float = BOUND) -> list[float]:
    """``"0.5, -1, 2"`` (commas or spaces) as floats in [−bound, bound]; ``ValueError`` naming ``what`` otherwise."""
    parts = [p for p in str(text if text is not None else "").replace(",", " ").split() if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{what} must be numbers separated by commas, got {text!r}") from None
    if not values:
        raise ValueError(f"{what} is empty; give it numbers separated by commas")
    if not all(np.isfinite(values)) or max(abs(v) for v in values) > bound:
        raise ValueError(f"{what} must be numbers in [−{bound:,g}, {bound:,g}] (larger ones overflow float32 in a "
                         f"deep network), got {text!r}")
    return values


@dataclasses.dataclass(frozen=True)
class TableSettings:
    """The network and the example of the tab; numbers are given as text, as the page's boxes hold them."""

    sizes: str = "3, 4, 4, 2"  # d_0, d_1, ..., d_L
    activation: Literal["relu", "tanh", "sigmoid", "identity"] = "relu"  # φ_1 … φ_{L−1}
    output: Literal["identity", "sigmoid", "tanh", "softmax"] = "identity"  # φ_L
    loss: Literal["mse", "mae", "cross_entropy"] = "mse"
    x: str = "0.5, -1.0, 2.0"  # the example's input, d_0 numbers
    y: str = "1.0, 0.0"  # its target, d_L numbers (or, for the cross-entropy, one class)
    seed: Annotated[int, Range(0, 2**31 - 1)] = 1  # the parameters' initialisation (1: both signs in both layers)
    zero_unit: bool = True  # v_1's first entry exactly 0 (its row of W_1 and its bias zeroed)
    biases: bool = False  # biases drawn from N(0, BIAS_SCALE²) by the seed (else 0, as jaxnet initialises them)

    def __post_init__(self):
        cli.check(self, label)

    def layer_sizes(self) -> list[int]:
        try:
            sizes = numbers(self.sizes, "sizes", bound=math.inf)
        except ValueError:
            sizes = [math.nan]  # the message below says what sizes must be
        if not all(s.is_integer() and 1 <= s <= MAX_WIDTH for s in sizes) or not 2 <= len(sizes) <= MAX_LAYERS + 1:
            raise ValueError(f"sizes must be 2 to {MAX_LAYERS + 1} whole numbers in [1, {MAX_WIDTH}] (d_0 to d_L), "
                             f"got {self.sizes!r}")
        return [int(s) for s in sizes]

    def target(self, classes: int) -> np.ndarray:
        """y as ``(classes,)`` float32. For the cross-entropy, a probability row (entries in [0, 1] summing to 1) or
        one class k in [0, classes), which becomes its one-hot row; for the other losses, ``classes`` numbers."""
        y = numbers(self.y, "y")
        if self.loss != "cross_entropy":
            if len(y) != classes:
                raise ValueError(f"y has {len(y)} numbers; the network's output d_L = {classes} needs {classes}")
            return np.asarray(y, np.float32)
        if classes < 2:
            raise ValueError(f"the cross-entropy needs at least 2 classes, d_L ≥ 2 (a softmax over one output is "
                             f"always 1, so its loss is 0 whatever the network); sizes end in {classes}")
        if len(y) == 1 and classes > 1:
            if not (y[0].is_integer() and 0 <= y[0] < classes):
                raise ValueError(f"y for the cross-entropy is a class in 0 … {classes - 1} or {classes} probabilities,"
                                 f" got {self.y!r}")
            return np.eye(classes, dtype=np.float32)[int(y[0])]
        if len(y) != classes or min(y) < 0 or max(y) > 1 or abs(sum(y) - 1) > ROW_SUM_TOLERANCE:
            raise ValueError(f"y for the cross-entropy must be {classes} probabilities (each in [0, 1], summing to 1) "
                             f"or one class in 0 … {classes - 1}, got {self.y!r}")
        return np.asarray(y, np.float32)


def _host(a) -> list:
    """An array as nested float lists, with −0 written as 0 (the sign of a zero means nothing on this page)."""
    return (np.asarray(a, np.float64) + 0.0).tolist()


#: Compiled table programs kept, one per network (sizes, activations, loss, zeroed unit): a request for another
#: network compiles anew and pushes the oldest out, so the server's memory stays bounded whatever networks are asked
#: for (each request runs as one compiled program; run eagerly, every operation would compile and stay cached once
#: per shape).
PROGRAMS = 16


@functools.lru_cache(maxsize=PROGRAMS)
def _program(sizes: tuple[int, ...], activation: str, output: str, loss_name: str, zero_unit: bool, biases: bool):
    """``run(seed, x, y) -> (params, tables, jax.grad's gradients, signals, Φ' per layer)``, compiled once."""
    net, loss = mlp.Net(activation, output), losses.get(loss_name)
    phis = net.layers(len(sizes) - 1)

    def run(seed, x, y):
        key = jax.random.key(seed)
        params = mlp.init(key, list(sizes))
        if biases:  # a key of their own, so the weights stay those of the seed without biases
            keys = jax.random.split(jax.random.fold_in(key, 1), len(params))
            params = [(W, BIAS_SCALE * jax.random.normal(k, b.shape, b.dtype)) for (W, b), k in zip(params, keys)]
        if zero_unit:
            W, b = params[0]
            params[0] = (W.at[0].set(0.0), b.at[0].set(0.0))
        t = backprop.tables(params, x, y, net, loss=loss)
        auto = jax.grad(lambda p: loss.fn(mlp.apply(p, x, net), y))(params)
        signals = [params[i + 1][0].T @ t.g[i + 1] for i in range(len(params) - 1)] + [loss.signal(t.u[-1], y)]
        derivatives = [phi.derivative(v) for phi, v in zip(phis, t.v)]
        return params, t, auto, signals, derivatives

    return jax.jit(run)


def network(settings: TableSettings) -> tuple[mlp.Params, jax.Array, jax.Array, mlp.Net, losses.Loss]:
    """``(params, x, y, net, loss)`` of the tab's settings.

    Raises:
      ValueError: for sizes, x or y that do not fit, or a loss the output cannot go with (the library's message).
    """
    params, x, y, net, loss, _ = _run(settings)
    return params, x, y, net, loss


#: What the tables say when softmax and the cross-entropy are chosen together, as the lecture pairs them (section 4).
FUSED_NOTE = ("Softmax and the cross-entropy together, as the lecture pairs them: the network's last layer gives the "
              "logits ŷ (φ_L = identity) and the loss applies the softmax, z = softmax(ŷ), so g_L = z − y, the "
              "fused signal (section 4).")


def fused_output(settings: TableSettings) -> str:
    """The output activation the network gets: ``"identity"`` for softmax + cross-entropy (the loss applies the
    softmax to the logits: applying it twice would be wrong), else the one chosen."""
    return "identity" if (settings.output, settings.loss) == ("softmax", "cross_entropy") else settings.output


def _run(settings: TableSettings):
    """The settings checked, and their program's results: ``(params, x, y, net, loss, results)``."""
    sizes = settings.layer_sizes()
    x = np.asarray(numbers(settings.x, "x"), np.float32)
    if x.shape != (sizes[0],):
        raise ValueError(f"x has {x.size} numbers; the network's input d_0 = {sizes[0]} needs {sizes[0]}")
    y = settings.target(sizes[-1])
    output = fused_output(settings)
    net = mlp.Net(settings.activation, output)
    loss = losses.get(settings.loss)
    backprop.check_supported(loss, net.output)
    results = _program(tuple(sizes), settings.activation, output, settings.loss, settings.zero_unit,
                       settings.biases)(
        np.int32(settings.seed), jnp.asarray(x), jnp.asarray(y))
    return results[0], jnp.asarray(x), jnp.asarray(y), net, loss, results


def compute(settings: TableSettings) -> dict:
    """Every table of the tab as plain lists, and ``max_difference``: the largest |manual − jax.grad| of any entry
    of any ∇W_i or ∇b_i.

    Each layer's entry holds W, b, v, u, g, dW, db and jax.grad's dW and db, and ``signal``: what Φ'_i multiplies,
    W_{i+1}ᵀ g_{i+1} for a hidden layer and ∂L/∂ŷ for the output. An element-wise φ gives ``derivative`` (φ'(v), so
    g = φ'(v) ⊙ signal); softmax gives ``jacobian`` (diag z − z zᵀ, so g = Jᵀ signal) and no ``derivative``.

    Raises:
      ValueError: for sizes, x or y that do not fit, or a loss the output cannot go with (the library's message).
    """
    params, xs, ys, net, loss, (_, t, auto, signals, derivatives) = _run(settings)
    y, sizes = np.asarray(ys), [W.shape[1] for W, _ in params[:1]] + [W.shape[0] for W, _ in params]
    phis = net.layers(len(params))
    layers: list[dict] = []
    for i, ((W, b), phi) in enumerate(zip(params, phis)):
        layer: dict = {"layer": i + 1, "activation": phi.name, "W": _host(W), "b": _host(b), "v": _host(t.v[i]),
                 "u": _host(t.u[i + 1]), "signal": _host(signals[i]), "g": _host(t.g[i]), "dW": _host(t.dW[i]),
                 "db": _host(t.db[i]), "dW_autodiff": _host(auto[i][0]), "db_autodiff": _host(auto[i][1]),
                 "difference": float(max(np.max(np.abs(np.asarray(t.dW[i]) - np.asarray(auto[i][0]))),
                                         np.max(np.abs(np.asarray(t.db[i]) - np.asarray(auto[i][1])))))}
        layer["derivative" if phi.elementwise else "jacobian"] = _host(derivatives[i])
        layers.append(layer)
    result = {"sizes": sizes, "x": _host(t.u[0]), "y": _host(y), "yhat": _host(t.u[-1]), "loss": float(t.loss),
              "loss_name": loss.name, "loss_formula": LOSS_FORMULAS.get(loss.name, loss.name), "layers": layers,
              "max_difference": max(layer["difference"] for layer in layers),
              "note": FUSED_NOTE if fused_output(settings) != settings.output else ""}
    check_finite(result)
    return result


def check_finite(result: dict) -> None:
    """Raises ``ValueError`` if any number of ``result`` is not finite: the bounds on x and y are meant to make that
    impossible, and a page of nan would say nothing."""
    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        elif isinstance(value, float):
            yield value
    bad = [v for v in leaves(result) if not np.isfinite(v)]
    if bad:
        raise ValueError(f"this network and example overflow float32 ({len(bad)} numbers are not finite); use smaller "
                         f"x and y")


# What a student may check by hand: the table's name on the page, and jaxnet.gradcheck's name for it.
CHECKED = {"g": "g", "∇W": "dW"}


def typed_table(text: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A table typed into a box: ``(d,)`` as d numbers, ``(rows, cols)`` as rows separated by ``;`` or new lines.

    Raises:
      ValueError: naming ``what`` and the shape it needs.
    """
    rows = [r for r in str(text if text is not None else "").replace(";", "\n").splitlines() if r.strip()]
    if len(shape) == 1:
        values = numbers(" ".join(rows), what)
        if len(values) != shape[0]:
            raise ValueError(f"{what} needs {shape[0]} numbers, got {len(values)}")
        return np.asarray(values)  # Python floats: float64
    if len(rows) != shape[0]:
        raise ValueError(f"{what} needs {shape[0]} rows of {shape[1]} numbers (rows separated by ';' or new lines), "
                         f"got {len(rows)} rows")
    table = [numbers(row, f"{what}, row {k + 1}") for k, row in enumerate(rows)]
    for k, row in enumerate(table, start=1):
        if len(row) != shape[1]:
            raise ValueError(f"{what}, row {k}, needs {shape[1]} numbers, got {len(row)}")
    return np.asarray(table)  # Python floats: float64


def check_entries(settings: TableSettings, layer, table: str, text: str) -> dict:
    """The student's g_i or ∇W_i (``table``: ``"g"`` or ``"∇W"``) for the tab's network, checked entry by entry by
    :func:`jaxnet.gradcheck.check_table`: ``{"given", "right", "diagnosis", "text", "layer", "table"}``.

    Raises:
      ValueError: a layer the network does not have, a table of the wrong size, or what :func:`network` refuses.
    """
    if table not in CHECKED:
        raise ValueError(f"table must be one of {list(CHECKED)}, got {table!r}")
    params, x, y, net, loss = network(settings)
    if not 1 <= layer <= len(params):
        raise ValueError(f"layer must be a whole number from 1 to {len(params)} (the network's layers), got {layer}")
    W = params[layer - 1][0]
    shape = (W.shape[0],) if table == "g" else tuple(W.shape)
    name = f"{table}{layer}"
    given = typed_table(text, shape, name)
    report = gradcheck.check_table(given, params, x, y, net, loss=loss, layer=layer, quantity=CHECKED[table])
    return {"table": table, "layer": layer, "given": _host(given), "right": report.right.tolist(),
            "diagnosis": report.diagnosis, "text": report.text}
