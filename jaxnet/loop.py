"""The host side of training, between compiled calls: progress, the JSON-lines log, the divergence check and the
checkpoints (including the ``resume=`` policy). Nothing here is traced.
"""

from __future__ import annotations

import json
import os
import sys

import jax
import numpy as np

from jaxnet import checkpoint

RESUME = (True, False, "auto")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell), where stderr is no terminal but a bar shows."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """A tqdm bar over epochs, shown only when asked for, and when stderr is a terminal or in a notebook (tqdm's
    notebook form where ipywidgets is installed, its text form otherwise)."""

    def __init__(self, total: int, initial: int, verbose: bool):
        self.bar = None
        if verbose and (sys.stderr.isatty() or in_notebook()):
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="epoch", dynamic_ncols=True)

    def update(self, n: int, record: dict) -> None:
        """Advances the bar by ``n`` epochs and shows ``record``'s losses and accuracy."""
        if self.bar is not None:
            shown = {k: v for k, v in record.items() if k.endswith(("_loss", "_accuracy"))}  # every named set's
            self.bar.set_postfix({k: f"{np.mean(v):.4g}" for k, v in shown.items()}, refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        """Closes the bar (a no-op without one)."""
        if self.bar is not None:
            self.bar.close()


def start_log(path, *, fresh: bool, first_epoch: int | None = None) -> None:
    """Empties the JSON-lines log at ``path`` for a fresh run; for a resumed one starting at ``first_epoch``, drops
    the lines of that epoch and later (a run killed after its last checkpoint wrote them), keeping the rest."""
    if path is None:
        return
    if fresh:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        open(path, "w").close()
    elif first_epoch is not None and os.path.exists(path):
        with open(path) as f:
            lines = f.readlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("epoch", 0) < first_epoch]
        if len(kept) != len(lines):
            with open(path, "w") as f:
                f.writelines(kept)


def append_log(path, records: list[dict]) -> None:
    """Appends one JSON line per record."""
    if path is not None:
        with open(path, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)


def check_finite(values: np.ndarray, first_epoch: int, epochs: int, checkpoint_path) -> None:
    """Raises ``FloatingPointError`` naming the first epoch (1-based) whose mean training loss is NaN or inf."""
    bad = np.flatnonzero(~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1))
    if bad.size:
        kept = f"; the last good checkpoint is {checkpoint_path}" if checkpoint_path else ""
        raise FloatingPointError(f"training diverged: the loss became non-finite in epoch "
                                 f"{first_epoch + bad[0] + 1} (of {epochs}){kept}")


def _key_data(key) -> np.ndarray:
    return np.asarray(jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key)


def should_resume(checkpoint_path, resume) -> bool:
    """Whether a run resumes, by the ``resume=`` policy: ``True`` (must), ``False`` (never), ``"auto"`` (if the
    checkpoint exists).

    Raises:
      ValueError: for another ``resume`` value, or ``resume=True`` without a checkpoint path.
      FileNotFoundError: for ``resume=True`` when the checkpoint does not exist.
    """
    if not any(resume is r for r in RESUME):
        raise ValueError(f"resume must be True, False or 'auto', got {resume!r}")
    if resume is True and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path to resume from")
    if resume is True and not os.path.exists(checkpoint_path):
        raise FileNotFoundError(f"resume=True but there is no checkpoint at {checkpoint_path}; pass resume=False to "
                                f"start fresh or resume='auto' to resume only when it exists")
    return resume is True or (resume == "auto" and checkpoint_path is not None and os.path.exists(checkpoint_path))


def restore(checkpoint_path, *, params, opt_state, key):
    """``(params, opt_state, epochs done, history)`` from the checkpoint, after checking it was written with ``key``."""
    params, opt_state, start, saved_key, header = checkpoint.restore(checkpoint_path, params=params,
                                                                      opt_state=opt_state)
    if not np.array_equal(_key_data(saved_key), _key_data(key)):
        raise ValueError(f"{checkpoint_path} was written by a run with another key; pass the same key to resume, or "
                         f"resume=False to start fresh")
    return params, opt_state, start, header["meta"].get("history", [])
