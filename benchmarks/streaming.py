"""Task M's epoch with the training set streamed from a memmap on disk (``Trainer(..., steps_per_call=K)``)
against the in-memory whole-epoch program.

The set is written once as a ``.npy`` file and opened with ``np.load(..., mmap_mode="r")``; each row's epochs are
interleaved with the others', so that the machine's noise falls on all alike. Columns: the median epoch, its ratio
to the in-memory epoch, and whether the parameters equal the in-memory run's bit for bit after the last epoch.
``python -m benchmarks.streaming`` (``--tiny``: a check on small sizes); ``make bench`` includes it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import jax
import numpy as np
import optax

if __name__ == "__main__" and not __package__:  # run as a file: import the packages from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from benchmarks.task_m import task_m_data  # noqa: E402
from jaxnet import mlp, train  # noqa: E402

STEPS = (50, 469)  # 469: a whole MNIST epoch of batch 128 in one call


def streaming_rows(n: int = 60_000, epochs: int = 5, batch: int = 128, steps=STEPS) -> list[dict]:
    """Median epoch seconds (the first epoch, which compiles, left out) in memory and streamed at each K."""
    x, y = task_m_data(n)
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "x.npy"), x)
        np.save(os.path.join(folder, "y.npy"), y)
        mapped = np.load(os.path.join(folder, "x.npy"), mmap_mode="r"), np.load(os.path.join(folder, "y.npy"),
                                                                                 mmap_mode="r")
        runs: dict[int | None, list] = {}
        for k in (None, *steps):
            trainer = train.Trainer(mlp.Net("relu", input_scale=255), loss="cross_entropy",
                                    optimizer=optax.sgd(0.1), batch_size=batch, steps_per_call=k)
            runs[k] = [trainer, trainer.init(mlp.init(jax.random.key(0), [784, 200, 10])), []]
        for epoch in range(1, epochs + 1):
            for k, run in runs.items():
                data = (x, y) if k is None else mapped
                tic = time.perf_counter()
                run[1], _ = run[0].fit(run[1], *data, epochs=epoch, key=jax.random.key(1), verbose=False)
                jax.block_until_ready(run[1].params)
                run[2].append(time.perf_counter() - tic)
        base = float(np.median(runs[None][2][1:]))
        rows = []
        for k, (_, state, times) in runs.items():
            same = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.params),
                                                             jax.tree.leaves(runs[None][1].params)))
            epoch_s = float(np.median(times[1:]))
            rows.append({"kind": "in memory" if k is None else f"memmap, K = {k}", "epoch_s": epoch_s,
                         "vs_memory": epoch_s / base, "bit_equal": same})
        del mapped
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| training set | epoch (s, median) | vs in memory | parameters equal bit for bit |", "|---|---:|---:|---|"]
    lines += [f"| {r['kind']} | {r['epoch_s']:.3f} | {r['vs_memory']:.2f} | {'yes' if r['bit_equal'] else 'no'} |"
              for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="small sizes (a check, not a measurement)")
    args = p.parse_args()
    print(markdown(streaming_rows(n=2560, epochs=2, steps=(5,)) if args.tiny else streaming_rows()))
