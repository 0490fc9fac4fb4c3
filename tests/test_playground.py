"""The playground (``experiments/playground/``): its parts against independent computations, then the page as its
users use it: through Gradio's own client against a server this module starts on 127.0.0.1, and in Debian's
headless chromium with every outside host unreachable.

Needs the ``playground`` extra (Gradio); skips without it. The digit tab's network is trained at the server's
start-up on the real MNIST files ($JAXNET_DATA_DIR), or, where they are absent, on printed-digit stand-ins
(``idx_files.glyph_mnist``). Screenshots of the three tabs go to ``runs/playground/``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import warnings

import jax
import numpy as np
import pytest
from terminal import Terminal

from jaxnet import data, mlp

import requires
import snapshots
from idx_files import glyph_mnist, labelled_mnist

pytest.importorskip("gradio", reason=requires.extra("playground"))
import gradio as gr  # noqa: E402
import matplotlib.colors  # noqa: E402  (the playground extra brings it)
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
from experiments import universal_approx  # noqa: E402
from experiments.playground import app, digits, fit, handlers, load, rendering, session, widgets  # noqa: E402
from experiments.playground import backprop as tables  # noqa: E402
from experiments.playground.load import Memory, distinct_networks, huge_png, tables_request, upload  # noqa: E402

SHOTS = os.path.join(ROOT, "runs", "playground")
CANVAS = 280  # the pad's canvas, pixels a side


# -- The parts ----------------------------------------------------------------------------------------------------

def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    return (np.arange(image.shape[0]) @ image.sum(axis=1) / total,
            np.arange(image.shape[1]) @ image.sum(axis=0) / total)


def test_a_drawing_is_boxed_into_20_pixels_keeping_its_aspect_and_centred_by_its_mass():
    # A 120 × 60 block of ink in a corner of the canvas, heavier on its left: after preprocessing its box is
    # 20 × 10, its darkest pixel 255, and its centre of mass (not its box's centre) within half a pixel of (14, 14).
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[10:130, 200:260, 3] = 255
    canvas[10:130, 200:215, 3] = 255  # the left quarter ...
    canvas[10:130, 215:260, 3] = 100  # ... is darker than the rest
    digit = digits.preprocess(canvas)
    assert digit.shape == (28, 28) and digit.dtype == np.float32 and digit.max() == pytest.approx(255)
    rows, cols = np.nonzero(digit > 0.05 * 255)
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 in (10, 11)  # bilinear edge: ±1
    r, c = centre_of_mass(digit)
    assert abs(r - 14) <= 0.5 and abs(c - 14) <= 0.5
    box_centre = (cols.min() + cols.max()) / 2
    assert box_centre > c + 1  # the mass sits left of the box's centre, so the box is moved right of the middle


@pytest.mark.parametrize("text, shape, expected", [
    ("1, 2;\n 3", (3,), [1.0, 2.0, 3.0]),  # a vector may run over rows
    ("1 2 3\n4, 5, 6", (2, 3), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    ("1 2 3; 4 5 6;", (2, 3), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),  # a trailing separator, no empty row
    ("0.1", (1, 1), [[0.1]]),
])
def test_a_typed_table_is_read_row_by_row_in_float64(text, shape, expected):
    table = tables.typed_table(text, shape, "∇W2")
    assert table.dtype == np.float64 and table.tolist() == expected


@pytest.mark.parametrize("text, shape, message", [
    (None, (2,), "^g2 is empty; give it numbers separated by commas$"),
    ("1 2 3", (2,), "^g2 needs 2 numbers, got 3$"),
    ("1 2 3", (2, 3), r"^g2 needs 2 rows of 3 numbers \(rows separated by ';' or new lines\), got 1 rows$"),
    ("1 2 3;a b c", (2, 3), "^g2, row 2 must be numbers separated by commas, got 'a b c'$"),
    ("1 2 3; 4 5", (2, 3), "^g2, row 2, needs 3 numbers, got 2$"),
])
def test_a_typed_table_of_the_wrong_shape_is_refused_naming_the_row(text, shape, message):
    with pytest.raises(ValueError, match=message):
        tables.typed_table(text, shape, "g2")


def test_only_g_and_the_weight_gradient_are_checked():
    with pytest.raises(ValueError, match=r"^table must be one of \['g', '∇W'\], got 'b'$"):
        tables.check_entries(tables.TableSettings(), 1, "b", "1")


@pytest.mark.parametrize("rows, cols, digit_rows, digit_cols", [
    ((30, 70), (45, 55), (4, 24), (12, 17)),  # 40 × 10: 20 × 5, centre of mass (9.5, 2) → top round(4.5) = 4, left 12
    ((40, 48), (10, 90), (14, 16), (4, 24)),  # 8 × 80: 2 × 20, centre (0.5, 9.5) → top round(13.5) = 14, left 4
    ((10, 90), (50, 51), (4, 24), (14, 15)),  # 80 × 1: 20 × 1 (a width of 0.25 is kept as 1), left round(14) = 14
])
def test_a_block_of_ink_becomes_the_box_the_rules_give_to_the_pixel(rows, cols, digit_rows, digit_cols):
    # The rules written out for a solid block: its bounding box is the block, scaled so that its longer side is 20
    # (the other side rounded, at least 1), a uniform 255, placed so that its centre of mass is nearest (14, 14),
    # Python's round (half to even) as the module uses.
    canvas = np.zeros((100, 100, 4), np.uint8)
    canvas[slice(*rows), slice(*cols), 3] = 255
    expected = np.zeros((28, 28), np.float32)
    expected[slice(*digit_rows), slice(*digit_cols)] = 255.0
    # atol: PIL's bilinear weights of a uniform block sum to 1 within float32 rounding (a few units of 255 · 2^-24).
    np.testing.assert_allclose(digits.preprocess(canvas), expected, rtol=0, atol=1e-3)


def preprocessed_by_the_rules(amount: np.ndarray) -> np.ndarray:
    """MNIST's preprocessing written out for an ink map in [0, 1]: the box of the ink above 5%, its longer side scaled
    to 20 by PIL's bilinear filter (the other rounded, at least 1), its darkest pixel 255, its centre of mass moved
    to the nearest pixel of (14, 14) without leaving 28 × 28."""
    rows, cols = np.nonzero(amount > 0.05)
    crop = amount[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1].astype(np.float32)
    longer = max(crop.shape)
    width, height = (max(1, round(side * 20 / longer)) for side in (crop.shape[1], crop.shape[0]))
    small = np.asarray(Image.fromarray(crop, mode="F").resize((width, height), Image.Resampling.BILINEAR))
    small = small * (255.0 / small.max())
    mass = small.sum()
    r, c = (np.arange(height) * small.sum(axis=1)).sum() / mass, (np.arange(width) * small.sum(axis=0)).sum() / mass
    top, left = min(max(round(14 - r), 0), 28 - height), min(max(round(14 - c), 0), 28 - width)
    digit = np.zeros((28, 28), np.float32)
    digit[top: top + height, left: left + width] = small
    return digit


def strokes(kind: str) -> np.ndarray:
    """A 200 × 200 ink map of graded strokes, with dust under the 5% floor around them."""
    amount = np.zeros((200, 200))
    amount[5:195:7, 3:197:11] = 0.04  # dust: never in the box
    ramp = np.linspace(0.3, 1.0, 120)
    if kind == "T":  # tall, its mass at the top: placed as low as the box allows
        amount[40:50, 60:140] = 1.0
        amount[50:170, 95:101] = ramp[:, None] * 0.5
    elif kind == "L":  # tall, its mass at the bottom: placed at the top row
        amount[40:160, 70:74] = ramp[:, None] * 0.4
        amount[160:172, 70:130] = 1.0
    elif kind == "wide left":  # wide, its mass on the left
        amount[90:96, 20:140] = ramp[::-1][None, :] * 0.6
        amount[80:110, 20:30] = 1.0
    elif kind == "wide right":  # wide and only 1 pixel tall on the right
        amount[100:101, 30:150] = ramp[None, :]
        amount[96:106, 145:150] = 1.0
    elif kind == "heavy right":  # its mass so far right that centring it would cut it off: placed at column 0
        amount[100:101, 30:150] = ramp[None, :] * 0.2
        amount[90:110, 130:150] = 1.0
    elif kind == "line":  # one pixel tall: 1 row once scaled
        amount[120, 40:160] = ramp
    return amount


@pytest.mark.parametrize("kind", ["T", "L", "wide left", "wide right", "heavy right", "line"])
def test_graded_strokes_become_the_digit_the_rules_give(kind):
    amount = strokes(kind)
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., 3] = np.round(amount * 255)  # black ink on the pad's clear layer
    expected = preprocessed_by_the_rules(digits.ink(rgba))
    got = digits.preprocess(rgba)
    # The same float32 operations in the same order: equal to float32 rounding of the normalisation.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    assert got.max() == pytest.approx(255)


def test_a_drawing_at_the_limits_of_span_and_cover_is_read():
    for pixels, kept in [(8, True), (7, False)]:  # 8 pixels of 100: exactly MIN_SPAN, kept; 7 refused
        at_span = np.zeros((100, 100))
        at_span[50, 40:40 + pixels] = 1.0
        for drawing in (at_span, at_span.T):  # across, and down
            if kept:
                assert digits.preprocess(255 - np.round(drawing * 255)).max() == pytest.approx(255)
            else:
                with pytest.raises(digits.NotADigit, match="its ink spans 7% of the pad"):
                    digits.preprocess(255 - np.round(drawing * 255))
    half = np.zeros((100, 100))
    half[:, :50] = 1.0  # half the pad: exactly MAX_COVER, kept
    assert digits.preprocess(255 - np.round(half * 255)).shape == (28, 28)


@pytest.mark.parametrize("shape, size", [((1001, 1000), "1,000 × 1,001"), ((400, 2600, 4), "2,600 × 400"),
                                         ((1_000_001,), "1,000,001 × 1")])
def test_a_drawing_too_large_is_refused_naming_its_width_and_height(shape, size):
    with pytest.raises(ValueError, match=f"^the drawing is {size} pixels; at most 1,000,000 pixels are read"):
        digits.preprocess(np.zeros(shape, np.uint8))


def test_ink_is_read_in_float64_from_any_canvas_and_other_shapes_are_refused():
    grey = np.array([[0.0, 100.0], [200.0, 255.0]], np.float32) / 3  # values float32 cannot hold exactly
    assert digits.ink(grey).dtype == np.float64
    np.testing.assert_array_equal(digits.ink(grey), 1.0 - grey.astype(np.float64) / 255.0)
    for shape in [(4, 4, 2), (4, 4, 5), (4,), (2, 4, 4, 3)]:
        with pytest.raises(ValueError, match=rf"^a drawing must be \(H, W\), \(H, W, 3\) or \(H, W, 4\), got shape "
                                             rf"\({', '.join(map(str, shape))},?\)$"):
            digits.ink(np.zeros(shape))

def test_ink_is_read_the_same_from_rgba_rgb_and_grey_canvases():
    grey = np.full((40, 40), 255, np.uint8)
    grey[10:30, 18:22] = 0  # a black bar on white
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 3] = 255 - grey  # black strokes on a transparent layer, as the pad's
    expected = (255 - grey) / 255.0
    for canvas in (grey, rgb, rgba):
        np.testing.assert_allclose(digits.ink(canvas), expected, atol=1e-12)


def test_an_empty_or_white_drawing_is_refused_by_name():
    for canvas in (np.zeros((CANVAS, CANVAS, 4), np.uint8), np.full((CANVAS, CANVAS, 3), 255, np.uint8)):
        with pytest.raises(digits.EmptyDrawing, match="the drawing is empty: draw a digit"):
            digits.preprocess(canvas)


@pytest.mark.parametrize("biases", [False, True])
def test_the_tables_are_the_lectures_rules_written_out_and_relu_at_zero_has_derivative_one(biases):
    result = tables.compute(tables.TableSettings(biases=biases))  # 3-4-4-2, relu, mse, v_1[0] = 0
    layers = result["layers"]
    W = [np.array(layer["W"]) for layer in layers]
    b = [np.array(layer["b"]) for layer in layers]
    x, y = np.array(result["x"]), np.array(result["y"])
    # Forward and backward by hand, in float64: v_i = W_i u_{i−1} + b_i; g_3 = ŷ − y; g_i = Φ'_i W_{i+1}ᵀ g_{i+1}.
    u, vs, us = x, [], [x]
    for i in range(3):
        v = W[i] @ u + b[i]
        u = np.where(v >= 0, v, 0) if i < 2 else v
        vs.append(v)
        us.append(u)
    g = [None, None, us[-1] - y]
    for i in (1, 0):
        g[i] = (vs[i] >= 0) * (W[i + 1].T @ g[i + 1])
    for i, layer in enumerate(layers):
        np.testing.assert_allclose(layer["v"], vs[i], rtol=1e-5, atol=1e-6)  # float32 against float64
        np.testing.assert_allclose(layer["g"], g[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer["dW"], np.outer(g[i], us[i]), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer["db"], g[i], rtol=1e-5, atol=1e-6)
    assert layers[0]["v"][0] == 0.0 and layers[0]["derivative"][0] == 1.0 and layers[0]["g"][0] != 0.0
    assert {0.0, 1.0} <= set(layers[0]["derivative"]) | set(layers[1]["derivative"])  # both signs are shown
    assert result["max_difference"] <= 1e-6
    # Seeded biases: every one drawn but the zeroed unit's, the weights those of the seed without them.
    unbiased = tables.compute(tables.TableSettings(biases=False))["layers"]
    assert [layer["W"] for layer in layers] == [layer["W"] for layer in unbiased]
    drawn = np.concatenate(b)[1:]  # b_1[0] is the zeroed unit's
    assert np.all(drawn != 0) if biases else not np.any(drawn)


def hand_tables(hidden="sigmoid"):
    """The tab's default network with ``hidden`` units, forward and backward by the lecture's rules in float64
    NumPy: ``(settings, us, vs, gs, Ws)``."""
    settings = tables.TableSettings(activation=hidden, zero_unit=False)
    layers = tables.compute(settings)["layers"]
    W = [np.array(layer["W"], np.float64) for layer in layers]
    b = [np.array(layer["b"], np.float64) for layer in layers]
    phi = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh}[hidden]
    derivative = {"sigmoid": lambda v: phi(v) * (1 - phi(v)), "tanh": lambda v: 1 - np.tanh(v) ** 2}[hidden]
    us, vs = [np.array([0.5, -1.0, 2.0])], []
    for i in range(3):
        vs.append(W[i] @ us[-1] + b[i])
        us.append(phi(vs[-1]) if i < 2 else vs[-1])
    gs = [None, None, us[-1] - np.array([1.0, 0.0])]
    for i in (1, 0):
        gs[i] = derivative(vs[i]) * (W[i + 1].T @ gs[i + 1])
    at_u = derivative(us[2]) * (W[2].T @ gs[2])  # g_2 with Φ' at u_2: the lecture's erratum 1
    return settings, us, gs, W, at_u


def typed(table) -> str:
    table = np.atleast_2d(table)
    return "; ".join(" ".join(f"{v:.4g}" for v in row) for row in table)  # four significant digits, as typed


@pytest.mark.parametrize("settings, message", [
    ({"sizes": "inf, 2"}, r"^sizes must be 2 to 7 whole numbers in \[1, 12\] \(d_0 to d_L\), got 'inf, 2'$"),
    ({"sizes": "3, 1", "loss": "cross_entropy", "y": "0"}, r"^the cross-entropy needs at least 2 classes, d_L ≥ 2 "),
    ({"sizes": "3, 1", "loss": "cross_entropy", "y": "1"}, r"^the cross-entropy needs at least 2 classes"),
])
def test_the_tables_messages_say_what_is_wrong_in_the_users_terms(settings, message):
    with pytest.raises(ValueError, match=message):
        tables.compute(tables.TableSettings(**{"x": "1, 2, 3", **settings}))


def test_softmax_and_the_cross_entropy_go_together_as_the_lecture_pairs_them():
    result = tables.compute(tables.TableSettings(sizes="3, 4, 3", output="softmax", loss="cross_entropy", y="2"))
    last = result["layers"][-1]
    z = np.exp(last["v"]) / np.sum(np.exp(last["v"]))  # the logits' softmax, written out
    np.testing.assert_allclose(last["g"], z - np.eye(3)[2], rtol=1e-5, atol=1e-6)  # g_L = z − y
    assert "g_L = z − y" in result["note"] and last["activation"] == "identity"
    assert tables.compute(tables.TableSettings())["note"] == ""


def test_a_whole_number_too_large_for_an_int_is_written_as_typed():
    with pytest.raises(ValueError, match=r"width must be in \[10, 10000\], got 1e\+308$"):
        fit.FitSettings.from_form(width=1e308, activation="tanh", init="spread", lr=0.005, steps=1000, seed=0)


def test_typed_tables_are_marked_entry_by_entry_and_known_mistakes_named():
    settings, us, gs, W, at_u = hand_tables("sigmoid")
    right = tables.check_entries(settings, 2, "g", typed(gs[1]))
    assert (right["diagnosis"], right["right"]) == ("ok", [True] * 4)
    wrong_entry = gs[1].copy()
    wrong_entry[2] += 0.5
    one = tables.check_entries(settings, 2, "g", typed(wrong_entry))
    assert one["right"] == [True, True, False, True] and one["diagnosis"] == "unknown"
    assert tables.check_entries(settings, 2, "g", typed(at_u))["diagnosis"] == "derivative_at_u"
    missing = W[2].T @ gs[2]  # Φ'_2 left out
    assert tables.check_entries(settings, 2, "g", typed(missing))["diagnosis"] == "missing_derivative"
    dW = np.outer(gs[1], us[1])
    assert tables.check_entries(settings, 2, "∇W", typed(dW))["diagnosis"] == "ok"
    transposed = tables.check_entries(settings, 2, "∇W", typed(dW.T))
    assert transposed["diagnosis"] == "transposed" and "u₁ g₂ᵀ instead of g₂ u₁ᵀ" in transposed["text"]
    assert tables.check_entries(settings, 3, "g", typed(-gs[2]))["diagnosis"] == "wrong_sign"
    # Three significant digits pass (1%); two need not.
    assert tables.check_entries(settings, 1, "g", " ".join(f"{v:.3g}" for v in gs[0]))["diagnosis"] == "ok"
    with pytest.raises(ValueError, match=r"∇W2 needs 4 rows of 4 numbers .* got 1 rows"):
        tables.check_entries(settings, 2, "∇W", "1 2 3 4")
    with pytest.raises(ValueError, match=r"g2 needs 4 numbers, got 3"):
        tables.check_entries(settings, 2, "g", "1 2 3")
    with pytest.raises(ValueError, match=r"layer must be a whole number from 1 to 3"):
        tables.check_entries(settings, 4, "g", "1 2")


@pytest.mark.parametrize("values, message", [
    ({"width": 0}, r"width must be in \[10, 10000\], got 0"),
    ({"width": 1e9}, r"width must be in \[10, 10000\], got 1000000000"),
    ({"lr": math.nan}, r"learning rate must be a finite number, got nan"),
    ({"lr": "inf"}, r"learning rate must be a finite number, got inf"),
    ({"lr": 0}, r"learning rate must be in \(0, 1\], got 0"),
    ({"width": 10.5}, r"width must be a whole number, got 10.5"),
    ({"width": 10.7}, r"width must be a whole number, got 10.7"),
    ({"steps": "2.5"}, r"steps must be a whole number, got 2.5"),
    ({"seed": 1.5}, r"seed must be a whole number, got 1.5"),
    ({"width": "ten"}, r"width must be a number, got 'ten'"),
    ({"width": [10]}, r"width must be a number, got \[10\]"),
    ({"steps": None}, r"steps is empty or not a number"),
    ({"width": 10_000, "steps": 2001}, r"width × steps must be at most 20,000,000 .* width 10,000 can run up to "
                                       r"2,000 steps"),
    ({"activation": "softplus"}, r"unknown activation 'softplus'; valid values are \['tanh', 'sigmoid', 'relu'\]"),
])
def test_bad_settings_are_refused_by_name(values, message):
    form = {"width": 1000, "activation": "tanh", "init": "spread", "lr": 0.005, "steps": 1000, "seed": 0, **values}
    with pytest.raises(ValueError, match=message):
        fit.FitSettings.from_form(**form)


def test_a_streamed_run_is_the_experiments_run_cut_into_chunks_and_reuses_its_programs():
    settings = fit.FitSettings(width=50, steps=60)
    updates = list(fit.stream(settings))
    assert [s.step for s in updates] == list(range(0, 61, 3))  # the initial network, then 20 chunks of 3 steps
    config = settings.experiment()
    x, y = universal_approx.sample(config.n)
    x_test, y_test = universal_approx.sample(config.test_points)
    reference = universal_approx.fit_width(config, settings.width, x, y, x_test, y_test)  # one call, one seed
    np.testing.assert_allclose(updates[-1].test_rmse, reference["test_rmse"][0], rtol=1e-5)
    np.testing.assert_allclose(updates[-1].prediction, reference["_test_pred"][0, :, 0], rtol=1e-4, atol=1e-6)
    misses = fit.trainer_for.cache_info().misses
    again = list(fit.stream(dataclasses.replace(settings, seed=1)))  # another user's seed, same program
    again = list(fit.stream(settings))
    assert fit.trainer_for.cache_info().misses == misses  # no program built afresh for these runs
    assert again[-1].test_rmse == updates[-1].test_rmse


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("init", ["spread", "fan-in"])
def test_the_largest_learning_rate_allowed_keeps_every_number_shown_finite(activation, init):
    # lr = 1 is the top of its range; Adam moves each weight by about lr a step, so nothing can overflow float32.
    for snapshot in fit.stream(fit.FitSettings(width=10, activation=activation, init=init, lr=1.0, steps=100)):
        assert math.isfinite(snapshot.train_rmse) and math.isfinite(snapshot.test_rmse)
        assert np.isfinite(snapshot.prediction).all()


def test_the_measuring_programs_are_kept_for_the_last_16_widths_and_freed_after():
    # Creating a jit compiles nothing, so 17 distinct widths cost no compilation here; the 17th evicts the first,
    # and once evicted nothing holds it (its compiled programs go with it).
    import gc
    import weakref

    fit.measure_for.cache_clear()
    first = weakref.ref(fit.measure_for(10, "tanh"))
    assert fit.measure_for(10, "tanh") is first()  # kept: the same program for the same width and activation
    for width in range(11, 27):
        fit.measure_for(width, "tanh")
    gc.collect()
    assert first() is None
    fit.measure_for.cache_clear()


def test_a_run_whose_error_is_not_finite_is_refused_by_name(monkeypatch):
    measure_for = fit.measure_for

    def diverging(width, activation):
        def measure(*args):
            train_rmse, prediction, test_rmse, units = measure_for(width, activation)(*args)
            return train_rmse, prediction, test_rmse * np.nan, units
        return measure
    monkeypatch.setattr(fit, "measure_for", diverging)
    with pytest.raises(ValueError, match=r"the run diverged by step 0: .* lower the learning rate \(it was 0.005\)"):
        next(fit.stream(fit.FitSettings(width=10, steps=20)))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_the_hidden_units_shown_are_the_largest_and_their_sum_is_the_fit(activation):
    for width in (10, 300):
        settings = fit.FitSettings(width=width, activation=activation, steps=40)
        snapshot = list(fit.stream(settings))[-1]
        # Every unit's contribution a_k φ(w_k x + c_k) at the test points, written out in float64 NumPy from the
        # trained parameters (the run again, as the experiment runs it: the prediction is its output).
        params = trained_params(settings)
        (W1, c), (a, b) = [(np.asarray(W, np.float64), np.asarray(bias, np.float64)) for W, bias in params]
        phi = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0)}[activation]
        every = a[0][:, None] * phi(W1[:, :1] * snapshot.x_test + c[:, None])  # (width, T)
        largest = np.argsort(-np.abs(every).max(axis=1))[: fit.UNITS_SHOWN]
        np.testing.assert_allclose(snapshot.units, every[largest], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(every.sum(axis=0) + b[0], snapshot.prediction, rtol=1e-4, atol=1e-5)
        assert snapshot.output_bias == pytest.approx(b[0], rel=1e-6)
        figure = rendering.FitFigure(settings)
        figure.update(snapshot, units=True)
        assert all(line.get_visible() for line in figure.units)
        np.testing.assert_array_equal(figure.units[0].get_ydata(), snapshot.units[0][:: figure.every])
        assert figure.units[0].get_label() in [t.get_text() for t in figure.fit_ax.get_legend().get_texts()]
        figure.update(snapshot, units=False)
        assert not any(line.get_visible() for line in figure.units)
        assert len(figure.fit_ax.get_legend().get_texts()) == 3


def test_a_refusal_marks_the_field_it_names():
    labels = ["width (10 to 10,000)", "hidden activation", "learning rate", "steps", "seed", "sizes d_0, …, d_L",
              "x", "y", "layer i"]
    for message, field in [("width must be a whole number, got 10.5", 0), ("learning rate must be in (0, 1]", 2),
                           ("width × steps must be at most 20,000,000", 0), ("steps must be in [1, 20000]", 3),
                           ("x has 2 numbers; the network's input d_0 = 3 needs 3", 6),
                           ("y for the cross-entropy is a class in 0 … 1", 7), ("layer must be a whole number", 8),
                           ("the drawing is empty", None), ("sizesx must", None)]:
        assert session.field_named(message, labels) == field, message


def trained_params(settings: fit.FitSettings):
    """The parameters a run of ``settings`` ends with, trained in one call as the experiment trains them."""
    config = settings.experiment()
    x, y = universal_approx.sample(config.n, config.domain)
    trainer = fit.trainer_for(dataclasses.replace(settings, seed=0, init="spread"))
    state, _ = trainer.fit(trainer.init(fit.initial_params(settings)), x, y, epochs=settings.steps,
                           key=jax.random.key(config.seed), verbose=False)
    return state.params


def figure_outline(figure) -> dict:
    """What a figure shows, after a draw: its size and margins, and per axes its place, titles, labels, limits,
    scales, ticks and their labels, legend, and each line's label, style and data (first, last, count)."""
    figure.canvas.draw()
    margins = figure.subplotpars

    def line(artist):
        x, y = (np.asarray(v, float) for v in artist.get_data())
        ends = lambda v: [round(float(a), 6) for a in (v[:2].tolist() + v[-1:].tolist())] if len(v) else []  # noqa: E731
        return {"label": artist.get_label(), "color": matplotlib.colors.to_hex(artist.get_color()),
                "lw": artist.get_linewidth(), "ls": artist.get_linestyle(), "marker": str(artist.get_marker()),
                "ms": artist.get_markersize(), "alpha": artist.get_alpha(), "visible": artist.get_visible(),
                "n": len(x), "x": ends(x), "y": ends(y)}

    def axes(ax):
        legend = ax.get_legend()
        return {"position": [round(v, 4) for v in ax.get_position().bounds], "visible": ax.get_visible(),
                "patch": ax.patch.get_visible(), "zorder": ax.get_zorder(),
                "title": [ax.title.get_text(), round(ax.title.get_position()[1], 4)],
                "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "scale": [ax.get_xscale(), ax.get_yscale()],
                "xlim": [round(v, 6) for v in ax.get_xlim()], "ylim": [round(v, 6) for v in ax.get_ylim()],
                "xticks": [t.get_text() for t in ax.get_xticklabels()],
                "yticks": [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()],
                "tick size": ax.yaxis.get_major_ticks()[0].label1.get_fontsize() if ax.yaxis.get_major_ticks()
                else None,
                "legend": None if legend is None else {
                    "texts": [t.get_text() for t in legend.get_texts()], "loc": legend._loc,
                    "size": legend.get_texts()[0].get_fontsize()},
                "lines": [line(artist) for artist in ax.lines]}

    return {"size": figure.get_size_inches().tolist(), "dpi": figure.dpi,
            "margins": [margins.left, margins.right, margins.bottom, margins.top, margins.wspace],
            "axes": [axes(ax) for ax in figure.axes]}


def test_the_fit_figure_is_the_outline_recorded_beside_this_module():
    # A run's figure for a snapshot made here (no training: the same numbers with every version of JAX), with and
    # without the hidden units, as recorded (tests/snapshots.py says how to rewrite it).
    settings = fit.FitSettings(width=20, activation="sigmoid", init="fan-in", steps=300)
    x = np.linspace(0, 1, 10_000)
    snapshot = fit.Snapshot(step=150, steps=300, x_test=x, prediction=np.sin(6 * x), train_rmse=0.02,
                            test_rmse=0.03, curve=[(0, 0.5, 0.6), (150, 0.02, 0.03)], seconds=1.0,
                            units=np.outer(np.linspace(0.4, -0.2, fit.UNITS_SHOWN), np.cos(3 * x)), output_bias=0.1)
    figure = rendering.FitFigure(settings)
    shown = {"before the first snapshot": figure_outline(figure.figure),
             "units": figure_outline(figure.update(snapshot, units=True)),
             "no units": figure_outline(figure.update(snapshot._replace(step=300), units=False))}
    # The RMSE axis's labels over about 0.4, 1 and 2.6 decades: every minor tick labelled, some, none.
    shown["rmse labels"] = [figure_outline(figure.update(snapshot._replace(curve=[(0, high, high), (150, low, low)])))
                            ["axes"][1]["yticks"] for low, high in ((0.03, 0.05), (0.02, 0.1), (0.001, 0.2))]
    shown = json.loads(json.dumps(shown))
    assert shown == snapshots.recorded_json("fit_figure.json", shown)
    # Without units by default; and the same figure whatever the user's matplotlibrc says of lines and resolution.
    by_default, without = (figure_outline(rendering.FitFigure(settings).update(snapshot, *units))
                           for units in ((), (False,)))
    assert by_default == without
    with matplotlib.rc_context({"lines.linewidth": 4.0, "figure.dpi": 50.0}):
        elsewhere = json.loads(json.dumps(figure_outline(rendering.FitFigure(settings).update(snapshot, units=True))))
    drawn = lambda outline: [[{k: v for k, v in line.items() if k != "lw" or line["ls"] != "None"}  # noqa: E731
                              for line in ax["lines"]] for ax in outline["axes"]]  # markers only: no line width
    assert drawn(elsewhere) == drawn(shown["units"])
    assert {**elsewhere, "axes": []} == {**shown["units"], "axes": []}

def test_the_rmse_axis_reads_plain_numbers():
    settings = fit.FitSettings(width=10, steps=40)
    figure = rendering.FitFigure(settings)
    for snapshot in fit.stream(settings):
        figure.update(snapshot)
        figure.figure.canvas.draw()
        labels = [t.get_text() for t in figure.curve_ax.get_yticklabels(which="both") if t.get_text()]
        assert labels and all(re.fullmatch(r"\d+(\.\d+)?", label) for label in labels), labels  # 0.6, not 6e-01


def test_the_tabs_width_curve_is_make_demos_table():
    # The tab shows the curve as measured by make demo (its defaults are make demo's), width 100 included; the
    # experiments page's table is that run's.
    with open(os.path.join(ROOT, "docs", "experiments.md")) as f:
        page = f.read()
    rows = dict(re.findall(r"^\| ([\d,]+) \| (0\.\d+) \|", page, flags=re.MULTILINE))
    assert rendering.width_curve_markdown() == "\n".join(
        ["| width | test RMSE |", "|---:|---:|"] + [f"| {width} | {rmse} |" for width, rmse in rows.items()])
    assert {int(w.replace(",", "")): float(r) for w, r in rows.items()} == fit.MEASURED_CURVE
    assert list(fit.MEASURED_CURVE) == list(universal_approx.Config().widths) == [10, 100, 1000, 10_000]
    defaults, demo = fit.FitSettings().experiment(), universal_approx.Config()
    assert (defaults.steps, defaults.lr, defaults.slope) == (demo.steps, demo.lr, demo.slope)


# -- The page, through Gradio's client ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """The real MNIST files if present, else printed-digit stand-ins with their layout."""
    return data.find_idx_dir("mnist") or glyph_mnist(str(tmp_path_factory.mktemp("glyphs")))


@pytest.fixture(scope="module")
def served(mnist_dir, tmp_path_factory):
    """``python -m experiments.playground`` on a free port of 127.0.0.1, as ``make playground`` starts it, with no
    checkpoint (so its start-up network is trained): ``(url, process)``; stopped after the module's tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("playground") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "experiments.playground", "--port", str(port), "--data-dir", mnist_dir,
             "--checkpoint", str(log.parent / "no-checkpoint.npz")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the playground did not come up at {url}:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield url, process
    process.terminate()
    process.wait(timeout=30)
    assert f"jaxnet playground: http://127.0.0.1:{port}/" in log.read_text()


@pytest.fixture(scope="module")
def server(served):
    return served[0]


@pytest.fixture
def memory(served):
    """The server's memory; ``memory.reset()`` has been called."""
    memory = Memory(served[1].pid)
    try:
        memory.reset()
    except OSError as e:
        pytest.skip(f"this system cannot read or reset a process's peak memory from /proc ({e})")
    return memory


# The tests that use the server (`make test` runs each module on one pytest worker: one server serves them all).
on_the_server = pytest.mark.slow


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False, download_files=False)


class InProcess:
    """The page's events called as the server calls them, in this process, with what a client sends: the handlers'
    answers and refusals, less the HTTP (which the served variant of each test adds)."""

    def predict(self, *args, api_name):
        try:
            if api_name == "/train":  # a generator: its last update
                return list(handlers.train(*args, request=None))[-1]
            return {"/tables": handlers.backprop_tables, "/check": handlers.check_numbers}[api_name](*args)
        except gr.Error as refusal:  # as the client raises it, with the same text
            raise AppError(refusal.message) from None


@pytest.fixture(params=["here", pytest.param("served", marks=on_the_server)])
def page(request):
    """The page through a client of the served app, or its handlers called here (fast, and seen by make mutants)."""
    return InProcess() if request.param == "here" else request.getfixturevalue("client")


@on_the_server
def test_the_width_1000_run_streams_its_fit_and_reaches_the_experiments_error(client):
    job = client.submit(1000, "tanh", "spread", 0.005, 1000, 0, api_name="/train")  # the tab's defaults
    updates = list(job)
    steps = [update[3] for update in updates]
    assert len(updates) >= 5 and steps == sorted(set(steps)) and steps[-1] == 1000
    assert all(update[0]["type"] == "matplotlib" for update in updates)
    assert updates[-1][2] < 0.01  # test RMSE (make demo's width 1,000 reaches 0.0037)
    assert "step 1,000 of 1,000" in updates[-1][1]


@on_the_server
def test_four_people_at_once_each_get_their_own_answer_in_bounded_memory(server, mnist_dir, memory, tmp_path):
    # Four clients (four sessions) at once: two trainings, a table and a digit. Each training ends at the error its
    # settings give alone, the two overlap in time (neither waits in a queue behind the other), the table is the
    # one computed here, the digit's probabilities those it gets alone, and the server's memory stays bounded.
    runs = [(10, 60), (50, 60)]  # the second as in the streamed-run test above, whose program it reuses here
    expected = [list(fit.stream(fit.FitSettings(width=w, steps=s)))[-1].test_rmse for w, s in runs]
    table = tables.compute(tables.TableSettings(sizes="3, 5, 2", activation="tanh"))
    x, _ = data.load_mnist("test", data_dir=mnist_dir, source="idx", dtype="uint8")
    drawn = drawing(x[0].reshape(28, 28), str(tmp_path / "digit.png"))
    new_client = lambda: Client(server, verbose=False, download_files=False)  # noqa: E731
    alone = new_client().predict(drawn, api_name="/read")[2]

    def train(width_steps):
        width, steps = width_steps
        times, last = [], None
        for update in new_client().submit(width, "tanh", "spread", 0.005, steps, 0, api_name="/train"):
            times.append(time.monotonic())
            last = update
        return times, last

    memory.reset()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        trainings = [pool.submit(train, r) for r in runs]
        tabled = pool.submit(lambda: new_client().predict("3, 5, 2", "tanh", "identity", "mse", "0.5, -1.0, 2.0",
                                                          "1.0, 0.0", 1, True, api_name="/tables"))
        read = pool.submit(lambda: new_client().predict(drawn, api_name="/read"))
        results = [t.result() for t in trainings]
        tabled, read = tabled.result(), read.result()
    grown = memory.growth()
    print(f"four clients at once: the server's memory grew by {grown / 2**20:.0f} MB")
    assert grown < 500 * 2**20
    for (_, last), rmse in zip(results, expected):
        np.testing.assert_allclose(last[2], rmse, rtol=1e-5)
    (first_times, _), (second_times, _) = results
    assert first_times[0] < second_times[-1] and second_times[0] < first_times[-1]
    for layer, expected_layer in zip(tabled[2]["layers"], table["layers"]):
        np.testing.assert_allclose(layer["dW"], expected_layer["dW"], rtol=1e-6, atol=1e-7)
    assert read[2] == alone


@on_the_server
def test_the_tables_tab_agrees_with_jax_grad(client):
    html, difference, numbers = client.predict("3, 4, 4, 2", "relu", "identity", "mse", "0.5, -1.0, 2.0",
                                               "1.0, 0.0", 1, True, api_name="/tables")
    assert difference <= 1e-6
    for layer in numbers["layers"]:
        np.testing.assert_allclose(layer["dW"], layer["dW_autodiff"], atol=1e-6)
        np.testing.assert_allclose(layer["db"], layer["db_autodiff"], atol=1e-6)
    assert numbers["layers"][0]["v"][0] == 0.0 and numbers["layers"][0]["derivative"][0] == 1.0
    assert "Layer 3" in html and "∇W" in html
    # The seeded biases, the form's last field (a client that leaves it out gets biases of 0, as above).
    assert not any(any(layer["b"]) for layer in numbers["layers"])
    _, difference, numbers = client.predict("3, 4, 4, 2", "relu", "identity", "mse", "0.5, -1.0, 2.0", "1.0, 0.0", 1,
                                            True, True, api_name="/tables")
    assert all(any(layer["b"]) for layer in numbers["layers"]) and difference <= 1e-6


def test_the_check_marks_a_students_table_and_names_the_mistake(page):
    settings, us, gs, W, at_u = hand_tables("sigmoid")
    form = ("3, 4, 4, 2", "sigmoid", "identity", "mse", "0.5, -1.0, 2.0", "1.0, 0.0", 1, False)
    html, diagnosis = page.predict(*form, 2, "g", typed(gs[1]), api_name="/check")
    assert diagnosis == "ok" and html.count("✓") == 4 and "✗" not in html
    html, diagnosis = page.predict(*form, 2, "g", typed(at_u), api_name="/check")
    assert diagnosis == "derivative_at_u" and "erratum 1" in html and "✗" in html
    html, diagnosis = page.predict(*form, 2, "∇W", typed(np.outer(gs[1], us[1]).T), api_name="/check")
    assert diagnosis == "transposed"
    with pytest.raises(AppError, match=r"^g2 needs 4 numbers, got 2$"):
        page.predict(*form, 2, "g", "1, 2", api_name="/check")
    with pytest.raises(AppError, match=r"^layer must be a whole number, got 1.5$"):
        page.predict(*form, 1.5, "g", "1, 2", api_name="/check")


@on_the_server
def test_the_tables_of_many_networks_keep_the_servers_memory_bounded(client, memory):
    # Each network compiles its own program, and the playground keeps the last 16 (tables.PROGRAMS): after a first
    # request, 120 different networks grow the server by what 16 programs take; the 104 past the first 16 add
    # almost nothing (run eagerly, every operation of each network compiled and stayed cached, and the server grew
    # with every new network: 120 grew it by 2.9 GB).
    networks = distinct_networks(1 + 120)
    ask = lambda sizes: client.predict(*tables_request(sizes), api_name="/tables")  # noqa: E731
    ask(networks[0])
    memory.reset()
    for sizes in networks[1:17]:
        ask(sizes)
    filled = memory.growth()
    for sizes in networks[17:]:
        assert ask(sizes)[1] <= 1e-5  # each one's tables, as jax.grad gives them
    grown = memory.growth()
    print(f"120 networks' tables: the server grew by {grown / 2**20:.0f} MiB, {(grown - filled) / 2**20:.0f} MiB "
          f"of it past the first 16")
    assert grown < 500 * 2**20 and grown - filled < 150 * 2**20, (grown, filled)


def drawing(image28: np.ndarray, path: str) -> dict:
    """An MNIST image as a drawing on the pad: scaled to the canvas, dark ink on a transparent layer, sent as the
    pad sends it."""
    big = np.asarray(Image.fromarray(image28).resize((CANVAS, CANVAS), Image.Resampling.BILINEAR))
    rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    rgba[..., 3] = big
    Image.fromarray(rgba).save(path)
    return {"background": None, "layers": [], "composite": handle_file(path), "id": None}


@on_the_server
def test_200_drawn_test_digits_are_read(server, mnist_dir, tmp_path):
    # Four users at a time, each with a client of its own and one drawing in flight (a single client with 200 jobs
    # in flight on one event stream can lose one to a race in gradio_client).
    x, y = data.load_mnist("test", data_dir=mnist_dir, source="idx", dtype="uint8")
    pick = np.random.default_rng(0).choice(len(y), 200, replace=False)

    def read(part):
        user = Client(server, verbose=False, download_files=False)
        return [int(user.predict(drawing(x[i].reshape(28, 28), str(tmp_path / f"{i}.png")), api_name="/read")[2]
                    ["label"]) for i in part]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        readings = sum(pool.map(read, np.array_split(pick, 4)), [])
    accuracy = np.mean(np.array(readings) == y[pick])
    assert accuracy >= 0.95, f"{accuracy:.1%} of 200 drawn test digits read correctly"


def train_call(width=1000, lr=0.005, steps=1000, seed=0):
    return lambda c: c.predict(width, "tanh", "spread", lr, steps, seed, api_name="/train")


def tables_call(sizes="3, 4, 2", output="identity", loss="mse", x="1, 2, 3", y="1, 0", seed=1):
    return lambda c: c.predict(sizes, "relu", output, loss, x, y, seed, True, api_name="/tables")


@pytest.mark.parametrize("call, message", [
    (train_call(width=0), r"width must be in \[10, 10000\]"),
    (train_call(width=10**9), r"got 1000000000"),
    # What is typed is what runs: a fraction is refused, never rounded (10.5 trained as 10, 10.7 as 11).
    (train_call(width=10.5), r"^width must be a whole number, got 10.5$"),
    (train_call(width=10.7), r"^width must be a whole number, got 10.7$"),
    (train_call(steps=2.5), r"^steps must be a whole number, got 2.5$"),
    (train_call(seed=1.5), r"^seed must be a whole number, got 1.5$"),
    (tables_call(seed=1.5), r"^seed must be a whole number, got 1.5$"),
    # NaN, infinities and text name their field (not "Could not preprocess input component at index 0").
    (train_call(lr="nan"), r"^learning rate must be a finite number, got nan$"),
    (train_call(width="NaN"), r"^width must be a finite number, got nan$"),
    (train_call(steps="Infinity"), r"^steps must be a finite number, got inf$"),
    (train_call(width="ten"), r"^width must be a number, got 'ten'$"),
    (train_call(lr=""), r"^learning rate is empty or not a number"),
    (tables_call(seed="x"), r"^seed must be a number, got 'x'$"),
    # The longest run is bounded.
    (train_call(width=10_000, steps=20_000), r"^width × steps must be at most 20,000,000"),
    # Inputs whose forward or backward pass would overflow float32, and targets the cross-entropy cannot take.
    (tables_call(x="1e39, 1, 2"), r"^x must be numbers in \[−1,000, 1,000\] .*got '1e39, 1, 2'"),
    (tables_call(x="1e30, 1, 2"), r"^x must be numbers in \[−1,000, 1,000\]"),
    (tables_call(y="1e30, 0"), r"^y must be numbers in \[−1,000, 1,000\]"),
    (tables_call(loss="cross_entropy", y="-1, 2"), r"^y for the cross-entropy must be 2 probabilities \(each in "
                                                   r"\[0, 1\], summing to 1\) or one class in 0 … 1, got '-1, 2'"),
    (tables_call(loss="cross_entropy", y="0, 0"), r"^y for the cross-entropy must be 2 probabilities"),
    (tables_call(loss="cross_entropy", y="2"), r"^y for the cross-entropy is a class in 0 … 1"),
    (tables_call(sizes="3, 4"), r"^x has 3 numbers|^y has 2 numbers; the network's output d_L = 4 needs 4"),
    (tables_call(x="1, 2"), r"^x has 2 numbers; the network's input d_0 = 3 needs 3"),
])
def test_bad_input_gets_a_message_naming_its_field_and_the_server_keeps_serving(page, call, message):
    with pytest.raises(AppError, match=message):
        call(page)
    assert page.predict("2, 1", "tanh", "identity", "mse", "1, 2", "0.5", 0, False, api_name="/tables")[1] <= 1e-6


@on_the_server
def test_a_nan_sent_as_json_gets_the_fields_message(server):
    # JSON's NaN literal, as a client other than Python's may send it, straight to the HTTP API.
    request = urllib.request.Request(f"{server}gradio_api/call/train", headers={"Content-Type": "application/json"},
                                     data=b'{"data": [NaN, "tanh", "spread", 0.005, 100, 0]}')
    with urllib.request.urlopen(request, timeout=30) as response:
        event = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{server}gradio_api/call/train/{event}", timeout=30) as response:
        stream = response.read().decode()
    assert "event: error" in stream and "width must be a finite number, got nan" in stream


def finite(value) -> bool:
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def test_the_largest_inputs_allowed_give_finite_tables_in_the_deepest_widest_network(page):
    # x and y at the bound, 6 layers of 12, no activation to saturate: every number shown is finite.
    twelve = lambda v: ", ".join([v] * 12)  # noqa: E731
    for output, loss, y in (("identity", "mse", twelve("-1000")), ("softmax", "mae", twelve("1000")),
                            ("identity", "cross_entropy", "11")):
        html, difference, numbers = page.predict(", ".join(["12"] * 7), "identity", output, loss, twelve("1000"),
                                                   y, 0, False, api_name="/tables")
        assert finite(numbers) and math.isfinite(difference) and "nan" not in html and "inf" not in html
        assert difference <= 1e-6 * max(1.0, abs(numbers["loss"]))
        assert numbers["loss"] > 1e3  # the inputs were large indeed


def test_the_tables_show_w_and_b_the_loss_formula_and_never_minus_zero(page):
    html, _, numbers = page.predict("3, 4, 4, 2", "relu", "identity", "mse", "0.5, -1.0, 2.0", "1.0, 0.0", 1, True,
                                      api_name="/tables")
    assert "½‖ŷ − y‖²" in html
    text = re.sub(r"<[^>]+>", " ", html)  # the page's text, tags dropped
    for layer in numbers["layers"]:
        i = layer["layer"]
        assert f"W{i}" in text.replace(" ", "") and f"b{i}" in text.replace(" ", "")
        for row in layer["W"]:
            for w in row:
                assert f" {w:z.6g} " in text
    # A dead ReLU unit passes back (negative number) × 0 = −0 in float arithmetic; the page writes 0.
    zeros = [g for layer in numbers["layers"] for g in layer["g"] if g == 0.0]
    assert zeros and all(math.copysign(1.0, g) == 1.0 for g in zeros)
    assert not re.search(r"(?<![\w.])[-−]0(?![.\de])", text), "a −0 on the page"


def test_a_softmax_output_shows_its_full_jacobian_product(page):
    html, difference, numbers = page.predict("3, 4, 3", "tanh", "softmax", "mse", "0.5, -1.0, 2.0", "0, 1, 0", 2,
                                               False, api_name="/tables")
    last = numbers["layers"][-1]
    z, y = np.array(numbers["yhat"]), np.array(numbers["y"])
    jacobian = np.diag(z) - np.outer(z, z)  # written out in float64, against the float32 computation
    np.testing.assert_allclose(last["jacobian"], jacobian, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(last["signal"], z - y, rtol=1e-5, atol=1e-7)  # ∂L/∂ŷ of ½‖ŷ − y‖²
    np.testing.assert_allclose(last["g"], jacobian.T @ (z - y), rtol=1e-4, atol=1e-7)
    diagonal_only = np.diag(jacobian) * (z - y)
    assert np.max(np.abs(diagonal_only - jacobian.T @ (z - y))) > 1e-3  # the diagonal alone would be wrong here
    assert "derivative" not in last and "not its diagonal" in html and "diag(z) − z z" in html
    assert difference <= 1e-6


@on_the_server
def test_a_10000_pixel_square_upload_is_refused_from_its_header_in_little_time_and_memory(client, memory, tmp_path):
    path = str(tmp_path / "huge.png")
    huge_png(path, 10_000, 10_000)  # 0.4 MB of PNG, 400 MB of RGBA once decoded
    memory.reset()  # the file's writing took none of the server's memory; start from now
    tic = time.monotonic()
    with pytest.raises(AppError, match=r"^the drawing is 10,000 × 10,000 pixels; at most 1,000,000 pixels are read"):
        client.predict(upload(path), api_name="/read")
    seconds, grown = time.monotonic() - tic, memory.growth()
    print(f"10,000² upload: refused in {seconds:.2f} s, the server's memory grew by {grown / 2**20:.0f} MB")
    assert grown < 100 * 2**20 and seconds < 10  # decoding it would take 400 MB and seconds


@on_the_server
def test_a_bomb_and_a_truncated_png_are_refused_in_the_users_terms(client, tmp_path):
    path = str(tmp_path / "bomb.png")
    huge_png(path, 20_000, 20_000)  # over PIL's own limit too: its size is read from the header
    with pytest.raises(AppError, match=r"^the drawing is 20,000 × 20,000 pixels; at most 1,000,000 pixels are read"):
        client.predict(upload(path), api_name="/read")
    Image.fromarray(np.full((280, 280, 4), 255, np.uint8)).save(tmp_path / "whole.png")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    with pytest.raises(AppError) as refused:
        client.predict(upload(str(truncated)), api_name="/read")
    assert str(refused.value) == "the drawing is not an image that can be read (PNG, WebP, JPEG, …)"


@on_the_server
def test_the_largest_drawing_read_stays_within_500_mb(client, memory, tmp_path):
    image = np.zeros((1000, 1000, 4), np.uint8)
    image[200:800, 480:520, 3] = 255  # a 1 on a transparent layer, 1,000,000 pixels: the limit
    Image.fromarray(image).save(tmp_path / "one.png")
    memory.reset()
    tic = time.monotonic()
    reading = client.predict(upload(str(tmp_path / "one.png")), api_name="/read")[2]
    seconds, grown = time.monotonic() - tic, memory.growth()
    print(f"1,000² drawing: read in {seconds:.2f} s, the server's memory grew by {grown / 2**20:.0f} MB")
    assert reading["label"] == "1" and grown < 500 * 2**20


def a_run_under_way(client):
    """A width-1,000 run of 1,000 steps, once three of its updates have arrived."""
    job = client.submit(1000, "tanh", "spread", 0.005, 1000, 0, api_name="/train")
    deadline = time.monotonic() + 60
    while len(job.outputs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


@on_the_server
def test_a_first_width_10000_run_stays_within_500_mb(client, memory):
    # The first width-10,000 run on this server (the browser test's come after it): its programs and buffers are
    # new. Through 10,000 test points at once its hidden layer alone would be 400 MB.
    last = list(client.submit(10_000, "tanh", "spread", 0.005, 20, 0, api_name="/train"))[-1]
    grown = memory.growth()
    print(f"a first width-10,000 run: the server's memory grew by {grown / 2**20:.0f} MB")
    assert last[3] == 20 and grown < 500 * 2**20


@on_the_server
def test_four_width_10000_trainings_at_once_wait_their_turn_in_bounded_memory(server, memory):
    # After the first width-10,000 run (the test above), four people press Train at once: two train, two wait in
    # the queue (TRAININGS_AT_ONCE), and the server grows by less than 500 MB.
    def train(_):
        times, updates = [], []
        for update in Client(server, verbose=False, download_files=False).submit(
                10_000, "tanh", "spread", 0.005, 20, 0, api_name="/train"):
            times.append(time.monotonic())
            updates.append(update)
        return times[0], times[-1], updates[-1]

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(train, range(4)))
    grown = memory.growth()
    print(f"four width-10,000 trainings at once: the server grew by {grown / 2**20:.0f} MiB in "
          f"{time.monotonic() - start:.0f} s")
    assert all(last[3] == 20 for _, _, last in runs) and grown < 500 * 2**20
    # A run's updates start once it has a place: never more than TRAININGS_AT_ONCE runs send updates at once. At a
    # handover the next run's first update can reach its client a moment before the finished run's last one reaches
    # another (each client reads on its own thread), so a run counts from HANDOVER_S after its first update; a third
    # run training alongside would overlap the others for seconds.
    HANDOVER_S = 0.5
    at_once = max(sum(first <= t < end for first, end, _ in runs) for t in [first + HANDOVER_S for first, _, _ in runs])
    assert at_once == handlers.TRAININGS_AT_ONCE, [(round(a - start, 1), round(b - start, 1)) for a, b, _ in runs]


@on_the_server
def test_stop_ends_the_run_and_says_where(client):
    job = a_run_under_way(client)
    stopped = client.predict(api_name="/stop")
    updates = list(job)
    assert re.fullmatch(r"Stopped at step [\d,]+ of 1,000\.", stopped), stopped
    assert updates[-1][1] == stopped  # the run's own last update says so too (the page shows it again at the end)
    step, shown = updates[-1][3], updates[-2][3]
    assert int(stopped.split()[3].replace(",", "")) == step == shown < 1000  # the step it shows is the last trained
    assert client.predict(api_name="/stop") == "No run to stop."


@on_the_server
def test_train_during_a_run_replaces_it_and_says_so(client):
    first = a_run_under_way(client)
    second = client.submit(10, "tanh", "spread", 0.005, 100, 0, api_name="/train")  # the same session
    first_updates, second_updates = list(first), list(second)
    assert all(output == {"__type__": "update"} for output in first_updates[-1])  # ends leaving the page alone
    replaced_at = first_updates[-2][3]
    assert replaced_at < 1000  # the first run ended early
    assert f"Train replaced the run that was at step {replaced_at:,} of 1,000" in second_updates[0][1]
    assert second_updates[-1][3] == 100 and "step 100 of 100" in second_updates[-1][1]


# -- The page, in a browser -----------------------------------------------------------------------------------------

@on_the_server
def test_the_page_in_a_browser_with_no_outside_network(server):
    import chromium

    # A laptop's screen: a refusal must be read without scrolling at this size.
    driver = chromium.start(window="1366,768", only_local=True)  # skips without chromium or selenium
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    os.makedirs(SHOTS, exist_ok=True)
    # The page redraws its elements as values arrive: a lookup may find one that is already replaced.
    wait = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,))
    find = lambda css: driver.find_element(By.CSS_SELECTOR, css)  # noqa: E731
    text = lambda css: find(css).get_attribute("textContent").strip()  # also of a hidden tab  # noqa: E731

    def until(condition, shown: str):
        """``wait.until(condition)``; on a timeout, the failure gives what the element ``shown`` holds then."""
        try:
            return wait.until(condition)
        except TimeoutException:
            pytest.fail(f"timed out waiting on the page; {shown} holds {text(shown)!r}")

    def shot(name: str) -> None:
        """A screenshot into runs/playground/, of the page's top at the documentation's size (1400 × 1250; the
        README's and docs' figures are copies of fit.png, backprop.png and digit.png), then back to the laptop's."""
        driver.set_window_size(1400, 1250)
        driver.execute_script("window.scrollTo(0, 0)")
        wait.until(lambda d: d.execute_script("return window.innerWidth") == 1400)
        driver.save_screenshot(os.path.join(SHOTS, name))
        driver.set_window_size(1366, 768)
        wait.until(lambda d: d.execute_script("return window.innerWidth") == 1366)

    def type_into(css: str, value: str) -> None:
        box = find(css)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE, value)

    try:
        driver.get(server)
        tab = lambda name: driver.find_element(By.XPATH, f"//button[@role='tab'][contains(., '{name}')]")  # noqa
        wait.until(lambda d: tab("Universal approximation"))
        train = wait.until(lambda d: d.find_elements(By.ID, "train"))[0]  # the tabs render before the form
        # Before any run: the untrained network's error in the RMSE box (not 0); the measured width curve.
        wait.until(lambda d: "the network before training" in text("#fit-status"))
        before = float(find("#test-rmse input").get_attribute("value"))
        assert f"test RMSE {before:.4f}" in text("#fit-status") and 0.1 < before < 2
        curve = text("#width-curve")
        assert "| 100 | 0.0035 |" in curve.replace("\n", " ") or re.search(r"100\s+0\.0035", curve), curve
        assert "floor" in curve and "watch the test error fall" not in driver.page_source

        tab("Back-propagation").click()
        wait.until(lambda d: "Layer 3" in d.find_element(By.ID, "tables").text)
        shot("backprop.png")
        # A student's g_2 with its sign flipped: every entry that is not 0 marked wrong, and the mistake named.
        g2 = tables.compute(tables.TableSettings())["layers"][1]["g"]
        type_into("#check-values textarea", ", ".join(f"{-v:.4g}" for v in g2))
        find("#check").click()
        wait.until(lambda d: find("#check-diagnosis textarea").get_attribute("value") == "wrong_sign")
        assert text("#check-result").count("✗") == sum(v != 0 for v in g2) > 0 and "sign is flipped" in text(
            "#check-result")
        driver.save_screenshot(os.path.join(SHOTS, "backprop-check.png"))
        type_into("#x textarea", "1e39, 1, 2")  # results for the old x are now marked as old ...
        wait.until(lambda d: "Old results" in text("#tables-message"))
        find("#compute").click()  # ... and refused: a message, and the old tables cleared
        refusal = "x must be numbers in [−1,000, 1,000]"
        wait.until(lambda d: refusal in text("#tables-message"))
        wait.until(lambda d: "Layer" not in text("#tables"))

        # A fraction where a whole number belongs is refused beside the form, in view with the field it names
        # (marked), without scrolling; no wordless "Error" badge on the outputs, no toast.
        tab("Universal approximation").click()
        driver.execute_script("window.scrollTo(0, 0)")
        type_into("#width input", "10.5")
        train.click()
        wait.until(lambda d: "width must be a whole number, got 10.5" in text("#fit-message"))
        height = driver.execute_script("return window.innerHeight")
        assert driver.execute_script("return window.scrollY") == 0
        for css in ("#fit-message", "#width"):
            assert find(css).rect["y"] + find(css).rect["height"] <= height, (css, find(css).rect, height)
        assert "refused" in find("#width").get_attribute("class").split()
        assert "refused" not in find("#steps").get_attribute("class").split()
        badges = [e for e in driver.find_elements(By.CSS_SELECTOR, ".error") if e.is_displayed() and e.text]
        assert not badges and not driver.find_elements(By.CSS_SELECTOR, ".toast-body")
        driver.save_screenshot(os.path.join(SHOTS, "refused.png"))
        type_into("#width input", "10000")  # a run of some seconds, to press Train and Stop during it
        train.click()
        wait.until(lambda d: text("#fit-message") == "" and "step" in text("#fit-status"))  # the box is emptied
        assert "refused" not in find("#width").get_attribute("class").split()  # and the mark gone
        train.click()  # during the run: it is replaced, and the page says so
        wait.until(lambda d: "Train replaced the run that was at step" in text("#fit-status"))
        find("#stop").click()
        until(lambda d: re.search(r"Stopped at step [\d,]+ of 1,000\.", text("#fit-status")), "#fit-status")
        plot_image = lambda: driver.find_elements(By.CSS_SELECTOR, "#fit-plot img")  # noqa: E731
        stopped_plot = wait.until(lambda d: plot_image() and plot_image()[0].get_attribute("src"))
        type_into("#width input", "1000")
        train.click()
        wait.until(lambda d: "step 1,000 of 1,000" in text("#fit-status"))
        wait.until(lambda d: plot_image()[0].get_attribute("src") != stopped_plot)  # the new run's plot
        assert wait.until(lambda d: float(find("#test-rmse input").get_attribute("value"))) < 0.01
        shot("fit.png")
        # The hidden units' toggle redraws the finished run's plot, with them.
        trained_plot = plot_image()[0].get_attribute("src")
        find("#units input").click()
        wait.until(lambda d: plot_image() and plot_image()[0].get_attribute("src") != trained_plot)
        assert text("#fit-message") == ""  # a view, not a change of the form: the results are not old
        driver.save_screenshot(os.path.join(SHOTS, "fit-units.png"))

        tab("A digit you draw").click()
        brush = "#pad button[aria-label='Brush']"
        # The page picks the brush as the tab opens (the selected tool's button is highlighted): no click on it here.
        wait.until(lambda d: "highlight" in d.find_element(By.CSS_SELECTOR, brush).get_attribute("class"))

        def draw_a_seven():
            canvas = [c for c in driver.find_elements(By.CSS_SELECTOR, "#pad canvas") if c.is_displayed()][0]
            stroke = ActionChains(driver).move_to_element_with_offset(canvas, -50, -90).click_and_hold()
            for dx, dy in ((35, 0), (35, 0), (30, 0), (-10, 40), (-15, 50), (-15, 50), (-10, 40)):  # from its bar
                stroke = stroke.move_by_offset(dx, dy)
            stroke.release().perform()

        reading = lambda d: [line for line in d.find_element(By.ID, "reading").text.splitlines() if line.isdigit()]
        for attempt in range(2):  # the second after the bin: the brush is still selected, the reading fresh
            draw_a_seven()
            find("#read").click()
            until(lambda d: reading(d) and d.find_elements(By.CSS_SELECTOR, "#input28 img"), "#digit-message")
            assert reading(driver)[0] == "7", f"the drawn 7 was read as {reading(driver)[0]}"
            if attempt == 0:
                shot("digit.png")
                find("#pad button[aria-label='Clear canvas']").click()
                # The pad no longer holds the 7.
                until(lambda d: "Old results" in text("#digit-message"), "#digit-message")
                wait.until(lambda d: "highlight" in d.find_element(By.CSS_SELECTOR, brush).get_attribute("class"))
        until(lambda d: text("#digit-message") == "", "#digit-message")  # the reading is of the pad as it is
        draw_a_seven()  # a stroke after the reading: it is marked old
        until(lambda d: "Old results" in text("#digit-message"), "#digit-message")
        shares = [b for b in driver.find_elements(By.CSS_SELECTOR, "button")
                  if "share" in f"{b.get_attribute('aria-label')} {b.get_attribute('title')}".lower()]
        assert not shares, "a share button is on the page"

        # The tables' refusal is still beside their form (no toast: one would be gone after 10 s), and the old
        # tables gone.
        tab("Back-propagation").click()
        assert refusal in text("#tables-message") and "Layer" not in text("#tables")
        assert not driver.find_elements(By.CSS_SELECTOR, ".toast-body")
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()


def test_a_dot_or_a_blacked_out_pad_is_not_read_as_a_digit():
    pad = np.zeros((280, 280, 4), np.uint8)
    pad[140:146, 140:146, 3] = 255  # a dot
    with pytest.raises(digits.NotADigit, match=r"^this does not look like a digit: its ink spans 2% of the pad"):
        digits.preprocess(pad)
    pad[:, :, 3] = 255  # all black
    with pytest.raises(digits.NotADigit, match=r"^this does not look like a digit: ink covers 100% of the pad"):
        digits.preprocess(pad)
    seven = np.zeros((280, 280, 4), np.uint8)
    seven[40:60, 60:220, 3] = 255  # a bar and a stroke down: a 7 is read
    for k in range(180):
        seven[60 + k, 200 - k // 2: 218 - k // 2, 3] = 255
    assert digits.preprocess(seven).shape == (28, 28)


# -- The page's events, called here as the server calls them ----------------------------------------------------------

class Request:
    """What a handler reads of Gradio's request: the session it came from."""

    def __init__(self, session_hash):
        self.session_hash = session_hash


def test_reading_a_digit_gives_the_input_shown_and_the_networks_softmax_written_out():
    params = jax.tree.map(np.asarray, mlp.init(jax.random.key(0), [784, 16, 10]))
    model = digits.Model(params, mlp.Net("relu", input_scale=255.0), "a random network")
    canvas = np.full((CANVAS, CANVAS, 4), 255, np.uint8)  # white RGBA, as the pad sends it
    canvas[60:220, 130:150, :3] = 0  # a black stroke: a 1
    pixels, table, top = handlers.read_digit(model, {"composite": canvas, "background": None, "layers": []})
    digit = digits.preprocess(canvas)
    assert pixels.shape == (28 * 8, 28 * 8) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels[::8, ::8], digit.astype(np.uint8))  # each pixel shown 8 × 8
    (W1, b1), (W2, b2) = params
    logits = np.maximum(digit.reshape(1, -1) / 255.0 @ W1.T + b1, 0) @ W2.T + b2  # the network, by hand
    p = np.exp(logits[0] - logits.max()) / np.exp(logits[0] - logits.max()).sum()
    assert list(top) == [str(k) for k in range(10)]
    np.testing.assert_allclose([top[str(k)] for k in range(10)], p, rtol=1e-5, atol=1e-7)  # float32 round-off
    assert list(table["digit"]) == list(top) and np.array_equal(table["probability"], list(top.values()))
    assert digits.probabilities(model, digit).dtype == np.float64  # summed and shown without float32's round-off
    with jax.enable_x64():  # read in float32, as the network was trained, whatever dtype the digit comes in
        for given in (digit.astype(np.float64), digit.astype(np.uint8)):
            np.testing.assert_array_equal(digits.probabilities(model, given),
                                          digits.probabilities(model, given.astype(np.float32)))


@pytest.mark.parametrize("model, drawing, message", [
    (None, np.zeros((28, 28)), "^there is no network to read digits with: see the note at the top of this tab$"),
    ("model", None, "^the drawing is empty: draw a digit on the pad first$"),
    ("model", {"composite": None, "background": None, "layers": []}, "^the drawing is empty: draw a digit"),
    ("model", {"composite": None, "background": None}, "^the drawing is empty: draw a digit"),  # no layers sent
    ("model", np.full((28, 28), 255, np.uint8), "^the drawing is empty: draw a digit"),
    ("model", {"composite": None, "background": None, "layers": [widgets.Unreadable("not a PNG")]}, "^not a PNG$"),
    ("model", {"composite": np.zeros((28, 28)), "background": widgets.Unreadable("too big"), "layers": []},
     "^too big$"),  # an upload refused as the background, with a drawing over it
])
def test_a_drawing_that_cannot_be_read_is_refused_and_kept_for_the_box_beside_the_pad(model, drawing, message):
    model = digits.Model(mlp.init(jax.random.key(0), [784, 4, 10]), mlp.Net("relu", input_scale=255.0), "") \
        if model else None
    with pytest.raises(gr.Error) as refused:
        handlers.read_digit(model, drawing, Request("reader"))
    assert re.search(message, refused.value.message)
    assert handlers.MESSAGES.take(Request("reader")) == f"**Not run:** {refused.value.message}"  # beside the pad, once
    assert handlers.MESSAGES.take(Request("reader")) == ""


def test_train_streams_its_run_stop_ends_it_and_the_toggle_redraws_the_last_plot():
    def shown(figure):  # the lines drawn, on axes drawn
        return sum(line.get_visible() for ax in figure.axes if ax.get_visible() for line in ax.lines)

    form, student = (10, "sigmoid", "spread", 0.005, 40, 0), Request("student")
    before = handlers.preview(*form, request=student)
    assert before[1].startswith("step 0 of 40: the network before training") and before[3] == 0
    assert handlers.show_units(True, Request("nobody")) == gr.skip()  # no plot yet: nothing to redraw
    with_units, without = shown(handlers.show_units(True, student)), shown(handlers.show_units(False, student))
    assert with_units - without == fit.UNITS_SHOWN  # the largest units of the 10, drawn or not
    handlers.show_units(True, student)  # read by the run at each update
    *_, (figure, status, rmse, step) = handlers.train(*form, request=student)
    assert step == 40 and status.startswith("step 40 of 40 · train RMSE") and f"test RMSE {rmse:.4f}" in status
    assert rmse == list(fit.stream(fit.FitSettings(10, "sigmoid", "spread", 0.005, 40, 0)))[-1].test_rmse  # the form's
    assert shown(figure) == with_units
    assert handlers.stop(student) == "No run to stop."  # the run finished
    run = handlers.train(*form, request=student)
    first = next(run)[3]
    assert handlers.stop(student) == f"Stopped at step {first:,} of 40."
    assert [update[1] for update in run] == [f"Stopped at step {first:,} of 40."]


def test_a_run_shows_its_form_a_replaced_run_is_named_and_a_stop_mid_chunk_ends_on_the_last_plot(monkeypatch):
    form, student = (10, "tanh", "fan-in", 0.01, 40, 3), Request("replacer")  # no field at its default
    first = handlers.train(*form, request=student)
    figure, status, rmse, step = next(first)
    expected = next(fit.stream(fit.FitSettings(10, "tanh", "fan-in", 0.01, 40, 3)))
    assert (rmse, step) == (expected.test_rmse, expected.step) and status.endswith(" s")  # no note: nothing replaced
    second = handlers.train(*form, request=student)
    assert next(second)[1].endswith(f" s · Train replaced the run that was at step {step:,} of 40")
    assert list(first) == [(gr.skip(),) * 4]  # the replaced run changes nothing more
    *_, (last_figure, *_) = second
    # The toggle redraws the session's last plot: the run's last step.
    assert handlers.show_units(False, student).axes[0].get_title() == "width 10, tanh, fan-in: step 40 of 40"

    # A stop that arrives while a chunk trains: the run ends on its last plot, saying where it stopped.
    stream = fit.stream

    def stopped_in_the_second_chunk(settings):
        for k, snapshot in enumerate(stream(settings)):
            if k == 1:
                handlers.stop(student)
            yield snapshot

    monkeypatch.setattr(fit, "stream", stopped_in_the_second_chunk)
    updates = list(handlers.train(*form, request=student))
    assert len(updates) == 2 and updates[1][1] == f"Stopped at step {updates[0][3]:,} of 40."
    assert updates[1][0] is updates[0][0] and updates[1][2:] == updates[0][2:]

    # A run that diverges is refused by name, the words kept for the box beside the form.
    measure_for = fit.measure_for
    monkeypatch.setattr(fit, "measure_for", lambda width, activation: lambda *args: (
        *measure_for(width, activation)(*args)[:2], np.nan, None))
    with pytest.raises(gr.Error, match="the run diverged by step 0"):
        list(handlers.train(*form, request=student))
    assert handlers.MESSAGES.take(student).startswith(session.NOT_RUN + "the run diverged by step 0")


def test_the_tables_handlers_pass_every_field_and_keep_a_refusal_for_the_box():
    fields = dict(sizes="2, 3, 3", activation="tanh", output="softmax", loss="cross_entropy", x="1.0, -0.5", y="2",
                  seed=7, zero_unit=False)
    settings = tables.TableSettings(**fields, biases=True)
    html, difference, numbers = handlers.backprop_tables(*fields.values(), True)
    assert numbers == tables.compute(settings) and html == rendering.tables_html(numbers)
    assert handlers.backprop_tables(*fields.values())[2] == tables.compute(tables.TableSettings(**fields))
    values = "0.1, 0.2, 0.3"
    checked, diagnosis = handlers.check_numbers(*fields.values(), 2, "g", values, True)
    expected = tables.check_entries(settings, 2, "g", values)
    assert (checked, diagnosis) == (rendering.checked_html(expected), expected["diagnosis"])
    asker = Request("tables")
    with pytest.raises(gr.Error, match="sizes must be"):
        handlers.backprop_tables("2", *list(fields.values())[1:], request=asker)
    assert handlers.MESSAGES.take(asker).startswith(session.NOT_RUN + "sizes must be 2 to")


def png_header(width: int, height: int) -> bytes:
    """A PNG of width × height with no pixels in it: its header is all there is to read."""
    import struct
    import zlib
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


async def built(model) -> gr.Blocks:
    """The page built in a running event loop (Gradio opens a loop of its own for each lock when none runs, and never
    closes them)."""
    return app.build(model, "a test network")


def test_the_page_sends_no_telemetry_even_where_the_environment_allows_it(monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")  # Gradio's own default, where nothing says otherwise
    model = digits.Model(mlp.init(jax.random.key(0), [784, 4, 10]), mlp.Net("relu", input_scale=255.0), "")
    assert asyncio.run(built(model)).analytics_enabled is False


def test_an_edit_of_the_pad_marks_the_reading_old_in_the_browser_without_a_round_trip():
    # Each event first uploads the pad's image, and the uploads finish in any order: a server-side mark could come
    # back after the reading of that very stroke. The mark is the page's script, run in the order of the user's acts.
    model = digits.Model(mlp.init(jax.random.key(0), [784, 4, 10]), mlp.Net("relu", input_scale=255.0), "")
    page = asyncio.run(built(model))
    pad = next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == "pad")
    on_edit = [fn for fn in page.fns.values() if (pad._id, "input") in [tuple(t) for t in fn.targets]]
    assert [(fn.fn, fn.queue) for fn in on_edit] == [(None, False)]
    script = on_edit[0].js
    assert json.dumps(session.stale_note(True)) in script and json.dumps(session.NOT_RUN) in script
    read_by = [fn for fn in page.fns.values() if fn.api_name == "read"]
    assert [block.elem_id for block in read_by[0].inputs] == ["pad"]


# -- The page as built: its outline, recorded --------------------------------------------------------------------------

# What the page sets on its components (any other attribute is Gradio's default, which may change between versions).
SET_BY_THE_PAGE = ("label", "value", "elem_id", "elem_classes", "choices", "interactive", "variant", "min_width",
                   "scale", "equal_height", "height", "width", "lines", "precision", "open", "num_top_classes", "x",
                   "y", "y_lim", "sort", "format", "canvas_size", "image_mode", "type", "brush", "layers",
                   "transforms", "buttons", "id")


def plain(value):
    """``value`` as JSON can hold it: a dataclass (a brush) as its fields, a table as its columns."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "columns"):  # the bar plot's table
        return {"columns": list(value.columns), "rows": len(value)}
    return type(value).__name__


def outline(page: gr.Blocks) -> dict:
    """Every component of ``page`` in order (its kind, its parent and what the page sets on it) and every event (what
    triggers it, after which event, its handler, inputs, outputs and how it is queued), components named by their
    ``elem_id``, else by kind and position."""
    blocks = list(page.blocks.values())
    names = {id(b): getattr(b, "elem_id", None) or f"{type(b).__name__}#{k}" for k, b in enumerate(blocks)}
    components = [{"name": names[id(b)], "kind": type(b).__name__,
                   "in": names.get(id(getattr(b, "parent", None)), None),
                   **{key: plain(getattr(b, key)) for key in SET_BY_THE_PAGE if getattr(b, key, None) is not None}}
                  for b in blocks]
    fns = list(page.fns.values())
    by_id = {b._id: names[id(b)] for b in blocks}
    events = [{"on": [[by_id.get(target, "the page"), event] for target, event in fn.targets],
               "after": fns.index(page.fns[fn.trigger_after]) if fn.trigger_after is not None else None,
               "only_on": "success" if fn.trigger_only_on_success else "failure" if fn.trigger_only_on_failure
               else None,
               "fn": getattr(fn.fn, "__name__", None), "inputs": [names[id(b)] for b in fn.inputs],
               "outputs": [names[id(b)] for b in fn.outputs], "api_name": fn.api_name,
               "api_visibility": getattr(fn, "api_visibility", None), "queue": fn.queue,
               "trigger_mode": fn.trigger_mode, "concurrency_limit": plain(fn.concurrency_limit),
               "show_progress": fn.show_progress, "js": fn.js}
              for fn in fns]
    return {"title": page.title, "analytics_enabled": page.analytics_enabled, "components": components,
            "events": events}


def test_the_page_is_the_outline_recorded_beside_this_module():
    # Every word, field, default and event of the page, as reviewed: a change to the page is a change to the file
    # (tests/snapshots.py says how to rewrite it).
    model = digits.Model(mlp.init(jax.random.key(0), [784, 4, 10]), mlp.Net("relu", input_scale=255.0), "")
    built_outline = json.loads(json.dumps(outline(asyncio.run(built(model)))))
    recorded = snapshots.recorded_json("playground_page.json", built_outline)
    assert built_outline["components"] == recorded["components"]
    assert built_outline["events"] == recorded["events"]
    assert built_outline == recorded


def test_a_press_clears_the_box_a_refusal_marks_its_field_and_an_edit_marks_the_results_old():
    # The page's own handlers, as the server calls them: a press empties the box and unmarks the fields; a refusal
    # fills the box, marks the field it names and keeps the last results marked old; an edit after results says so.
    model = digits.Model(mlp.init(jax.random.key(0), [784, 4, 10]), mlp.Net("relu", input_scale=255.0), "")
    page = asyncio.run(built(model))
    events = list(page.fns.values())
    train_press = next(k for k, fn in enumerate(events) if fn.api_name == "train") - 1
    cleared = events[train_press].fn()
    assert cleared[0] == "" and [update["elem_classes"] for update in cleared[1:]] == [[]] * 6
    student = Request("student")
    with pytest.raises(gr.Error):
        list(handlers.train(10, "tanh", "spread", 2.0, 40, 0, request=student))  # a rate above 1: refused
    message, status, *marks = events[train_press + 2].fn(student)
    assert message.startswith(session.NOT_RUN + "learning rate") and status == session.OLD_RUN
    assert [update["elem_classes"] for update in marks] == [[], [], [], ["refused"], [], []]  # width ... seed
    edited = next(fn for fn in events if fn.fn is not None and fn.fn.__name__ == "edited" and len(fn.targets) == 6)
    assert edited.fn("a plot", "") == ("**Old results:** the form has changed since the results below were computed; "
                                       "they are for the values before the change. Press the button to compute them "
                                       "for the form.")
    assert edited.fn(None, "") == ""
    assert edited.fn("a plot", message) == message  # a refusal stays until the next press
    with pytest.raises(gr.Error):
        events[-4].fn(None, student)  # the tab's network reads the pad: an empty one is refused
    drawing = np.full((CANVAS, CANVAS, 4), 255, np.uint8)
    drawing[60:220, 130:150, :3] = 0  # a black stroke
    np.testing.assert_array_equal(events[-4].fn(drawing, student)[0], handlers.read_digit(model, drawing)[0])
    message, digit, top, pad_mark = events[-3].fn(student)
    assert message == session.NOT_RUN + "the drawing is empty: draw a digit on the pad first"
    assert (digit, top, pad_mark["elem_classes"]) == (None, None, [])


def test_a_refusal_clears_each_tabs_results_to_what_its_boxes_show_empty():
    # The refusal handler after each button: the box's message, then each result cleared (a text box to "", a
    # figure or a number table to None: Gradio's "nothing here"), then the fields' marks.
    model = digits.Model(mlp.init(jax.random.key(0), [784, 4, 10]), mlp.Net("relu", input_scale=255.0), "")
    page = asyncio.run(built(model))
    events = list(page.fns.values())
    names = {fn.api_name: k for k, fn in enumerate(events)}
    for api_name, cleared in [("tables", [("HTML", ""), ("Number", None), ("JSON", None)]),
                              ("check", [("HTML", ""), ("Textbox", "")])]:
        refused = events[names[api_name] + 1]
        assert refused.fn.__name__ == "refused" and refused.trigger_only_on_failure
        message, *values = refused.fn(Request("nobody"))[:1 + len(cleared)]
        kinds = [type(block).__name__ for block in refused.outputs[1:1 + len(cleared)]]
        assert (message, list(zip(kinds, values))) == ("", cleared)


def test_the_forms_open_on_the_settings_defaults(monkeypatch):
    # The forms follow the settings' dataclasses, field by field: other defaults than the shipped ones, every field
    # changed, must show on the page as built.
    fit_settings = dict(width=100, activation="relu", init="fan-in", lr=0.01, steps=500, seed=3)
    table_settings = dict(sizes="2, 3, 1", activation="tanh", output="sigmoid", loss="mae", x="1.0, 2.0", y="0.5",
                          seed=7, zero_unit=False, biases=True)
    assert all(getattr(fit.FitSettings(), k) != v for k, v in fit_settings.items())
    assert all(getattr(tables.TableSettings(), k) != v for k, v in table_settings.items())
    monkeypatch.setattr(fit, "FitSettings", functools.partial(fit.FitSettings, **fit_settings))
    monkeypatch.setattr(tables, "TableSettings", functools.partial(tables.TableSettings, **table_settings))
    model = digits.Model(mlp.init(jax.random.key(0), [784, 4, 10]), mlp.Net("relu", input_scale=255.0), "")
    events = {fn.api_name: fn for fn in asyncio.run(built(model)).fns.values()}
    for api_name, settings in [("train", fit_settings), ("tables", table_settings)]:
        assert [block.value for block in events[api_name].inputs] == list(settings.values())


async def in_a_loop(fn, *args):
    return fn(*args)


def test_the_command_line_serves_the_page_on_this_machine_only_with_its_limits(monkeypatch, capsys):
    served = {}
    monkeypatch.setattr(digits, "load_model", lambda *args: served.update(model=args) or (None, "no network here"))
    monkeypatch.setattr(gr.Blocks, "queue", lambda page, **kwargs: served.update(queue=kwargs) or page)
    monkeypatch.setattr(gr.Blocks, "launch", lambda page, **kwargs: served.update(page=page, launch=kwargs))
    serve = asyncio.run  # the page is built in a running event loop (see built)
    serve(in_a_loop(app.run, ["--port", "8123", "--checkpoint", "elsewhere.npz", "--data-dir", "digits",
                              "--startup-epochs", "2"]))
    assert served["model"] == ("elsewhere.npz", "digits", 2)
    assert served["queue"] == {"default_concurrency_limit": 8}
    assert served["launch"] == {"server_name": "127.0.0.1", "server_port": 8123, "ssr_mode": False,
                                "css": widgets.CSS, "show_error": True, "footer_links": ["api"], "quiet": True,
                                "max_file_size": "8mb"}
    assert capsys.readouterr().out == "jaxnet playground: http://127.0.0.1:8123/\n"
    digit_intro = [block.value for block in served["page"].blocks.values() if isinstance(block, gr.Markdown)
                   and "Draw a digit" in (block.value or "")]
    assert len(digit_intro) == 1 and digit_intro[0].endswith("\n\nno network here")
    serve(in_a_loop(app.run, []))
    assert served["model"] == ("runs/mnist/checkpoint.npz", None, 3) and served["launch"]["server_port"] == 7860
    assert capsys.readouterr().out == "jaxnet playground: http://127.0.0.1:7860/\n"
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(sys, "argv", ["command"])
    with pytest.raises(SystemExit):
        app.run(["--help"])
    text = capsys.readouterr().out
    assert text.split("\n\n")[1].split() == app.__doc__.split("\n\n")[0].split()  # the docstring's first lines
    assert text.split() == snapshots.recorded_text("help/playground.txt", text).split()  # and each flag's words
    with pytest.raises(ValueError, match="port"):
        app.Config(port=0)  # as built in Python, not only from the command line
    for flags, refused in [(["--port", "0"], "--port"), (["--startup-epochs", "101"], "--startup-epochs")]:
        with pytest.raises(SystemExit):
            app.run(flags)
        assert refused in capsys.readouterr().err

def test_a_number_box_hands_its_value_over_as_sent():
    box = widgets.number_box(3, label="width")
    assert box.value == 3 and box.label == "width" and box.precision is None
    for sent in (10.5, "ten", 1e400, None):
        assert box.preprocess(sent) is sent  # no rounding, no refusal: the handler names the field


@pytest.mark.parametrize("name, settings", [
    ("relu_mse", dict()),  # the tab's defaults: v_1's first unit at 0, ReLU'(0) = 1
    ("softmax_mse", dict(sizes="3, 2, 3", activation="tanh", output="softmax", y="0, 0, 1", biases=True)),  # J
])
def test_the_tables_html_is_the_text_recorded_for_recorded_numbers(name, settings):
    # The numbers are recorded too (tests/snapshots.py rewrites both from the tab's computation), so the HTML is
    # checked on the same input with every version of JAX.
    computed = json.loads(json.dumps(tables.compute(tables.TableSettings(**settings))))
    numbers = snapshots.recorded_json(f"tables_{name}.json", computed)
    html = rendering.tables_html(numbers)
    assert html == snapshots.recorded_text(f"tables_{name}.html", html)

def test_the_checked_table_is_written_out_entry_by_entry():
    result = {"table": "∇W", "layer": 2, "given": [[0.5, -0.0, 3.0], [1e-7, 2.0, -4.25]],
              "right": [[True, False, True], [True, True, False]], "text": "two entries <differ>", "diagnosis": ""}
    assert rendering.checked_html(result) == (
        "<p id='check-text'>two entries &lt;differ&gt;</p><table class='bp check'>"
        "<tr><th>∇W<sub>2</sub></th><th>col 1</th><th>col 2</th><th>col 3</th></tr>"
        "<tr><td>row 1</td><td><span class='right'>0.5 ✓</span></td><td><span class='wrong'>0 ✗</span></td>"
        "<td><span class='right'>3 ✓</span></td></tr>"
        "<tr><td>row 2</td><td><span class='right'>1e-07 ✓</span></td><td><span class='right'>2 ✓</span></td>"
        "<td><span class='wrong'>-4.25 ✗</span></td></tr></table>")
    vector = rendering.checked_html({"table": "g", "layer": 1, "given": [1.5, 2.0], "right": [False, True],
                                     "text": "", "diagnosis": ""})
    assert vector.endswith("<tr><th>g<sub>1</sub></th><th>col 1</th><th>col 2</th></tr><tr><td>row 1</td>"
                           "<td><span class='wrong'>1.5 ✗</span></td><td><span class='right'>2 ✓</span></td>"
                           "</tr></table>")


def test_the_check_reads_every_field_of_the_form():
    # Every field away from its default (v_1's first unit zeroed or not): the true g_1 of that network is marked
    # right only if each field reaches it.
    # (Not softmax with the cross-entropy: its g_L is the fused (z − y)/N whatever the output says. The MAE sees
    # only the signs of ŷ − y: y is on the other side of the sigmoid's ŷ from the default y's.)
    form = dict(sizes="2, 3, 2", activation="tanh", output="sigmoid", loss="mae", x="0.3, -0.7", y="0.01, 0.99",
                seed=3, zero_unit=True, biases=True)
    default_g1 = tables.compute(tables.TableSettings(sizes="2, 3, 2", x="0.3, -0.7", y="1, 0"))["layers"][0]["g"]
    for zero_unit in (True, False):
        settings = tables.TableSettings(**{**form, "zero_unit": zero_unit})
        true_g1 = tables.compute(settings)["layers"][0]["g"]
        assert not np.allclose(true_g1, default_g1, rtol=0.01)
        html, diagnosis = handlers.check_numbers(form["sizes"], form["activation"], form["output"], form["loss"],
                                                 form["x"], form["y"], form["seed"], zero_unit, 1, "g",
                                                 " ".join(f"{v:.6g}" for v in true_g1), form["biases"])
        assert diagnosis == "ok" and html.count("✓") == 3 and "✗" not in html
    for field, value in [("seed", 1.5), ("layer", 0.5)]:
        fields = {**form, "layer": 1, field: value}
        with pytest.raises(gr.Error):
            handlers.check_numbers(*(fields[k] for k in ("sizes", "activation", "output", "loss", "x", "y", "seed",
                                                         "zero_unit", "layer")), "g", "1 2 3", form["biases"],
                                   request=Request("checker"))
        assert handlers.MESSAGES.take(Request("checker")) == f"**Not run:** {field} must be a whole number, got {value}"

def test_the_session_stores_keep_the_latest_sessions_only():
    # A client of the API never takes its refusals; a closed tab never comes back: the oldest are dropped first, and
    # a session seen again counts as new.
    messages, views, runs = session.Messages(), session.Views(), session.Runs()
    refusal = messages.refuse(Request("s0"), "first")
    assert (refusal.visible, refusal.print_exception) == (False, False)  # the box shows it, not a toast or a log
    for k in range(1, session.Messages.KEPT):  # KEPT sessions in all
        messages.refuse(Request(f"s{k}"), "a refusal")
    messages.refuse(Request("s0"), "again")  # s0 is now the newest, s1 the oldest
    messages.refuse(Request("one more"), "a refusal")
    assert messages.take(Request("s1")) == "" and messages.take(Request("s0")) == "**Not run:** again"
    assert messages.take(Request("s2")) == "**Not run:** a refusal"
    assert messages.take(Request(None)) == "" and messages.take(None) == ""
    messages.refuse(Request(None), "no session")  # a request without a session records nothing
    assert messages.take(Request(None)) == ""
    for k in range(session.Views.KEPT + 1):
        views.show(f"s{k}", fit.FitSettings(), k)
        views.set_units(f"s{k}", True)
    views.show("s1", fit.FitSettings(), "again")
    assert views.last("s0") is None and views.last("s1")[1] == "again" and views.last("s2")[1] == 2
    views.show("another", fit.FitSettings(), 0)  # s1, shown again, is newer than s2: s2 goes
    assert views.last("s2") is None and views.last("s1")[1] == "again"
    views.set_units("s1", True)  # seen again: now the newest, s0 and then s2 the oldest
    for k in range(session.Views.KEPT + 1, session.Messages.KEPT + 1):
        views.set_units(f"s{k}", True)
    views.set_units("one more", True)
    # units are kept for Messages.KEPT sessions
    assert (views.units("s0"), views.units("s2"), views.units("s1"), views.units("s3")) == (False, False, True, True)
    first, _ = runs.start("alice", 10)
    second, replaced = runs.start("alice", 20)
    assert replaced is first and (first.current, second.current) == (False, True)
    runs.finish("alice", first)  # an old run ending leaves the new one in place
    assert runs.stop("alice") is second

def test_a_request_without_a_session_shares_one_and_fields_are_named_as_the_page_shows_them():
    assert [session.session_of(r) for r in (None, Request(""), Request("alice"))] == ["no session"] * 2 + ["alice"]
    assert [fit.label(name) for name in ("lr", "test_points", "width")] == ["learning rate", "test points", "width"]


def test_each_sessions_refusal_run_and_view_are_its_own():
    # Fresh stores, as the server holds one of each: two sessions never see each other's.
    messages, runs, views = session.Messages(), session.Runs(), session.Views()
    alice, bob = Request("alice"), Request("bob")
    assert messages.refuse(alice, "width must be a whole number").message == "width must be a whole number"
    assert messages.take(bob) == "" and messages.take(alice) == "**Not run:** width must be a whole number"
    assert messages.take(alice) == ""  # taken once
    run, replaced = runs.start("alice", 40)
    assert replaced is None and (run.step, run.steps, run.current, run.stopped) == (0, 40, True, False)
    assert runs.stop("bob") is None and runs.stop("alice") is run and (run.current, run.stopped) == (False, True)
    snapshot = object()  # what a run last showed: kept as it is
    views.show("alice", fit.FitSettings(), snapshot)
    views.set_units("alice", 1)
    assert views.last("alice") == (fit.FitSettings(), snapshot) and views.last("bob") is None
    assert views.units("alice") is True and views.units("bob") is False

def test_the_page_opens_on_the_forms_own_untrained_network():
    form = dict(width=20, activation="sigmoid", init="fan-in", lr=0.01, steps=30, seed=5)
    viewer = Request("viewer")
    figure, status, rmse, step = handlers.preview(*form.values(), request=viewer)
    first = next(fit.stream(fit.FitSettings(**form)))  # step 0 of the form's run
    assert (rmse, step) == (first.test_rmse, 0) and rmse != next(fit.stream(fit.FitSettings())).test_rmse
    assert status == f"step 0 of 30: the network before training, test RMSE {first.test_rmse:.4f}. Press Train."
    assert handlers.VIEWS.last("viewer")[0] == fit.FitSettings(**form)  # what the toggle redraws
    assert handlers.preview(10.5, "tanh", "spread", 0.005, 40, 0, request=viewer) == (None, "", None, None)

def test_a_written_png_is_read_back_whole_and_its_size_from_its_header(tmp_path):
    path = str(tmp_path / "small.png")
    huge_png(path, 7, 3)
    with Image.open(path) as image:
        assert image.size == (7, 3) and image.mode == "RGBA"
        assert not np.asarray(image).any()  # all transparent
    assert widgets.png_size(path) == (7, 3)
    with open(path, "rb") as f:
        assert widgets.png_size(f) == (7, 3)
    assert widgets.png_size(__import__("io").BytesIO(png_header(70_000, 3))) == (70_000, 3)
    assert widgets.png_size(__import__("io").BytesIO(png_header(2**32 - 1, 2**31))) == (2**32 - 1, 2**31)  # unsigned

    class Counted(__import__("io").BytesIO):
        def read(self, size=-1):
            asked.append(size)
            return super().read(size)

    asked: list = []
    assert widgets.png_size(Counted(png_header(7, 3) + bytes(10_000))) == (7, 3) and asked == [24]  # the header only
    assert widgets.png_size(__import__("io").BytesIO(png_header(7, 3)[:23])) is None  # a header cut short
    assert widgets.png_size(__import__("io").BytesIO(b"\xff\xd8\xff\xe0" + bytes(20))) is None  # a JPEG's start


def bmp_header(width: int, height: int) -> bytes:
    """A 24-bit BMP of width × height with no pixels in it."""
    import struct
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0))


@pytest.mark.parametrize("upload_bytes, message", [
    (png_header(2_000, 1_000), r"^the drawing is 2,000 × 1,000 pixels; at most 1,000,000 pixels are read"),
    (png_header(20_000, 20_000), r"^the drawing is 20,000 × 20,000 pixels"),  # past PIL's own limit: from the header
    (png_header(10_000, 10_000), r"^the drawing is 10,000 × 10,000 pixels"),  # past PIL's warning, not its limit
    (bmp_header(20_000, 20_000), r"^the drawing has 400,000,000 pixels; at most 1,000,000 pixels are read "
                                 r"\(the pad's is 280 × 280\)$"),  # past PIL's limit, not a PNG: PIL's count
    (b"not an image at all", r"^the drawing is not an image that can be read \(PNG, WebP, JPEG, …\)$"),
    (png_header(280, 280), r"^the drawing is not an image that can be read \(PNG, WebP, JPEG, …\)$"),  # no pixels
])
def test_the_pad_refuses_an_upload_by_its_header_before_decoding_it(upload_bytes, message):
    refused = widgets.size_checked(gr.Sketchpad()).convert_and_format_image(upload_bytes)
    assert isinstance(refused, widgets.Unreadable) and re.search(message, refused.reason)



def test_the_pad_names_a_bomb_whose_count_pil_does_not_give(monkeypatch):
    def refuse(source):
        raise widgets.Image.DecompressionBombError("Image size exceeds limit")

    monkeypatch.setattr(widgets.Image, "open", refuse)
    refused = widgets.size_checked(gr.Sketchpad()).convert_and_format_image(b"GIF89a")
    assert refused.reason == ("the drawing has too many pixels; at most 1,000,000 pixels are read (the pad's is "
                              "280 × 280)")


def test_the_size_check_silences_pils_bomb_warning_only(monkeypatch):
    opened = widgets.Image.open

    def warns(source):
        warnings.warn("a warning of the image's own", UserWarning, stacklevel=2)
        warnings.warn("over PIL's warning size", widgets.Image.DecompressionBombWarning, stacklevel=2)
        return opened(source)

    monkeypatch.setattr(widgets.Image, "open", warns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        widgets.size_checked(gr.Sketchpad()).convert_and_format_image(png_header(2_000, 1_000))
    assert [str(w.message) for w in caught] == ["a warning of the image's own"]


def test_the_size_check_keeps_the_pads_own_decoding(tmp_path):
    # The check only refuses; what it lets through is decoded by Gradio's own method, with the caller's flattening.
    from gradio.data_classes import FileData

    image = np.zeros((4, 4, 4), np.uint8)
    image[0, 0] = (10, 20, 30, 255)  # one opaque pixel, the rest clear
    Image.fromarray(image).save(tmp_path / "drawing.png")
    sent = [(tmp_path / "drawing.png").read_bytes(), FileData(path=str(tmp_path / "drawing.png"))]
    for mode in ("RGB", "RGBA"):
        plain = gr.Sketchpad(image_mode=mode, type="numpy")
        checked = widgets.size_checked(gr.Sketchpad(image_mode=mode, type="numpy"))
        for file in sent:
            np.testing.assert_array_equal(checked.convert_and_format_image(file), plain.convert_and_format_image(file))
            for flatten in (False, True):
                np.testing.assert_array_equal(checked.convert_and_format_image(file, flatten),
                                              plain.convert_and_format_image(file, flatten))
    flat = widgets.size_checked(gr.Sketchpad(image_mode="RGB", type="numpy")).convert_and_format_image(sent[0], True)
    assert flat[3, 3].tolist() == [255, 255, 255] and flat[0, 0].tolist() == [10, 20, 30]  # clear becomes white


def test_the_pad_decodes_an_image_within_the_limit(tmp_path):
    image = np.zeros((1000, 1000, 4), np.uint8)  # 1,000,000 pixels: at the limit, read
    image[10, 20] = (1, 2, 3, 255)
    Image.fromarray(image).save(tmp_path / "one.png")
    decoded = widgets.size_checked(gr.Sketchpad()).convert_and_format_image((tmp_path / "one.png").read_bytes())
    assert not isinstance(decoded, widgets.Unreadable)
    assert np.asarray(decoded).shape[:2] == (1000, 1000) and tuple(np.asarray(decoded)[10, 20][:3]) == (1, 2, 3)


def test_the_load_helpers_make_distinct_networks_and_the_tables_form(tmp_path):
    every = distinct_networks(1884)
    assert len(set(every)) == 1884 and every[:3] == ["2, 1, 2", "2, 2, 2", "2, 3, 2"]
    assert every[11:13] == ["2, 12, 2", "2, 1, 1, 2"] and every[155:157] == ["2, 12, 12, 2", "2, 1, 1, 1, 2"]
    assert every[-1] == "2, 12, 12, 12, 2" and distinct_networks(3) == every[:3]
    assert all(tables.TableSettings(sizes=sizes).layer_sizes()[0] == 2 for sizes in every[::97])  # the box takes them
    with pytest.raises(ValueError, match="at most 1,884 networks, asked for 1,885"):
        distinct_networks(1885)
    assert tables_request("3, 4, 2") == ("3, 4, 2", "tanh", "identity", "mse", "1, 1, 1", "0, 0", 1, False)
    (tmp_path / "drawing.png").write_bytes(png_header(2, 2))
    sent = upload(str(tmp_path / "drawing.png"))
    assert sent["composite"]["path"] == str(tmp_path / "drawing.png") and sent["layers"] == []
    assert sent["background"] is None and sent["id"] is None


def test_memory_reads_this_process_and_its_growth_since_a_reset():
    memory = Memory(os.getpid())
    now = memory.read()
    assert 0 < now["VmRSS"] <= now["VmHWM"]
    try:  # the kernel's reset of the peak, tried here first: where it works, Memory.reset must too
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("this kernel cannot reset a process's peak resident size")
    np.ones(256 * 2**20, np.uint8).sum()  # a peak 256 MB above the present, gone again
    memory.reset()
    assert memory.read()["VmHWM"] < now["VmHWM"] + 128 * 2**20  # the peak is reset to the present
    block = np.ones(64 * 2**20, np.uint8)  # 64 MB, touched
    assert 60 * 2**20 <= memory.growth() < 200 * 2**20 and block.sum() == 64 * 2**20


def test_memory_reads_the_kernels_status_lines_in_bytes(monkeypatch):
    status = "Name:\tjax:worker\nVmHWM:\t    4096 kB\nVmRSS:\t    2048 kB\n"  # a process's name may hold a colon
    monkeypatch.setattr(load, "open", lambda path: __import__("io").StringIO(status) if path == "/proc/7/status"
                        else pytest.fail(path), raising=False)
    assert Memory(7).read() == {"VmRSS": 2048 * 1024, "VmHWM": 4096 * 1024}


def test_a_huge_png_is_three_valid_chunks_of_zero_rows(tmp_path):
    # Read by hand, not by PIL (which reads past an over-long row or a missing end): the chunks, their checksums and
    # every row's bytes.
    import struct
    import zlib

    path = tmp_path / "huge.png"
    huge_png(str(path), 300, 7)
    content, chunks, at = path.read_bytes(), [], 8
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    while at < len(content):
        (length,), kind = struct.unpack(">I", content[at:at + 4]), content[at + 4:at + 8]
        payload, crc = content[at + 8:at + 8 + length], content[at + 8 + length:at + 12 + length]
        assert struct.unpack(">I", crc)[0] == zlib.crc32(kind + payload)
        chunks.append((kind, payload))
        at += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"] and chunks[2][1] == b""
    assert chunks[0][1] == struct.pack(">IIBBBBB", 300, 7, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    assert zlib.decompress(chunks[1][1]) == bytes(7 * (1 + 4 * 300))  # each row: filter 0, then 300 clear pixels


def test_with_no_checkpoint_the_digit_tab_trains_the_recipe_on_the_files_found(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("JAXNET_DATA_DIR", raising=False)
    found, empty = tmp_path / "idx", tmp_path / "empty"
    found.mkdir()
    empty.mkdir()
    labelled_mnist(str(found))
    made = []
    make = digits.tempfile.mkdtemp
    monkeypatch.setattr(digits.tempfile, "mkdtemp", lambda prefix: made.append(make(prefix=prefix, dir=tmp_path))
                        or made[-1])
    assert digits.load_model(str(tmp_path / "none.npz"), str(empty), 3) == (None, (
        "No network: there is no checkpoint from `make mnist` and the MNIST files were not found. Put the four MNIST "
        "`.gz` IDX files in a folder and set `JAXNET_DATA_DIR` to it (or pass `--data-dir`), then restart the "
        "playground, or run `make mnist` first. The other tabs work without them."))
    terminal = Terminal()  # where the recipe would draw its progress bar
    monkeypatch.setattr(sys, "stderr", terminal)
    model, text = digits.load_model(str(tmp_path / "none.npz"), str(found), 1)
    assert terminal.getvalue() == ""
    assert len(made) == 1 and os.path.basename(made[0]).startswith("jaxnet-playground-")
    written = ["checkpoint.npz", "confusion_matrix.txt", "log.jsonl", "metrics.json"]  # no figures
    assert sorted(os.listdir(made[0])) == written
    assert capsys.readouterr() == ("", "")  # trained quietly (no progress bar either), before the page is served
    with open(os.path.join(made[0], "metrics.json")) as f:
        accuracies = json.load(f)["test_accuracy_per_seed"]
    from jaxnet import checkpoint

    assert len(accuracies) == 1 and checkpoint.read_header(os.path.join(made[0], "checkpoint.npz"))["epoch"] == 1
    assert text == (f"No checkpoint from `make mnist` (`{tmp_path / 'none.npz'}`), so this network was trained when "
                    f"the playground started: 1 epochs of `experiments/mnist.py`'s recipe, test accuracy "
                    f"{accuracies[0]:.2%}. Run `make mnist` for the lecture's network trained by the whole recipe (8 "
                    f"epochs, 3 seeds).")
    assert model.description == text and model.params[0][0].shape == (200, 784)

def test_the_digit_tab_loads_a_checkpoints_first_member_and_says_where_it_came_from(tmp_path):
    import optax

    from jaxnet import callbacks, train

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 784)).astype(np.uint8), rng.integers(0, 10, 40).astype(np.int32)
    net = mlp.Net("tanh", "sigmoid", input_shift=33.0, input_scale=78.0)  # every field away from its default
    trainer = train.Trainer(net, loss="mse", optimizer=optax.sgd(0.01), batch_size=20, ensemble=True)
    path = str(tmp_path / "checkpoint.npz")
    state, _ = trainer.fit(trainer.init(mlp.init_ensemble(jax.random.key(0), 2, [784, 8, 10])), x,
                           np.eye(10, dtype=np.float32)[y], epochs=2, key=jax.random.key(1),
                           callbacks=[callbacks.Checkpoint(path)])
    model = digits.from_checkpoint(path, "a description")
    assert model.net == net and model.description == "a description"
    for (W, b), (W_all, b_all) in zip(model.params, state.params, strict=True):
        np.testing.assert_array_equal(W, W_all[0])  # member 0, bit for bit
        np.testing.assert_array_equal(b, b_all[0])
    loaded, text = digits.load_model(path, None, 3)
    assert text == f"The network `make mnist` trained ({path}, 2 epochs)." and loaded.net == net
    assert loaded.description == text
    (tmp_path / "metrics.json").write_text(json.dumps({"test_accuracy_per_seed": [0.98125, 0.5]}))
    assert digits.load_model(path, None, 3)[1] == f"The network `make mnist` trained ({path}, 2 epochs, test accuracy "\
                                               f"98.12%)."
    missing, text = digits.load_model(str(tmp_path / "none.npz"), str(tmp_path / "no-data"), 3)
    assert missing is None and text.startswith("No network: there is no checkpoint from `make mnist` and the MNIST "
                                               "files were not found.") and "JAXNET_DATA_DIR" in text
