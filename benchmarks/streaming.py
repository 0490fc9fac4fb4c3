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


def anonymous_mib() -> float:
    """This process's anonymous resident memory (Linux's RssAnon: not the page cache a memmap is read through)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon")) / 1024


def memory_row(gib: float, width: int = 3000, steps_per_call: int = 8) -> dict:
    """One streamed epoch of a uint8 set of ``gib`` GiB on disk (rows of ``width`` pixels, 10 classes), evaluated
    on itself: how far the process's anonymous memory grows past where a first small epoch left it."""
    rows = int(gib * 2**30) // width
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        x = np.lib.format.open_memmap(os.path.join(folder, "x.npy"), mode="w+", dtype=np.uint8, shape=(rows, width))
        for start in range(0, rows, 50_000):
            x[start:start + 50_000] = rng.integers(0, 256, (min(50_000, rows - start), width), dtype=np.uint8)
        x.flush()
        np.save(os.path.join(folder, "y.npy"), rng.integers(0, 10, rows).astype(np.int32))
        del x
        x, y = (np.load(os.path.join(folder, f), mmap_mode="r") for f in ("x.npy", "y.npy"))
        trainer = train.Trainer(mlp.Net("relu", input_scale=255.0), loss="cross_entropy", optimizer=optax.sgd(0.1),
                                batch_size=256, steps_per_call=steps_per_call, eval_chunk_size=1024)
        state = trainer.init(mlp.init(jax.random.key(0), [width, 32, 10]))
        small = np.asarray(x[:4096]), np.asarray(y[:4096])  # compiles every program first
        state, _ = trainer.fit(state, *small, epochs=1, key=jax.random.key(1), verbose=False, eval_data=small)
        before, tic = anonymous_mib(), time.perf_counter()
        trainer.fit(state._replace(epoch=0), x, y, epochs=1, key=jax.random.key(1), verbose=False, eval_data=(x, y))
        seconds, grown = time.perf_counter() - tic, anonymous_mib() - before
        del x, y
    return {"set_gib": rows * width / 2**30, "grown_mib": grown, "seconds": seconds}


def markdown(rows: list[dict]) -> str:
    lines = ["| training set | epoch (s, median) | vs in memory | parameters equal bit for bit |", "|---|---:|---:|---|"]
    lines += [f"| {r['kind']} | {r['epoch_s']:.3f} | {r['vs_memory']:.2f} | {'yes' if r['bit_equal'] else 'no'} |"
              for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="small sizes (a check, not a measurement)")
    p.add_argument("--memory", type=float, metavar="GIB", help="instead: one streamed epoch of a set of GIB GiB "
                   "written to a temporary folder, and how far it grows the process's anonymous memory")
    args = p.parse_args()
    if args.memory:
        row = memory_row(args.memory)
        print(f"a {row['set_gib']:.2f} GiB set on disk: one epoch and its evaluation in {row['seconds']:.0f} s, "
              f"anonymous memory grown by {row['grown_mib']:.0f} MiB")
    else:
        print(markdown(streaming_rows(n=2560, epochs=2, steps=(5,)) if args.tiny else streaming_rows()))
