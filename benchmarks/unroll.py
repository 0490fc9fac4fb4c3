"""Task M's epoch with the minibatch scan unrolled 1, 2, 4 and 8 steps to a loop iteration, against the epoch's
matrix products alone (:func:`benchmarks.task_m.matmul_rates`).

The epochs of every ``unroll`` are interleaved, so that the machine's noise falls on all alike; each row gives
the median epoch, and the products-alone time divided by it (1.0: the epoch costs no more than its products).
``python -m benchmarks.unroll`` (``--tiny``: a check on small sizes); ``make bench`` includes it and
``benchmarks/gpu.sh`` runs it on the device.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

if __name__ == "__main__" and not __package__:  # run as a file: import the packages from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from benchmarks.task_m import matmul_rates, task_m_data  # noqa: E402
from jaxnet import mlp, program  # noqa: E402

UNROLLS = (1, 2, 4, 8)


def unroll_rows(n: int = 60_000, epochs: int = 6, batch: int = 128, unrolls=UNROLLS) -> list[dict]:
    """Median epoch seconds per ``unroll`` (the first epoch, which compiles, left out) and the products-alone
    ratio, measured in one run."""
    x, y = task_m_data(n)
    xs, ys, key = jnp.asarray(x), jnp.asarray(y), jax.random.key(1)
    optimizer = optax.sgd(0.1)
    net = mlp.Net("relu", input_scale=255)
    runs = {}
    for unroll in unrolls:
        params = mlp.init(jax.random.key(0), [784, 200, 10])
        runs[unroll] = [program.make_epochs(optimizer, net, loss="cross_entropy", batch_size=batch, unroll=unroll),
                        params, optimizer.init(params)]
    times: dict[int, list[float]] = {u: [] for u in unrolls}
    for e in range(epochs):
        for unroll, run in runs.items():
            tic = time.perf_counter()
            run[1], run[2], loss = run[0](run[1], run[2], xs, ys, key, jnp.arange(e, e + 1))
            jax.block_until_ready(loss)
            times[unroll].append(time.perf_counter() - tic)
    products = matmul_rates(x, batch=batch, size=256)["products_s"]
    return [{"unroll": u, "epoch_s": float(np.median(times[u][1:])), "compile_s": times[u][0] - float(
        np.median(times[u][1:])), "products_over_epoch": products / float(np.median(times[u][1:]))}
            for u in unrolls]


def markdown(rows: list[dict]) -> str:
    lines = ["| unroll | epoch (s, median) | first epoch's extra (compilation, s) | products alone / epoch |",
             "|---:|---:|---:|---:|"]
    lines += [f"| {r['unroll']} | {r['epoch_s']:.3f} | {r['compile_s']:.2f} | {r['products_over_epoch']:.2f} |"
              for r in rows]
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true")
    args = p.parse_args(argv)
    rows = unroll_rows(n=1280, epochs=2) if args.tiny else unroll_rows()
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()
