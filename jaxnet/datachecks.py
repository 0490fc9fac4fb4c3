"""The checks on data, done once where it enters training or evaluation (the losses never inspect values): shapes,
NaN or inf with the first bad row, labels in range, and a warning for integer inputs a network does not scale. Any
array-like is read in blocks of :data:`CHECK_BYTES`, so a memmap's check reads it from disk without holding it.
"""

from __future__ import annotations

import warnings

import numpy as np

from jaxnet import losses, mlp

#: Data is checked about this many bytes at a time, so that a memmap's check reads it from disk without holding it.
CHECK_BYTES = 1 << 24


def _blocks(data):
    """``(start, end)`` of row blocks of about :data:`CHECK_BYTES` each (one block for a small set)."""
    n = int(data.shape[0])
    row_bytes = max(1, int(np.prod(data.shape[1:], dtype=np.int64)) * np.dtype(data.dtype).itemsize)
    rows = max(1, CHECK_BYTES // row_bytes)
    return ((start, min(start + rows, n)) for start in range(0, n, rows))


def check_inputs(name: str, x, d_in: int) -> None:
    """The checks on inputs: shape ``(N, d_in)`` with N ≥ 1, finite (read in blocks of :data:`CHECK_BYTES`).

    Raises:
      ValueError: naming ``name`` and the problem (the first bad row for NaN or inf).
    """
    shape = tuple(x.shape)
    if len(shape) != 2 or shape[1] != d_in:
        raise ValueError(f"{name}: x must have shape (N, {d_in}) for this network, got {shape}")
    if shape[0] == 0:
        raise ValueError(f"{name}: the set is empty (x has 0 examples)")
    if not np.issubdtype(x.dtype, np.integer):
        bad_rows = np.concatenate([start + np.flatnonzero(~np.isfinite(np.asarray(x[start:end])).all(axis=1))
                                   for start, end in _blocks(x)])
        if bad_rows.size:
            raise ValueError(f"{name}: x has NaN or inf in {bad_rows.size} rows, the first at row {bad_rows[0]}")


def check_data(name: str, x, y, loss: losses.Loss, d_in: int, d_out: int) -> None:
    """The value checks on data, done once where it enters (the losses themselves never inspect values); ``x`` and
    ``y`` may be any array-likes (a memmap is read in blocks of :data:`CHECK_BYTES`).

    Raises:
      ValueError: naming ``name`` and the problem: shapes, NaN or inf (with the first bad row), labels out of range.
    """
    check_inputs(name, x, d_in)
    n, y_shape = x.shape[0], tuple(y.shape)
    if len(y_shape) == 0:
        raise ValueError(f"{name}: y must have one row (or label) per example, got a scalar")
    if y_shape[0] != n:
        raise ValueError(f"{name}: x has {n} examples but y has {y_shape[0]} (shape {y_shape})")
    if np.issubdtype(y.dtype, np.integer):
        if not loss.integer_labels or len(y_shape) != 1:
            raise ValueError(f"{name}: integer targets of shape {y_shape} need a loss that takes integer labels "
                             f"(such as 'cross_entropy') and shape (N,)")
        blocks = [np.asarray(y[start:end]) for start, end in _blocks(y)]
        low, high = min(int(b.min()) for b in blocks), max(int(b.max()) for b in blocks)
        if low < 0 or high >= d_out:
            raise ValueError(f"{name}: labels must lie in [0, {d_out}), got min {low}, max {high}")
        return
    if y_shape != (n, d_out):
        raise ValueError(f"{name}: y must have shape ({n}, {d_out}) like the network's output, got {y_shape}")
    if not all(np.isfinite(np.asarray(y[start:end])).all() for start, end in _blocks(y)):
        raise ValueError(f"{name}: y contains NaN or inf")


class UnscaledInputWarning(UserWarning):
    """Integer inputs such as pixels 0–255 enter a network that does not scale them."""


def check_input_scale(name: str, x: np.ndarray, net: mlp.Net, *, stacklevel: int = 3) -> None:
    """Warns (:class:`UnscaledInputWarning`) when integer inputs with values above 1 meet a network with the default
    ``input_shift=0, input_scale=1``: raw pixels train markedly worse than scaled ones, without any error."""
    if np.issubdtype(x.dtype, np.integer) and (net.input_shift, net.input_scale) == (0.0, 1.0) and x.shape[0]:
        top = max(int(np.asarray(x[start:end]).max()) for start, end in _blocks(x))
        if top > 1:
            scale = 255.0 if x.dtype == np.uint8 else float(top)
            warnings.warn(
                f"{name}: x is {x.dtype} with values up to {top} and enters the network unscaled; build the network "
                f"with mlp.Net(..., input_scale={scale}) (the data stays {x.dtype} on "
                f"the device), or pass float inputs in [0, 1] (data.load_mnist's default)",
                UnscaledInputWarning, stacklevel=stacklevel)
