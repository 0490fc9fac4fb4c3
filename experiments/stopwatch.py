"""Where an experiment's seconds go: start-up and imports, data, compilation, training, evaluation, figures.

A :class:`Stopwatch` is started when the experiment's module is imported (the interpreter's own start-up, read from
the operating system where it says, counts as start-up); each later phase is timed with ``with watch.phase(name)``
or added from what the trainer measured. ``watch.report()`` is the short table both commands print at the end and
``watch.seconds`` the dict ``metrics.json`` keeps.
"""

from __future__ import annotations

import contextlib
import os
import time


def process_age() -> float:
    """Seconds since this process started, as Linux's ``/proc`` says; 0 where it cannot tell."""
    try:
        with open("/proc/self/stat") as f:
            started_ticks = float(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


class Stopwatch:
    """Seconds per phase, in the order first timed; what falls between phases is left out, not guessed."""

    def __init__(self, started_before: float = 0.0):
        self.seconds: dict[str, float] = {}
        self._mark = time.perf_counter()
        self._origin = self._mark - started_before

    def add(self, name: str, seconds: float) -> None:
        """Adds ``seconds`` to phase ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + max(0.0, float(seconds))

    def lap(self, name: str) -> None:
        """Adds the time since the last lap (or the start) to phase ``name``."""
        now = time.perf_counter()
        self.add(name, now - self._mark)
        self._mark = now

    def skip(self) -> None:
        """Moves the lap mark to now: what ran since was counted by :meth:`add`."""
        self._mark = time.perf_counter()

    @contextlib.contextmanager
    def phase(self, name: str):
        """Times the block as phase ``name``."""
        tic = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - tic)
            self._mark = time.perf_counter()

    def total(self) -> float:
        """Seconds from the process's start (as far as known) to now."""
        return time.perf_counter() - self._origin

    def report(self) -> str:
        """One line per phase and the total, e.g. ``training 7.9 s (61%)``."""
        total = self.total()
        shown = ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())
        rest = total - sum(self.seconds.values())
        return f"where the {total:.1f} s went: {shown}; unaccounted {max(rest, 0.0):.1f} s"


def training_split(history: list[dict]) -> tuple[float, float]:
    """``(compilation, training)`` seconds from a fit's per-epoch records. The epochs of one compiled call share
    its time equally, so the first call is the leading run of equal ``seconds``; its excess over the later epochs'
    median, epoch for epoch, is compilation (an estimate: it assumes the first call's steps run as fast as later
    ones). With a single call nothing tells them apart and all of it counts as training."""
    import numpy as np

    seconds = [float(r["seconds"]) for r in history]
    first = next((i for i, s in enumerate(seconds) if s != seconds[0]), len(seconds))
    if first == len(seconds):
        return 0.0, sum(seconds)
    steady = float(np.median(seconds[first:]))
    compile_s = max(0.0, first * (seconds[0] - steady))
    return compile_s, sum(seconds) - compile_s
