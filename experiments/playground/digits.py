"""The playground's third tab: a digit drawn on a pad, preprocessed as MNIST's were, read by the lecture's network.

MNIST's digits were "size normalized to fit in a 20x20 pixel box while preserving their aspect ratio" (with
anti-aliasing, hence grey levels) and "centered in a 28x28 image by computing the center of mass of the pixels"
(LeCun, Cortes and Burges). :func:`preprocess` does the same to a drawing. Measured on the 10,000 test images, the
box is 20 pixels on its longer side (5th to 95th percentile) and the centre of mass sits at row 13.99 and column
14.01 (standard deviations 0.29), in 0-based pixel coordinates: so the drawing's centre of mass goes to (14, 14).

The network is the one ``make mnist`` trained (its checkpoint), or one trained for a few epochs when the page starts
(:func:`load_model`).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import NamedTuple

import jax
import numpy as np
from PIL import Image

from experiments import mnist
from jaxnet import activations, checkpoint, data, mlp

BOX, SIDE, CENTRE = 20, 28, 14.0  # MNIST's box, image side and centre of mass (see the module docstring)
INK_FLOOR = 0.05  # ink below this (of full black) is anti-aliasing dust, not part of the digit's bounding box


# The largest drawing read, in pixels (the pad's is 280 × 280). A drawing takes memory on its way to 28 × 28 in
# proportion to its pixels (decoded RGBA, then floats, then the ink); at this limit one reading took 53 MB of the
# server's memory in `python -m benchmarks.playground` (docs/playground.md).
MAX_PIXELS = 1_000_000


class EmptyDrawing(ValueError):
    """A drawing with no ink."""


class NotADigit(ValueError):
    """A drawing whose ink cannot be a digit: a dot, or a pad nearly all inked."""


# A digit's ink spans at least this share of the pad's longer side (a drawn MNIST digit spans 20/28 of it; a dot
# boxed into 20 pixels would be read as some digit at random), and covers at most this share of its pixels (MNIST's
# digits light about a fifth of theirs; an all-black pad is no digit).
MIN_SPAN, MAX_COVER = 0.08, 0.5


def check_size(size: tuple[int, int]) -> None:
    """Raises ``ValueError`` for an image of ``(width, height)`` over :data:`MAX_PIXELS` pixels, naming its size."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise ValueError(f"the drawing is {width:,} × {height:,} pixels; at most {MAX_PIXELS:,} pixels are read "
                         f"(the pad's is 280 × 280)")


def ink(canvas: np.ndarray) -> np.ndarray:
    """A drawing's ink in [0, 1], ``(H, W)``: dark strokes on a light or transparent canvas.

    Args:
      canvas: ``(H, W)`` grey levels, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, 0–255; RGBA is laid over white first
        (a pad's layer is transparent where nothing was drawn).
    """
    canvas = np.asarray(canvas, np.float64) / 255.0
    if canvas.ndim == 3 and canvas.shape[-1] == 4:
        alpha = canvas[..., 3:]
        canvas = canvas[..., :3] * alpha + (1.0 - alpha)  # over white
    if canvas.ndim == 3 and canvas.shape[-1] == 3:
        canvas = canvas @ np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as PIL's "L"
    if canvas.ndim != 2:
        raise ValueError(f"a drawing must be (H, W), (H, W, 3) or (H, W, 4), got shape {canvas.shape}")
    return 1.0 - canvas


def preprocess(canvas: np.ndarray) -> np.ndarray:
    """The drawing as an MNIST digit: float32 ``(28, 28)`` in [0, 255], white ink on black.

    The bounding box of the ink is scaled (anti-aliased, keeping its aspect) so that its longer side is 20 pixels,
    its darkest pixel set to 255, and it is placed in 28 × 28 with its centre of mass at (14, 14) (to the nearest
    pixel, and never cut off).

    Raises:
      EmptyDrawing: if nothing was drawn.
      NotADigit: for a dot (ink spanning under :data:`MIN_SPAN` of the pad) or a pad nearly all inked (over
        :data:`MAX_COVER`): a network asked to read either would name some digit anyway.
      ValueError: for a drawing of more than :data:`MAX_PIXELS` pixels.
    """
    canvas = np.asarray(canvas)
    check_size((canvas.shape[1], canvas.shape[0]) if canvas.ndim >= 2 else (canvas.size, 1))
    amount = ink(canvas)
    lit = np.argwhere(amount > INK_FLOOR)  # (row, column) of every inked pixel
    if lit.size == 0:
        raise EmptyDrawing("the drawing is empty: draw a digit on the pad first")
    (top, left), (bottom, right) = lit.min(axis=0), lit.max(axis=0)
    span = max(bottom - top + 1, right - left + 1) / max(amount.shape)
    if span < MIN_SPAN:
        raise NotADigit(f"this does not look like a digit: its ink spans {span:.0%} of the pad; draw the digit "
                        f"larger (a digit spans most of it)")
    cover = len(lit) / amount.size
    if cover > MAX_COVER:
        raise NotADigit(f"this does not look like a digit: ink covers {cover:.0%} of the pad; clear it and draw "
                        f"one digit")
    crop = amount[top: bottom + 1, left: right + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL's (width, height)
    # A float32 image is PIL's mode "F"; bilinear weights are never negative, so neither is any pixel.
    small = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.Resampling.BILINEAR))
    small = small / small.max() * 255.0
    r = np.arange(small.shape[0]) @ small.sum(axis=1) / small.sum()
    c = np.arange(small.shape[1]) @ small.sum(axis=0) / small.sum()
    top = int(np.clip(round(CENTRE - r), 0, SIDE - small.shape[0]))
    left = int(np.clip(round(CENTRE - c), 0, SIDE - small.shape[1]))
    digit = np.zeros((SIDE, SIDE), np.float32)
    digit[top: top + small.shape[0], left: left + small.shape[1]] = small
    return digit


class Model(NamedTuple):
    """A trained 784-…-10 network and what the page says about it."""

    params: mlp.Params
    net: mlp.Net
    description: str  # where it came from and its test accuracy, in one sentence


def from_checkpoint(path: str, description: str) -> Model:
    """The first network of a checkpoint written by ``experiments/mnist.py`` (an ensemble's member 0)."""
    header = checkpoint.read_header(path)
    meta = header["meta"]
    members = header["leaves"][0]["shape"][0]
    template = mlp.init_ensemble(jax.random.key(0), members, meta["sizes"])
    params = checkpoint.restore_params(path, params=template)
    net = mlp.Net(meta["activation"], meta["output"], input_shift=meta["input_shift"],
                  input_scale=meta["input_scale"])
    return Model(jax.tree.map(lambda a: a[0], params), net, description)


def _accuracy(directory: str) -> str:
    path = os.path.join(directory, "metrics.json")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f", test accuracy {json.load(f)['test_accuracy_per_seed'][0]:.2%}"


def load_model(checkpoint_path: str | None, data_dir: str | None, startup_epochs: int) -> tuple[Model | None, str]:
    """The tab's network and a sentence about it: ``make mnist``'s checkpoint if there is one; else, when the MNIST
    files are found, a ``startup_epochs``-epoch network trained now (``experiments/mnist.py``'s recipe, one seed);
    else ``None`` and how to get the files."""
    if checkpoint_path and os.path.exists(checkpoint_path):
        directory = os.path.dirname(checkpoint_path)
        epochs = checkpoint.read_header(checkpoint_path)["epoch"]
        text = f"The network `make mnist` trained ({checkpoint_path}, {epochs} epochs{_accuracy(directory)})."
        return from_checkpoint(checkpoint_path, text), text
    if data.find_idx_dir("mnist", data_dir) is None:
        return None, ("No network: there is no checkpoint from `make mnist` and the MNIST files were not found. Put "
                      "the four MNIST `.gz` IDX files in a folder and set `JAXNET_DATA_DIR` to it (or pass "
                      "`--data-dir`), then restart the playground, or run `make mnist` first. The other tabs work "
                      "without them.")
    out = tempfile.mkdtemp(prefix="jaxnet-playground-")
    mnist.main(mnist.Config(epochs=startup_epochs, seeds=1, data_dir=data_dir, source="idx", out=out, plots=False,
                            verbose=False))
    text = (f"No checkpoint from `make mnist` (`{checkpoint_path}`), so this network was trained when the "
            f"playground started: {startup_epochs} epochs of `experiments/mnist.py`'s recipe{_accuracy(out)}. "
            f"Run `make mnist` for the lecture's network trained by the whole recipe ({mnist.Config().epochs} "
            f"epochs, {mnist.Config().seeds} seeds).")
    return from_checkpoint(os.path.join(out, "checkpoint.npz"), text), text


_logits = jax.jit(mlp.apply, static_argnums=2)  # compiled once per network


def probabilities(model: Model, digit: np.ndarray) -> np.ndarray:
    """The network's ten class probabilities, softmax of its logits, for one ``(28, 28)`` digit in [0, 255]."""
    logits = _logits(model.params, np.asarray(digit, np.float32).reshape(1, SIDE * SIDE), model.net)
    return np.asarray(activations.softmax(logits)[0], np.float64)
