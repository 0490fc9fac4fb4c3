"""The compiled programs of Task M's epoch and of the width sweep's steps: a hash of their optimised XLA text, and
their speed, so that two versions of jaxnet can be compared program for program.

Task M: 784-200-10 ReLU, softmax cross-entropy, batch 128, SGD 0.1, one epoch of 60,000 ``uint8`` images (zeros:
the program and its speed do not depend on the values). The sweep: 1-1,000-1 tanh, 300 points, 1,000 full-batch
Adam steps in one call. The text is hashed with op metadata, source locations and instruction names left out, so
equal hashes mean the same instructions. Only ``jaxnet.train.make_epochs`` is used, which every version has:
``PYTHONPATH=<another checkout> python benchmarks/program_hash.py`` measures that checkout's jaxnet.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet import mlp, train


def normalised(text: str) -> str:
    """The HLO text without metadata, source tables and the names that Python functions give instructions."""
    text = re.sub(r", metadata=\{[^}]*\}", "", text)
    text = "\n".join(line for line in text.splitlines() if not re.match(r'^\s*\d+ ["{]', line))
    return re.sub(r"%[\w.\-]*epochs[\w.\-]*", "%name", text)


def measure(optimizer, net, sizes, x, y, batch_size: int, epochs: int, reps: int = 5) -> tuple[str, float]:
    """``(hash of the compiled program, median seconds of a call after the one that compiles)``."""
    run: Any = train.make_epochs(optimizer, net, loss="cross_entropy" if y.ndim == 1 else "mse", batch_size=batch_size)
    params = mlp.init(jax.random.key(0), sizes)
    ids = jnp.arange(epochs)
    digest = hashlib.sha256(normalised(run.lower(params, optimizer.init(params), x, y, jax.random.key(1), ids)
                                       .compile().as_text()).encode()).hexdigest()[:16]
    times = []
    for _ in range(reps + 1):
        fresh = jax.tree.map(jnp.array, params)  # the program donates its inputs
        tic = time.perf_counter()
        jax.block_until_ready(run(fresh, optimizer.init(fresh), x, y, jax.random.key(1), ids))
        times.append(time.perf_counter() - tic)
    return digest, float(np.median(times[1:]))


def main() -> None:
    m_hash, m_s = measure(optax.sgd(0.1), mlp.Net("relu", input_scale=255), [784, 200, 10],
                          jnp.zeros((60000, 784), jnp.uint8), jnp.zeros(60000, jnp.int32), 128, 1)
    u_hash, u_s = measure(optax.adam(1e-3), mlp.Net("tanh"), [1, 1000, 1], jnp.zeros((300, 1)), jnp.zeros((300, 1)),
                          300, 1000)
    print(f"jaxnet from {train.__file__}")
    print(f"task M epoch: program {m_hash}, {m_s:.3f} s")
    print(f"sweep, width 1,000: program {u_hash}, {1000 / u_s:,.0f} steps/s")


if __name__ == "__main__":
    main()
