"""The benchmarks' report: Markdown tables, the machine they ran on, and ``benchmarks/RESULTS.md`` written from one
run (keeping the sections other scripts write into it)."""

from __future__ import annotations

import os
import platform
import re
import time

import jax
import numpy as np
import optax

from benchmarks.task_m import task_m_source, torch_available
from jaxnet import data


def table(rows, columns) -> str:
    head = "| " + " | ".join(title for title, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if fmt is None else "---:" for _, _, fmt in columns) + "|"
    body = ["| " + " | ".join(str(r[k]) if fmt is None else format(r[k], fmt) for _, k, fmt in columns) + " |"
            for r in rows]
    return "\n".join([head, rule, *body])


SECTION = re.compile(r"<!-- (\w+)-start -->.*?<!-- \1-end -->", re.S)


def kept_sections(text: str) -> list[str]:
    """The sections of RESULTS.md that another script wrote, each between ``<!-- name-start -->`` and
    ``<!-- name-end -->``."""
    return [m.group(0) for m in SECTION.finditer(text)]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = f"jax {jax.__version__}, optax {optax.__version__}, numpy {np.__version__}"
    if torch_available():
        import torch
        versions += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    return (f"{cpu}, {os.cpu_count()} cores, {jax.devices()[0].platform} backend; Python "
            f"{platform.python_version()}; {versions}")


def results_markdown(*, epochs, m_table, summary, limit_text, u_table, dp_table, sweep_table, sweep_model,
                     unroll_table="", tta_table="", streaming_table="") -> str:
    """The text of ``RESULTS.md`` from one run's tables and sentences."""
    return f"""# Benchmark results

Machine: {machine()}.
Command: `{'JAXNET_DATA_DIR=<the MNIST files> ' if data.find_idx_dir('mnist') else ''}make bench` (= `python -m benchmarks.run`), {time.strftime('%Y-%m-%d')}.

## Task M: MNIST-shaped epoch (60,000 × 784 float32, 784-200-10 ReLU, cross-entropy, batch 128, SGD 0.1)

Data: {task_m_source()}. Every implementation starts from the same parameters and sees the same
batches; epochs are interleaved across implementations; "epoch" is the median of epochs 2–{epochs}, "compile" the
first epoch's excess over it; "peak memory" is how far a fresh process running only that implementation for two
epochs grows its peak RSS past its baseline with all libraries imported (the 188 MB data set it builds included).
The last two columns are the largest difference of any parameter from jaxnet's after the first and the last epoch:
float32 round-off (different summation orders), which SGD then compounds step by step.

{m_table}

{summary}

{limit_text}

### The epoch's loop unrolled ({time.strftime('%Y-%m-%d')}, `python -m benchmarks.unroll`)

Task M's epoch with `Trainer(..., unroll=k)`: k minibatch steps per iteration of the epoch's `lax.scan` (the same
steps), every k's epochs interleaved; the last column is the products-alone time above divided by the epoch's.

{unroll_table}

### The training set streamed from disk ({time.strftime('%Y-%m-%d')}, `python -m benchmarks.streaming`)

Task M's epoch with the set in a memmap on disk, `Trainer(..., steps_per_call=K)`: the host gathers K minibatches
of the epoch's permutation while the device runs the previous K; one `fit` call per epoch, each checking the set
(read from disk in blocks) before it trains. Every row's epochs are interleaved with the others'.

{streaming_table}

## Time to 98.4% on MNIST ({time.strftime('%Y-%m-%d')}, `python -m benchmarks.time_to_accuracy`)

`make mnist`'s recipe (784-200-10 ReLU, standardised inputs, label smoothing 0.1, SGD with Nesterov 0.9, L2 decay
5e-4 on the weights, warm-up then cosine per step, batch 128, 8 epochs) in jaxnet and written for PyTorch, 3 seeds
each trained one after another, all 10,000 test images evaluated after every epoch. Seconds are training time summed
over the 3 seeds up to the end of that epoch (compilation included, evaluations excluded), one run.

{tta_table}

## Task U: universal-approximation network, full-batch Adam steps (300 points, tanh)

{u_table}

"plain JAX" is the network written out row-stacked in a `lax.scan` of full-batch Adam steps; "fit" is a held
`train.Trainer(..., epochs_per_call=steps)`'s `fit` of `steps` epochs, timed on calls after the one that compiles.
"fit, ensemble of 8" is a `Trainer(..., ensemble=True)`, which on a CPU trains the members one after another; "vmapped 8" is the vmapped
ensemble program it would use on an accelerator; the ratios are member-steps per second over plain JAX's steps per
second. The last column times, on its own, the matmul that vmapping adds: the first layer's weight gradient gᵀx of
all 8 members (g of shape 8 × 300 × width against the shared x) against 8 separate ones. Where it is well above 1,
XLA's CPU backend runs the batched form slowly, which is why a CPU trains the members in turn.

## Data parallel: Task M epoch on simulated host devices

On this machine all simulated devices share the same cores, so this shows the cost of sharding (all-reduces and
synchronisation), not a speed-up; on real multi-device hardware the same code splits the batch.

{dp_table}

## The sweep: an ensemble of 8 MNIST networks sharded over members

8 networks of 784-200-10 (batch 128, SGD), their members spread over the `"members"` axis of a mesh
(`placement.make_mesh(members=D, data=1)`): each device trains only its own members, with no gradient traffic between
them. Simulated devices share one process; "processes" are separate Python processes, one device each, joined by
`jax.distributed` with gloo collectives on loopback. This machine has 2 cores, so 2× is the ceiling: 4 devices
only share the same two cores.

{sweep_table}

{sweep_model}

## GPU

`bash benchmarks/gpu.sh` (MNIST to 98.4% and 784-4096-4096-10 at batch 4096 against the measured matmul rate) is
prepared; its figures go here once it has run on an accelerator.
"""


def write_results(path: str, text: str) -> None:
    """Writes ``text`` to ``path``, followed by the sections other scripts wrote there (benchmarks.playground's)."""
    if os.path.exists(path):
        with open(path) as f:
            text += "".join(f"\n{section}\n" for section in kept_sections(f.read()))
    with open(path, "w") as f:
        f.write(text)
