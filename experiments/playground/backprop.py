"""The playground's second tab: back-propagation by the lecture's tables, beside ``jax.grad``.

For a small network and one example (x, y), :func:`compute` runs :func:`jaxnet.backprop.tables` (the lecture's rules:
g_L = Φ'_L ∂L/∂ŷ, g_i = Φ'_i W_{i+1}ᵀ g_{i+1}, ∇W_i = g_i u_{i−1}ᵀ, ∇b_i = g_i) and ``jax.grad`` of the same loss,
and returns every number with their largest difference. Optionally the first unit of layer 1 gets an exactly zero
pre-activation (its row of W_1 and its bias set to 0), which shows the lecture's ReLU'(0) = 1.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments.cli import Range
from experiments.playground.fit import label
from jaxnet import backprop, losses, mlp

MAX_WIDTH, MAX_LAYERS = 12, 6  # what a page of tables can show


def numbers(text: str, what: str) -> list[float]:
    """``"0.5, -1, 2"`` (commas or spaces) as floats; ``ValueError`` naming ``what`` for anything else."""
    parts = [p for p in str(text or "").replace(",", " ").split() if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{what} must be numbers separated by commas, got {text!r}") from None
    if not values:
        raise ValueError(f"{what} is empty; give it numbers separated by commas")
    if not all(np.isfinite(values)):
        raise ValueError(f"{what} must be finite numbers, got {text!r}")
    return values


@dataclasses.dataclass(frozen=True)
class TableSettings:
    """The network and the example of the tab; numbers are given as text, as the page's boxes hold them."""

    sizes: str = "3, 4, 4, 2"  # d_0, d_1, ..., d_L
    activation: Literal["relu", "tanh", "sigmoid", "identity"] = "relu"  # φ_1 … φ_{L−1}
    output: Literal["identity", "sigmoid", "tanh", "softmax"] = "identity"  # φ_L
    loss: Literal["mse", "mae", "cross_entropy"] = "mse"
    x: str = "0.5, -1.0, 2.0"  # the example's input, d_0 numbers
    y: str = "1.0, 0.0"  # its target, d_L numbers
    seed: Annotated[int, Range(0, 2**31 - 1)] = 1  # the parameters' initialisation (1: both signs in both layers)
    zero_unit: bool = True  # v_1's first entry exactly 0 (its row of W_1 and its bias zeroed)

    def __post_init__(self):
        cli.check(self, label)

    def layer_sizes(self) -> list[int]:
        sizes = numbers(self.sizes, "sizes")
        if not all(s.is_integer() and 1 <= s <= MAX_WIDTH for s in sizes) or not 2 <= len(sizes) <= MAX_LAYERS + 1:
            raise ValueError(f"sizes must be 2 to {MAX_LAYERS + 1} whole numbers in [1, {MAX_WIDTH}] (d_0 to d_L), "
                             f"got {self.sizes!r}")
        return [int(s) for s in sizes]


def compute(settings: TableSettings) -> dict:
    """Every table of the tab as plain lists, and ``max_difference``: the largest |manual − jax.grad| of any entry
    of any ∇W_i or ∇b_i.

    Raises:
      ValueError: for sizes, x or y that do not fit, or a loss the output cannot go with (the library's message).
    """
    sizes = settings.layer_sizes()
    x = np.asarray(numbers(settings.x, "x"), np.float32)
    y = np.asarray(numbers(settings.y, "y"), np.float32)
    if x.shape != (sizes[0],):
        raise ValueError(f"x has {x.size} numbers; the network's input d_0 = {sizes[0]} needs {sizes[0]}")
    if y.shape != (sizes[-1],):
        raise ValueError(f"y has {y.size} numbers; the network's output d_L = {sizes[-1]} needs {sizes[-1]}")
    net = mlp.Net(settings.activation, settings.output)
    loss = losses.get(settings.loss)
    backprop.check_supported(loss, net.output)
    params = mlp.init(jax.random.key(settings.seed), sizes)
    if settings.zero_unit:
        W, b = params[0]
        params[0] = (W.at[0].set(0.0), b.at[0].set(0.0))
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    t = backprop.tables(params, xs, ys, net, loss=loss)
    auto = jax.grad(lambda p: loss.fn(mlp.apply(p, xs, net), ys))(params)
    phis = net.layers(len(params))
    host = lambda a: np.asarray(a, np.float64).tolist()
    layers = []
    for i, ((W, b), phi) in enumerate(zip(params, phis)):
        derivative = phi.derivative(t.v[i])
        layers.append({
            "layer": i + 1, "activation": phi.name, "W": host(W), "b": host(b), "v": host(t.v[i]),
            "u": host(t.u[i + 1]), "derivative": host(derivative if phi.elementwise else jnp.diagonal(derivative)),
            "g": host(t.g[i]), "dW": host(t.dW[i]), "db": host(t.db[i]),
            "dW_autodiff": host(auto[i][0]), "db_autodiff": host(auto[i][1]),
            "difference": float(max(jnp.max(jnp.abs(t.dW[i] - auto[i][0])), jnp.max(jnp.abs(t.db[i] - auto[i][1]))))})
    return {"sizes": sizes, "x": host(t.u[0]), "y": host(y), "yhat": host(t.u[-1]), "loss": float(t.loss),
            "loss_name": loss.name, "layers": layers, "max_difference": max(layer["difference"] for layer in layers)}
