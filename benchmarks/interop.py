"""The largest output difference between jaxnet and each library it exports to (PyTorch, Equinox, Flax NNX).

For every activation the other library holds, a 784-200-200-10 float32 network (He initialisation, biases drawn
from N(0, 0.1²)) is exported with ``jaxnet.interop`` and run on 1,000 standard-normal inputs; the table gives the
largest absolute difference from ``mlp.apply`` and that difference relative to the largest output (float32's
resolution is 6e-8 of it) and whether the round trip came back bit-identical.
``python -m benchmarks.interop`` (needs the ``interop`` extra).
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

if __name__ == "__main__" and not __package__:  # run as a file: import the packages from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from jaxnet import interop, mlp  # noqa: E402

SIZES = [784, 200, 200, 10]
# What each library holds: PyTorch has no sign module; eqx.nn.MLP applies activations elementwise (no softmax).
OUTPUTS = {"torch": ("identity", "sigmoid", "tanh", "relu", "softmax"),
           "equinox": ("identity", "sigmoid", "tanh", "relu", "sign"),
           "flax": ("identity", "sigmoid", "tanh", "relu", "softmax", "sign")}
HIDDEN = {"torch": ("relu", "sigmoid", "tanh", "identity"), "equinox": ("relu", "sigmoid", "tanh", "identity", "sign"),
          "flax": ("relu", "sigmoid", "tanh", "identity", "sign")}


def run_model(library: str, model, x: np.ndarray) -> np.ndarray:
    if library == "torch":
        import torch

        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()
    if library == "equinox":
        return np.asarray(jax.vmap(model)(x))
    return np.asarray(model(x))


def differences(library: str, seed: int = 0) -> dict:
    """The largest differences over every hidden × output activation pair the library holds."""
    keys = jax.random.split(jax.random.key(seed), 3)
    params = [(W, 0.1 * jax.random.normal(k, b.shape)) for (W, b), k in
              zip(mlp.init(keys[0], SIZES), jax.random.split(keys[1], len(SIZES) - 1))]
    x = np.array(jax.random.normal(keys[2], (1000, SIZES[0])))
    absolute, relative, pairs, identical = 0.0, 0.0, 0, True
    to, back = getattr(interop, f"to_{library}"), getattr(interop, f"from_{library}")
    for hidden in HIDDEN[library]:
        for output in OUTPUTS[library]:
            net = mlp.Net(hidden, output)
            expected = np.asarray(mlp.apply(params, jnp.asarray(x), net), np.float64)
            got = run_model(library, to(params, net), x).astype(np.float64)
            gap = np.abs(got - expected)
            absolute = max(absolute, float(gap.max()))
            relative = max(relative, float(gap.max() / np.abs(expected).max()))
            pairs += 1
            returned, _ = back(to(params, net))
            identical = identical and all(np.array_equal(a, b) for a, b in
                                          zip(jax.tree.leaves(returned), jax.tree.leaves(params)))
    return {"absolute": absolute, "relative": relative, "pairs": pairs, "round_trips_identical": identical}


def main() -> None:
    print("| library | activation pairs | largest absolute difference | relative to the largest output | round trips |")
    print("|---|---|---|---|---|")
    for library in ("torch", "equinox", "flax"):
        d = differences(library)
        print(f"| {library} | {d['pairs']} | {d['absolute']:.2e} | {d['relative']:.2e} | "
              f"{'bit-identical' if d['round_trips_identical'] else 'DIFFER'} |")


if __name__ == "__main__":
    main()
