"""The one timing helper of the benchmarks: seconds per call, each call waited for, after calls that compile."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def seconds(fn: Callable, make_args: Callable[[], tuple] = tuple, *, reps: int = 3, warmup: int = 1) -> list[float]:
    """The wall time of each of ``reps`` calls ``fn(*make_args())``, after ``warmup`` untimed ones (which compile).

    ``make_args`` runs before each call, outside the timing: fresh copies for a program that donates its inputs.
    Each call is waited for (``jax.block_until_ready``), so asynchronous dispatch cannot hide its work.
    """
    times = []
    for i in range(warmup + reps):
        args = make_args()
        tic = time.perf_counter()
        jax.block_until_ready(fn(*args))
        if i >= warmup:
            times.append(time.perf_counter() - tic)
    return times


def module_env(**extra: str) -> dict[str, str]:
    """The environment for ``python -m benchmarks.<module>`` in a process of its own: the repository on the path."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": ROOT + (os.pathsep + path if path else ""), **extra}
