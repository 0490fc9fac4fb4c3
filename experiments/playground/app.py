"""The lecture, live: a local web page with the width sweep, back-propagation's tables and a digit you draw.

``make playground`` (or ``python -m experiments.playground``, or ``python experiments/playground/app.py``) serves it
on http://127.0.0.1:7860 (``--port`` to change), built with Gradio (the ``playground`` extra). Everything it shows is
computed by jaxnet on this machine and the page loads nothing from outside it (no fonts, scripts or analytics), so
it works with no network at all.

* Universal approximation: one network of ``experiments/universal_approx.py``, trained by a held
  ``jaxnet.train.Trainer`` in compiled chunks (:mod:`experiments.playground.fit`), its fit and errors plotted as it
  trains.
* Back-propagation: the lecture's tables for a small network and one example, beside ``jax.grad``
  (:mod:`experiments.playground.backprop`).
* A digit you draw: preprocessed as MNIST's digits were and read by the 784-200-10 network
  (:mod:`experiments.playground.digits`).

Each event runs in its own thread, so two people training at once each see their own run. What reaches a handler is
what was typed or sent (:func:`number_box` never rounds), every refusal names its field and stays beside the form
until the next press (:class:`Messages`), Train during a run replaces it and Stop says where it stopped
(:class:`Runs`), and a drawing's size is read from its header before it is decoded (:func:`size_checked`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import os
import re
import struct
import sys
import threading
import warnings
from typing import Annotated, NamedTuple

if __name__ == "__main__" and not __package__:  # run as a file: import the package from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads this once

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from gradio.data_classes import FileData  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from experiments import cli  # noqa: E402
from experiments.cli import Range  # noqa: E402
from experiments.playground import backprop, digits, fit  # noqa: E402

HOST = "127.0.0.1"  # this machine only: the page runs code on request
MAX_UPLOAD = "8mb"  # a file sent to the page; a 1,000,000-pixel RGBA PNG is at most 4 MB


@dataclasses.dataclass(frozen=True)
class Config:
    port: Annotated[int, Range(1, 65535)] = 7860  # the page's port on 127.0.0.1
    checkpoint: str = "runs/mnist/checkpoint.npz"  # the network `make mnist` trained, for the digit tab
    data_dir: str | None = None  # the MNIST IDX files, for a start-up network when there is no checkpoint
    startup_epochs: Annotated[int, Range(1, 100)] = 3  # epochs of that start-up network

    def __post_init__(self):
        cli.check(self)


# -- What reaches the handlers --------------------------------------------------------------------------------------

def number_box(value, **kwargs) -> gr.Number:
    """A number box whose value reaches its handler exactly as typed or sent.

    Gradio's own box rounds to its ``precision`` before the handler sees the value (a width of 10.5 would train as 10)
    and fails on text, NaN or an infinity with a message that does not name the box; the handlers check every value
    themselves and name the field (:func:`experiments.playground.fit.form_number`). (The method is replaced on the
    instance: a subclass of a Gradio component makes Gradio write a stub file beside this module.)
    """
    box = gr.Number(value, precision=None, **kwargs)
    box.preprocess = lambda payload: payload  # type: ignore[method-assign]
    return box


class Unreadable(NamedTuple):
    """A drawing refused before it was decoded, in its place, so that the handler refuses it by name."""

    reason: str


def png_size(source) -> tuple[int, int] | None:
    """A PNG's ``(width, height)`` from its header (its first 24 bytes), or ``None`` for another format."""
    if hasattr(source, "seek"):
        source.seek(0)
        head = source.read(24)
    else:
        with open(source, "rb") as f:
            head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
        return None
    return struct.unpack(">II", head[16:24])


def size_checked(pad: gr.Sketchpad) -> gr.Sketchpad:
    """The drawing pad, refusing an image of more than :data:`digits.MAX_PIXELS` pixels from its header, before
    Gradio decodes it (a 10,000² PNG of 0.4 MB would otherwise ask for gigabytes): the handler gets an
    :class:`Unreadable` instead of the image."""
    decode = pad.convert_and_format_image

    def convert_and_format_image(file, flatten_on_white: bool = False):
        if file is not None:
            source = file.path if isinstance(file, FileData) else io.BytesIO(file)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    with Image.open(source) as image:  # reads the header only
                        size = image.size
            except Image.DecompressionBombError as e:  # over PIL's own, larger limit: read the size ourselves
                header_size = png_size(source)
                if header_size is None:  # PIL's message gives the pixels
                    pixels = re.search(r"\((\d+) pixels\)", str(e))
                    count = f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels"
                    return Unreadable(f"the drawing has {count}; at most {digits.MAX_PIXELS:,} pixels are read "
                                      f"(the pad's is 280 × 280)")
                size = header_size
            except (OSError, ValueError):
                return Unreadable("the drawing is not an image that can be read (PNG, WebP, JPEG, …)")
            try:
                digits.check_size(size)
            except ValueError as e:
                return Unreadable(str(e))
        try:
            return decode(file, flatten_on_white)
        except (OSError, ValueError, SyntaxError):  # a truncated or corrupt image past its header
            return Unreadable("the drawing is not an image that can be read (PNG, WebP, JPEG, …)")

    pad.convert_and_format_image = convert_and_format_image  # type: ignore[method-assign]
    return pad


NOT_RUN = "**Not run:** "  # how the box beside a form starts a refusal


def field_named(message: str, labels: list[str]) -> int | None:
    """The index of the field a refusal is about: the one whose label's first word starts it (every refusal names
    its field first: "width must be a whole number", "x has 2 numbers"); ``None`` when it names none."""
    for k, label in enumerate(labels):
        words = label.split()
        if words and message.startswith(words[0] + " "):
            return k
    return None


class Messages:
    """The last refusal of each session (a browser tab, a client), for the box beside the form: a toast vanishes
    and the page would then show old results under a changed form as if they belonged to it."""

    KEPT = 1000  # sessions remembered: a client of the API never takes its refusals, so the oldest are dropped

    def __init__(self):
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def refuse(self, request: gr.Request | None, message: str) -> gr.Error:
        """Records ``message`` for the session and returns the error to raise (its text goes to clients too)."""
        if request is not None and request.session_hash:
            with self._lock:
                self._last.pop(request.session_hash, None)
                self._last[request.session_hash] = message
                while len(self._last) > self.KEPT:
                    del self._last[next(iter(self._last))]
        # No toast: the box shows it, for as long as it holds (a toast is gone after 10 s, and piles up).
        return gr.Error(message, visible=False, print_exception=False)

    def take(self, request: gr.Request | None) -> str:
        """The session's last refusal, as the box shows it, and forgets it."""
        with self._lock:
            message = self._last.pop(request.session_hash or "", "") if request is not None else ""
        return f"{NOT_RUN}{message}" if message else ""


class Run:
    """One session's training run, as far as it got."""

    def __init__(self, steps: int):
        self.step, self.steps, self.current, self.stopped = 0, steps, True, False


class Runs:
    """The run each session has going. Train during a run replaces it (the page says so), Stop ends it and says at
    which step; the replaced or stopped run ends after the chunk it is training, without showing it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}

    def start(self, session: str, steps: int) -> tuple[Run, Run | None]:
        """A new run for ``session``, and the one it replaces (``None`` if there was none)."""
        run = Run(steps)
        with self._lock:
            replaced = self._runs.get(session)
            self._runs[session] = run
        if replaced is not None:
            replaced.current = False
        return run, replaced

    def stop(self, session: str) -> Run | None:
        """Ends the session's run; returns it (``None`` if there was none)."""
        with self._lock:
            run = self._runs.pop(session, None)
        if run is not None:
            run.current, run.stopped = False, True
        return run

    def finish(self, session: str, run: Run) -> None:
        with self._lock:
            if self._runs.get(session) is run:
                del self._runs[session]


class Views:
    """What each session's plot shows: its last snapshot (so that the hidden units' toggle redraws it) and whether
    the units are shown (read by a run in progress at each update). The last :data:`KEPT` sessions are kept (a
    snapshot is about 0.5 MB)."""

    KEPT = 32

    def __init__(self):
        self._lock = threading.Lock()
        self._last: dict[str, tuple[fit.FitSettings, fit.Snapshot]] = {}
        self._units: dict[str, bool] = {}

    def show(self, session: str, settings: fit.FitSettings, snapshot: fit.Snapshot) -> None:
        with self._lock:
            self._last.pop(session, None)
            self._last[session] = settings, snapshot
            while len(self._last) > self.KEPT:
                del self._last[next(iter(self._last))]

    def last(self, session: str) -> tuple[fit.FitSettings, fit.Snapshot] | None:
        with self._lock:
            return self._last.get(session)

    def set_units(self, session: str, shown: bool) -> None:
        with self._lock:
            self._units.pop(session, None)
            self._units[session] = bool(shown)
            while len(self._units) > Messages.KEPT:
                del self._units[next(iter(self._units))]

    def units(self, session: str) -> bool:
        with self._lock:
            return self._units.get(session, False)


def session_of(request: gr.Request | None) -> str:
    return (request.session_hash if request is not None else None) or "no session"


OLD_RUN = "**Old results:** the plot and numbers below are from the last run, not from the form's values."


def stale_note(result_shown) -> str:
    """The box's note after an edit of the form, when results for earlier values are on the page."""
    return ("**Old results:** the form has changed since the results below were computed; they are for the values "
            "before the change. Press the button to compute them for the form." if result_shown else "")


# -- Universal approximation --------------------------------------------------------------------------------------

class PlainLogFormatter(ticker.LogFormatter):
    """A log axis's labels as plain numbers (0.003, 0.01, 0.6), never 6e-01 nor mathtext's 10^k (slow to lay out
    every frame); minor ticks are labelled when the axis spans less than two decades (LogFormatter's own rule)."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.3g}"


def units_label(width: int) -> str:
    """The legend's words for the hidden units' lines."""
    if width == fit.UNITS_SHOWN:
        return f"its {width} units' a_k φ(w_k x + c_k), right axis (their sum + b is the fit)"
    return f"its {fit.UNITS_SHOWN} largest units' a_k φ(w_k x + c_k), of {width:,}, right axis"


class FitFigure:
    """The fit over the target and the training points, and the train/test RMSE curve so far: one figure per run,
    its lines updated for each snapshot.

    Drawn a few times a second, so everything that does not change is made once: the axes, the target, the training
    points, the titles' places and the ticks of the fit. Only every 5th of the 10,000 test points is drawn (2,000
    still resolve the narrowest wiggle, ~0.1 wide, by 200 points).
    """

    def __init__(self, settings: fit.FitSettings):
        config = settings.experiment()
        x, y = fit.universal_approx.sample(config.n, config.domain)
        x_test, _ = fit.universal_approx.sample(config.test_points, config.domain)
        self.settings, self.every = settings, 5
        self.figure = Figure(figsize=(10, 3.6), dpi=100)
        self.figure.subplots_adjust(left=0.05, right=0.98, bottom=0.14, top=0.91, wspace=0.24)
        self.fit_ax, self.curve_ax = self.figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        grid = x_test[:: self.every, 0]
        self.fit_ax.plot(grid, fit.universal_approx.target(grid), color="0.6", lw=3, label="f(x)")
        self.fit_ax.plot(x[:, 0], y[:, 0], ".", color="k", ms=2.5, label=f"{config.n} training points")
        (self.network,) = self.fit_ax.plot(grid, np.zeros_like(grid), color="C0", lw=1.5, label="network")
        self.fit_ax.set(xlabel="x", ylim=(-1.3, 1.3), xticks=np.linspace(*config.domain, 6), yticks=[-1, 0, 1])
        self.units_shown: bool | None = None
        (self.train_line,) = self.curve_ax.plot([], [], "o-", ms=3, label="train RMSE")
        (self.test_line,) = self.curve_ax.plot([], [], "s-", ms=3, label="test RMSE")
        self.curve_ax.set(yscale="log", xlabel="step", xlim=(0, settings.steps))
        self.curve_ax.yaxis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
        self.curve_ax.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        self.curve_ax.legend(fontsize=8, loc="upper right")
        # A title at a given height is not moved to clear the tick labels, a measurement made at every draw.
        self.fit_title = self.fit_ax.set_title("", y=1.01)
        self.curve_title = self.curve_ax.set_title("", y=1.01)
        # The hidden units' contributions, drawn when asked for: thin lines on an axis of their own at the right
        # (past a few dozen units each one is a small part of the fit, flat on the fit's scale).
        self.units_ax = self.fit_ax.twinx()
        self.units_ax.set_visible(False)
        self.units_ax.tick_params(labelsize=7)
        self.units_ax.set_zorder(self.fit_ax.get_zorder() - 1)  # under the fit and its legend
        self.fit_ax.patch.set_visible(False)
        self.units = [self.units_ax.plot(grid, np.zeros_like(grid), color="C1", lw=0.8, alpha=0.7,
                                         label=units_label(settings.width) if k == 0 else None)[0]
                      for k in range(fit.UNITS_SHOWN)]

    def update(self, snapshot: fit.Snapshot, units: bool = False) -> Figure:
        """The figure for ``snapshot``; ``units``: with the largest hidden units' contributions."""
        s = self.settings
        for line, contribution in zip(self.units, snapshot.units):
            line.set_ydata(contribution[:: self.every])
            line.set_visible(units)
        self.units_ax.set_visible(units)
        if units:
            top = max(float(np.abs(snapshot.units).max()), 1e-6) * 1.3
            self.units_ax.set_ylim(-top, top)
        if units != self.units_shown:  # the legend names the units' lines while they are shown
            handles = self.fit_ax.lines[:3] + ([self.units[0]] if units else [])
            self.fit_ax.legend(handles=handles, loc="lower left", fontsize=8)
            self.units_shown = units
        self.network.set_ydata(snapshot.prediction[:: self.every])
        steps, train_rmse, test_rmse = np.array(snapshot.curve).T
        self.train_line.set_data(steps, train_rmse)
        self.test_line.set_data(steps, test_rmse)
        low, high = min(train_rmse.min(), test_rmse.min()), max(train_rmse.max(), test_rmse.max())
        self.curve_ax.set_ylim(low / 1.5, high * 1.5)
        self.fit_title.set_text(f"width {s.width:,}, {s.activation}, {s.init}: step {snapshot.step:,} of "
                                f"{snapshot.steps:,}")
        self.curve_title.set_text(f"test RMSE {snapshot.test_rmse:.4f}")
        return self.figure


def train(width, activation, init, lr, steps, seed, request: gr.Request):
    """Streams ``(figure, status, test RMSE, step)`` while one network trains (a generator: Gradio sends each).

    A second Train of the same session replaces this run, and Stop ends it: either way it ends after its current
    chunk, its last update unchanging the page (replaced) or saying where it stopped. The plot shows the largest
    hidden units' contributions while the session's toggle is on (:func:`show_units`), read at each update.
    """
    try:
        settings = fit.FitSettings.from_form(width=width, activation=activation, init=init, lr=lr, steps=steps,
                                             seed=seed)
    except ValueError as e:
        raise MESSAGES.refuse(request, str(e)) from None
    session = session_of(request)
    run, replaced = RUNS.start(session, settings.steps)
    note = ("" if replaced is None else
            f" · Train replaced the run that was at step {replaced.step:,} of {replaced.steps:,}")
    figure, shown = FitFigure(settings), None
    try:
        for snapshot in fit.stream(settings):
            if not run.current:  # replaced or stopped while this chunk trained
                break
            run.step = snapshot.step
            status = (f"step {snapshot.step:,} of {snapshot.steps:,} · train RMSE {snapshot.train_rmse:.4f} · "
                      f"test RMSE {snapshot.test_rmse:.4f} · {snapshot.seconds:.1f} s{note}")
            VIEWS.show(session, settings, snapshot)
            shown = (figure.update(snapshot, VIEWS.units(session)), status, snapshot.test_rmse, snapshot.step)
            yield shown
            if not run.current:
                break
    except ValueError as e:  # the run diverged
        raise MESSAGES.refuse(request, str(e)) from None
    finally:
        RUNS.finish(session, run)
    # The page shows a run's last update again when the run ends: a stopped run's says so, a replaced run's
    # changes nothing (a client sees Gradio's empty update, {"__type__": "update"}, for each output).
    if run.stopped and shown is not None:
        yield shown[0], f"Stopped at step {run.step:,} of {run.steps:,}.", shown[2], shown[3]
    elif not run.current:
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip()


def preview(width, activation, init, lr, steps, seed, request: gr.Request = None):  # type: ignore[assignment]
    """``(figure, status, test RMSE, step)`` of the form's network before training, shown when the page opens (so
    the boxes hold its numbers, not a 0 no network had)."""
    try:
        settings = fit.FitSettings.from_form(width=width, activation=activation, init=init, lr=lr, steps=steps,
                                             seed=seed)
    except ValueError:
        return None, "", None, None
    snapshot = next(fit.stream(settings))  # step 0: the initial network, nothing trained
    VIEWS.show(session_of(request), settings, snapshot)
    status = (f"step 0 of {snapshot.steps:,}: the network before training, test RMSE {snapshot.test_rmse:.4f}. "
              f"Press Train.")
    return FitFigure(settings).update(snapshot), status, snapshot.test_rmse, snapshot.step


def show_units(units, request: gr.Request = None):  # type: ignore[assignment]
    """The toggle: the session's plot redrawn with (or without) its hidden units' contributions; a run in progress
    draws its next updates so too."""
    session = session_of(request)
    VIEWS.set_units(session, units)
    last = VIEWS.last(session)
    if last is None:
        return gr.skip()
    settings, snapshot = last
    return FitFigure(settings).update(snapshot, bool(units))


def stop(request: gr.Request):
    """Ends the session's run; the status says at which step."""
    run = RUNS.stop(session_of(request))
    if run is None:
        return "No run to stop."
    return f"Stopped at step {run.step:,} of {run.steps:,}."


def width_curve_markdown() -> str:
    """The measured test RMSE over the widths (make demo's table, the tab's defaults), as a Markdown table."""
    rows = "\n".join(f"| {width:,} | {rmse:.4f} |" for width, rmse in fit.MEASURED_CURVE.items())
    return ("| width | test RMSE |\n|---:|---:|\n" + rows)


# -- Back-propagation ---------------------------------------------------------------------------------------------

def _row(cells, header=False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _num(value: float) -> str:
    return f"{value:z.6g}"  # z: a zero is written 0, never −0


def _matrix(name: str, matrix, below=None) -> str:
    """A matrix as a table, rows and columns numbered from 1; ``below``: a second matrix shown under each entry."""
    rows = [_row([name] + [f"col {k + 1}" for k in range(len(matrix[0]))], header=True)]
    for j, row in enumerate(matrix):
        cells = ([_num(m) for m in row] if below is None else
                 [f"{_num(m)}<br><small>{_num(a)}</small>" for m, a in zip(row, below[j])])
        rows.append(_row([f"row {j + 1}"] + cells))
    return "<table class='bp'>" + "".join(rows) + "</table>"


def tables_html(result: dict) -> str:
    """The tables as HTML: the example and the loss, then per layer W_i, its units (b, v, φ'(v), u, the signal Φ'
    multiplies, g, ∇b and jax.grad's ∇b), a softmax's Jacobian, and ∇W beside jax.grad's."""
    last = len(result["layers"])
    parts = [f"<p>u<sub>0</sub> = x = ({', '.join(map(_num, result['x']))}), y = "
             f"({', '.join(map(_num, result['y']))}), ŷ = u<sub>{last}</sub> = "
             f"({', '.join(map(_num, result['yhat']))}), loss {html.escape(result['loss_name'])} = "
             f"{html.escape(result['loss_formula'])} = {_num(result['loss'])}</p>"]
    if result.get("note"):
        parts.append(f"<p class='note'>{html.escape(result['note'])}</p>")
    for layer in result["layers"]:
        i = layer["layer"]
        signal = "∂L/∂ŷ" if i == last else f"W<sub>{i + 1}</sub><sup>T</sup> g<sub>{i + 1}</sub>"
        softmax = "jacobian" in layer
        parts.append(f"<h4>Layer {i}: φ<sub>{i}</sub> = {layer['activation']}, largest |manual − jax.grad| = "
                     f"{layer['difference']:.2e}</h4>")
        parts.append(_matrix(f"W<sub>{i}</sub>", layer["W"]))
        derivative = [] if softmax else [f"φ'<sub>{i}</sub>(v) (at v, not u: erratum 1)"]
        rows = [_row(["unit", f"b<sub>{i}</sub>", f"v<sub>{i}</sub> = W<sub>{i}</sub>u<sub>{i - 1}</sub> + "
                      f"b<sub>{i}</sub>"] + derivative + [f"u<sub>{i}</sub>", signal, f"g<sub>{i}</sub>",
                      f"∇b<sub>{i}</sub> (manual)", f"∇b<sub>{i}</sub> (jax.grad)"], header=True)]
        for j in range(len(layer["v"])):
            rows.append(_row([j + 1, _num(layer["b"][j]), _num(layer["v"][j])]
                             + ([] if softmax else [_num(layer["derivative"][j])])
                             + [_num(layer["u"][j]), _num(layer["signal"][j]), _num(layer["g"][j]),
                                _num(layer["db"][j]), _num(layer["db_autodiff"][j])]))
        parts.append("<table class='bp'>" + "".join(rows) + "</table>")
        if softmax:
            parts.append(f"<p class='note'>Softmax is not element-wise: each output depends on every v, so "
                         f"Φ'<sub>{i}</sub> is the full Jacobian J = diag(z) − z z<sup>T</sup> (z = ŷ), and "
                         f"g<sub>{i}</sub> = J<sup>T</sup> {signal}, not its diagonal times {signal}.</p>")
            parts.append(_matrix(f"J = ∂u<sub>{i}</sub>/∂v<sub>{i}</sub>", layer["jacobian"]))
        parts.append(_matrix(f"∇W<sub>{i}</sub> = g<sub>{i}</sub> u<sub>{i - 1}</sub><sup>T</sup>", layer["dW"],
                             below=layer["dW_autodiff"]))
        parts.append("<p><small>Each ∇W entry: manual, and jax.grad's below it.</small></p>")
    return "\n".join(parts)


def backprop_tables(sizes, activation, output, loss, x, y, seed, zero_unit, biases=False,
                    request: gr.Request = None):  # type: ignore[assignment]
    """``(tables as HTML, largest difference, every number as JSON)``. ``biases`` comes last (and may be left out by
    a client): it came after the others."""
    try:
        seed = fit.form_number("seed", seed, whole=True)
        settings = backprop.TableSettings(sizes=sizes, activation=activation, output=output, loss=loss,
                                          x=x, y=y, seed=seed, zero_unit=zero_unit, biases=biases)
        result = backprop.compute(settings)
    except ValueError as e:
        raise MESSAGES.refuse(request, str(e)) from None
    return tables_html(result), result["max_difference"], result


def checked_html(result: dict) -> str:
    """The typed table with each entry marked ✓ (right) or ✗ (wrong), and what the check says of the whole."""
    name = f"{html.escape(result['table'])}<sub>{result['layer']}</sub>"
    given, right = result["given"], result["right"]
    if given and not isinstance(given[0], list):  # a vector: one row
        given, right = [given], [right]
    rows = [_row([name] + [f"col {k + 1}" for k in range(len(given[0]))], header=True)]
    for j, (values, marks) in enumerate(zip(given, right)):
        cells = [f"<span class='{'right' if ok else 'wrong'}'>{_num(v)} {'✓' if ok else '✗'}</span>"
                 for v, ok in zip(values, marks)]
        rows.append(_row([f"row {j + 1}"] + cells))
    return (f"<p id='check-text'>{html.escape(result['text'])}</p>"
            f"<table class='bp check'>{''.join(rows)}</table>")


def check_numbers(sizes, activation, output, loss, x, y, seed, zero_unit, layer, table, values, biases=False,
                  request: gr.Request = None):  # type: ignore[assignment]
    """``(the typed table marked entry by entry as HTML, the diagnosis)`` for the tables' network (``biases`` last,
    as in :func:`backprop_tables`)."""
    try:
        seed = fit.form_number("seed", seed, whole=True)
        layer = fit.form_number("layer", layer, whole=True)
        settings = backprop.TableSettings(sizes=sizes, activation=activation, output=output, loss=loss,
                                          x=x, y=y, seed=seed, zero_unit=zero_unit, biases=biases)
        result = backprop.check_entries(settings, layer, table, values)
    except ValueError as e:
        raise MESSAGES.refuse(request, str(e)) from None
    return checked_html(result), result["diagnosis"]


# -- A digit you draw ---------------------------------------------------------------------------------------------

def probability_table(p: np.ndarray) -> pd.DataFrame:
    """The ten probabilities as the bar chart's rows, in digit order (the page draws the bars)."""
    return pd.DataFrame({"digit": [str(k) for k in range(10)], "probability": p})


def read_digit(model: digits.Model | None, drawing, request: gr.Request | None = None):
    """``(the 28 × 28 input, the probabilities' bar chart, the top three)`` for a drawing from the pad."""
    if model is None:
        raise MESSAGES.refuse(request, "there is no network to read digits with: see the note at the top of this tab")
    canvas = drawing.get("composite") if isinstance(drawing, dict) else drawing
    unreadable = [part for part in ([drawing.get("background"), canvas, *drawing.get("layers", [])]
                                    if isinstance(drawing, dict) else [canvas]) if isinstance(part, Unreadable)]
    if unreadable:
        raise MESSAGES.refuse(request, unreadable[0].reason)
    if canvas is None:
        raise MESSAGES.refuse(request, "the drawing is empty: draw a digit on the pad first")
    try:
        digit = digits.preprocess(canvas)
    except ValueError as e:
        raise MESSAGES.refuse(request, str(e)) from None
    p = digits.probabilities(model, digit)
    pixels = np.kron(digit, np.ones((8, 8))).astype(np.uint8)  # each of the 28 × 28 pixels shown 8 × 8
    return pixels, probability_table(p), {str(k): float(v) for k, v in enumerate(p)}


def fingerprint(drawing) -> str | None:
    """A digest of the pad's drawing as decoded (``None`` for an empty or unreadable one): equal for the same
    pixels."""
    canvas = drawing.get("composite") if isinstance(drawing, dict) else drawing
    if not isinstance(canvas, np.ndarray):
        return None
    return hashlib.sha256(repr((canvas.shape, canvas.dtype.str)).encode() + canvas.tobytes()).hexdigest()


# -- The page -----------------------------------------------------------------------------------------------------

MESSAGES, RUNS, VIEWS = Messages(), Runs(), Views()
# Trainings run at once; more wait in Gradio's queue (more at once would only share the cores, each run slower,
# and hold more memory).
TRAININGS_AT_ONCE = 2

CSS = """
table.bp { border-collapse: collapse; margin-bottom: 0.6em; font-variant-numeric: tabular-nums; }
table.bp td, table.bp th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
.message p { color: #b00020; }
/* A refused press: the box beside the form says why, in words; Gradio's wordless "Error" badges on the outputs go. */
[data-testid="status-tracker"]:has(.error) { display: none; }
.refused { box-shadow: inset 0 0 0 2px #b00020 !important; border-radius: 4px; }
table.check .right { color: #1b5e20; }
table.check .wrong { color: #b00020; font-weight: bold; }
"""

# The pad opens on no tool, and its bin (Clear canvas) deselects the tool too, so the next stroke would draw
# nothing: select the brush when the tab opens and after each clearing. The editor sets its tool up as it starts
# (later on a slow machine), so this looks again every 250 ms, for at most five seconds, until the brush is selected
# (its button then has the class "highlight"); a tool the user picks afterwards is left alone.
SELECT_BRUSH = """() => {
  const select = (tries) => {
    const brush = document.querySelector("#pad button[aria-label='Brush']");
    if (brush && brush.offsetParent !== null) {
      if (brush.classList.contains("highlight")) return;
      brush.click();
    }
    if (tries > 1) setTimeout(() => select(tries - 1), 250);
  };
  select(20);
  if (!window.jaxnetKeepsTheBrush) {
    window.jaxnetKeepsTheBrush = true;
    document.addEventListener("click", (event) => {
      if (event.target.closest && event.target.closest("#pad button[aria-label='Clear canvas']")) {
        setTimeout(() => select(20), 0);
      }
    }, true);
  }
}"""


def build(model: digits.Model | None, model_text: str) -> gr.Blocks:
    """The page: three tabs, each event's handler named for the client (``/train``, ``/tables``, ``/read``, and
    ``/stop``).

    Beside each form, a box shows the last refusal until the next press and marks the results as old once the form
    changes after them.
    """
    fit_defaults, bp = fit.FitSettings(), backprop.TableSettings()

    def pressed(button, fields, message, fn, outputs, cleared: dict, shown, *, trigger_mode="once",
                mark_edits=True, **kwargs):
        """``button`` empties the box beside the form, then runs ``fn`` on ``fields`` (its event is returned). A
        refusal goes to the box, marks the field it names and sets each component of ``cleared`` to its value
        there; an edit of ``fields`` while ``shown`` holds a result marks the results old in the box
        (``mark_edits``; else the caller does)."""
        labels = [f.label or "" for f in fields]

        def refused(request: gr.Request):
            message = MESSAGES.take(request)
            named = field_named(message.removeprefix(NOT_RUN), labels)
            marks = [gr.update(elem_classes=["refused"] if k == named else []) for k in range(len(fields))]
            return message, *cleared.values(), *marks

        def edited(shown, note):
            return note if (note or "").startswith(NOT_RUN) else stale_note(shown)

        unmarked = [gr.update(elem_classes=[])] * len(fields)
        event = button.click(lambda: ("", *unmarked), None, [message, *fields], api_name=False, queue=False,
                             trigger_mode=trigger_mode)
        event = event.then(fn, fields, outputs, trigger_mode=trigger_mode, **kwargs)
        event.failure(refused, None, [message, *cleared, *fields], api_name=False, queue=False)
        if mark_edits:
            gr.on([f.input for f in fields], edited, [shown, message], message, api_name=False, queue=False)
        return event

    with gr.Blocks(title="jaxnet playground", analytics_enabled=False) as page:
        gr.Markdown("# jaxnet playground\nThe lecture on feed-forward networks, computed live by jaxnet on this "
                    "machine.")
        with gr.Tab("Universal approximation", id="fit"):
            gr.Markdown("One hidden layer fits f(x) = sin 20x · sin 10x + x/10 from 300 points of [0, 1] "
                        "(`python -m experiments.universal_approx --seeds 1 --seed` with the seed below: `make "
                        "demo`'s recipe for one network; `make demo`'s own three networks are other draws, so its "
                        "curve below is theirs, not this seed's). Try widths 10, 100, 1,000 "
                        "and 10,000, and the usual fan-in initialisation to see why the experiment spreads its "
                        "units.", elem_id="fit-intro")
            # The form in one row above the plot, the buttons and the box for refusals right under it: all of it
            # in view at 1366 × 768 without scrolling, so a refusal is read where the field is.
            with gr.Row(elem_id="fit-form"):
                width = number_box(fit_defaults.width, label="width (10 to 10,000)", elem_id="width", min_width=120)
                activation = gr.Dropdown(["tanh", "sigmoid", "relu"], value=fit_defaults.activation,
                                         label="hidden activation", elem_id="activation", min_width=120)
                init = gr.Radio(["spread", "fan-in"], value=fit_defaults.init, label="initialisation",
                                elem_id="init", min_width=160)
                lr = number_box(fit_defaults.lr, label="learning rate", elem_id="lr", min_width=120)
                steps = number_box(fit_defaults.steps, label="steps", elem_id="steps", min_width=120)
                seed = number_box(fit_defaults.seed, label="seed", elem_id="seed", min_width=120)
            with gr.Row(equal_height=True):
                start = gr.Button("Train", variant="primary", elem_id="train", min_width=120)
                stop_button = gr.Button("Stop", elem_id="stop", min_width=120)
                units = gr.Checkbox(False, label="show the hidden units: each one's a_k φ(w_k x + c_k), the fit "
                                    "being their sum + b", elem_id="units", scale=3)
            fit_message = gr.Markdown(elem_id="fit-message", elem_classes="message")
            gr.Markdown(f"The learning rate is the hidden layer's (the readout's is 1 / width); the steps are "
                        f"full-batch Adam with a cosine decay, width × steps ≤ {fit.MAX_WORK:,}. Train during a run "
                        f"replaces the run with one for the form's values. At most {TRAININGS_AT_ONCE} trainings run "
                        f"at once on this server; another waits its turn (the plot shows its place in the queue).",
                        elem_id="fit-note")
            fit_plot = gr.Plot(label="fit", format="png", elem_id="fit-plot")
            fit_status = gr.Markdown(elem_id="fit-status")
            with gr.Row():
                # Filled when the page opens, by the untrained network's numbers (Gradio's number box shows an
                # empty value as 0, an error no network had).
                test_rmse = gr.Number(None, label="test RMSE", interactive=False, elem_id="test-rmse")
                step = gr.Number(None, label="step", interactive=False, precision=0, elem_id="step")
            gr.Markdown("**What width buys**, measured with the tab's defaults (`make demo`: 1,000 steps, 3 seeds, "
                        "mean test RMSE; 2-core CPU, 2026-12-05):\n\n" + width_curve_markdown() + "\n\nThe error "
                        "falls 50-fold from 10 to 100 units, then stays at a floor near 0.0035 to 10,000: past some "
                        "hundred units the error is set by the training (its steps and rate), not by the width. "
                        "The lecture's theorem says a wide enough network *can* fit f this well, not that training "
                        "finds a better fit with every unit added (`make study` measures what each width can "
                        "represent).\n\n**Why ReLU and fan-in fit worse.** ReLU units are ramps across the whole "
                        "interval, so their best readout is a badly conditioned least-squares problem; fan-in "
                        "initialisation gives each tanh unit a slope near 1 on [0, 1], almost a straight line, so a "
                        "wide layer starts with few useful shapes. The spread initialisation places each unit's "
                        "bend inside the interval, with a slope sharp enough for f's finest wiggle.\n\n**Why the "
                        "test error can be below the training error.** Both sets are spread evenly over [0, 1], so "
                        "both errors average the same smooth curve of misfit. That misfit is largest at the "
                        "interval's ends, where the last training points weigh 1/300 each in the training error "
                        "but the test points near the ends only 1/10,000: leave out a few training points at each "
                        "end and the training error drops below the test error. The fit does not memorise its "
                        "points.", elem_id="width-curve")
            fit_inputs = [width, activation, init, lr, steps, seed]
            fit_outputs = [fit_plot, fit_status, test_rmse, step]
            # A refused form keeps the last run on the page, marked as not the form's (an empty number box would
            # show 0).
            pressed(start, fit_inputs, fit_message, train, fit_outputs, {fit_status: OLD_RUN}, fit_status,
                    trigger_mode="multiple", api_name="train", concurrency_limit=TRAININGS_AT_ONCE,
                    show_progress="minimal")
            # A view, not a field: it changes the plot, never the run (nor the API's /train).
            units.input(show_units, units, fit_plot, api_name="units", concurrency_limit=TRAININGS_AT_ONCE)
            stop_button.click(stop, None, fit_status, api_name="stop", queue=False)
            page.load(preview, fit_inputs, fit_outputs, api_name=False)
        with gr.Tab("Back-propagation", id="backprop"):
            gr.Markdown("The lecture's back-propagation for one example: v<sub>i</sub> = W<sub>i</sub> "
                        "u<sub>i−1</sub> + b<sub>i</sub>, u<sub>i</sub> = φ<sub>i</sub>(v<sub>i</sub>), then "
                        "g<sub>L</sub> = Φ'<sub>L</sub> ∂L/∂ŷ, g<sub>i</sub> = Φ'<sub>i</sub> W<sub>i+1</sub>"
                        "<sup>T</sup> g<sub>i+1</sub>, ∇W<sub>i</sub> = g<sub>i</sub> u<sub>i−1</sub><sup>T</sup>, "
                        "∇b<sub>i</sub> = g<sub>i</sub> (`jaxnet.backprop.tables`), beside `jax.grad`'s numbers. "
                        "The losses for one example: mse = ½‖ŷ − y‖², mae = ‖ŷ − y‖₁, cross_entropy = "
                        "−y<sup>T</sup> log softmax(ŷ) on logits ŷ (y: a class, or probabilities summing to 1). "
                        f"x and y are numbers in [−{backprop.BOUND:,g}, {backprop.BOUND:,g}]. "
                        "With the first unit's v at exactly 0, ReLU'(0) = 1, the lecture's convention.")
            with gr.Row():
                sizes = gr.Textbox(bp.sizes, label=f"sizes d_0, …, d_L (up to {backprop.MAX_LAYERS} layers of "
                                   f"{backprop.MAX_WIDTH})")
                bp_activation = gr.Dropdown(["relu", "tanh", "sigmoid", "identity"], value=bp.activation,
                                            label="hidden activation")
                output = gr.Dropdown(["identity", "sigmoid", "tanh", "softmax"], value=bp.output,
                                     label="output activation")
                loss = gr.Dropdown(["mse", "mae", "cross_entropy"], value=bp.loss, label="loss")
            with gr.Row():
                x = gr.Textbox(bp.x, label="x", elem_id="x")
                y = gr.Textbox(bp.y, label="y")
                bp_seed = number_box(bp.seed, label="seed")
                zero_unit = gr.Checkbox(bp.zero_unit, label="v₁'s first unit exactly 0")
                biases = gr.Checkbox(bp.biases, label="seeded biases (else 0, as training starts)",
                                     elem_id="biases")
                compute = gr.Button("Compute", variant="primary", elem_id="compute")
            tables_message = gr.Markdown(elem_id="tables-message", elem_classes="message")
            difference = gr.Number(label="largest |manual − jax.grad| over every ∇W and ∇b", interactive=False)
            tables = gr.HTML(elem_id="tables")
            numbers = gr.JSON(label="every number", open=False)
            inputs = [sizes, bp_activation, output, loss, x, y, bp_seed, zero_unit, biases]
            pressed(compute, inputs, tables_message, backprop_tables, [tables, difference, numbers],
                    {tables: "", difference: None, numbers: None}, tables, api_name="tables")
            page.load(backprop_tables, inputs, [tables, difference, numbers], api_name=False)
            gr.Markdown("### Check your own numbers\nCompute one layer's g<sub>i</sub> or ∇W<sub>i</sub> by hand, "
                        "from W, b, v, u and the signal of the tables above (cover the answers), type it here and "
                        "press Check. Each entry is marked right (✓) or wrong (✗): right means within 1% of the "
                        "true value, or 0.0001 near 0, so three significant digits pass. When the whole table is "
                        "what one of the usual mistakes gives, the mistake is named: Φ' taken at u instead of v "
                        "(the lecture's erratum 1), Φ' left out, the sign flipped, ∇W transposed "
                        "(`jaxnet.gradcheck.check_table`).", elem_id="check-intro")
            with gr.Row():
                check_layer = number_box(2, label="layer i", elem_id="check-layer")
                check_table = gr.Radio(list(backprop.CHECKED), value="g", label="table")
                check_values = gr.Textbox("", lines=3, elem_id="check-values",
                                          label="your values: g_i as d_i numbers; ∇W_i as d_i rows of d_(i−1) "
                                                "numbers, rows separated by ';' or new lines")
                check_button = gr.Button("Check", variant="primary", elem_id="check")
            check_message = gr.Markdown(elem_id="check-message", elem_classes="message")
            check_diagnosis = gr.Textbox(label="diagnosis", interactive=False, elem_id="check-diagnosis")
            check_result = gr.HTML(elem_id="check-result")
            # biases last, after the fields added before it (see check_numbers)
            check_inputs = [*inputs[:-1], check_layer, check_table, check_values, biases]
            pressed(check_button, check_inputs, check_message, check_numbers,
                    [check_result, check_diagnosis], {check_result: "", check_diagnosis: ""}, check_result,
                    api_name="check")
        with gr.Tab("A digit you draw", id="digit") as digit_tab:
            gr.Markdown("Draw a digit. It is scaled into a 20 × 20 box and centred by its centre of mass in "
                        "28 × 28, as MNIST's digits were, and read by the lecture's 784-200-10 network.\n\n"
                        + model_text)
            with gr.Row():
                pad = size_checked(gr.Sketchpad(
                    canvas_size=(280, 280), type="numpy", image_mode="RGBA", label="draw here",
                    brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"), layers=False,
                    transforms=(), elem_id="pad", interactive=model is not None, buttons=[]))
                with gr.Column():
                    read = gr.Button("Read", variant="primary", elem_id="read")
                    digit_message = gr.Markdown(elem_id="digit-message", elem_classes="message")
                    digit = gr.Image(label="the network's input, 28 × 28", image_mode="L", height=260, width=260,
                                     interactive=False, elem_id="input28", buttons=["fullscreen"])
                    top = gr.Label(num_top_classes=3, label="reading", elem_id="reading")
            bars = gr.BarPlot(probability_table(np.zeros(10)), x="digit", y="probability", y_lim=[0, 1], sort="x",
                              label="the ten probabilities", height=240)
            read_drawing = gr.State(None)  # the fingerprint of the drawing whose reading the page shows

            def read_fn(drawing, request: gr.Request):
                return *read_digit(model, drawing, request), fingerprint(drawing)

            def drawn(drawing, read_key, shown, note):
                """A stroke (or the bin): the reading is marked old only if the pad no longer holds what was read
                (its input event can arrive after a reading made right after the stroke, of the same drawing)."""
                if (note or "").startswith(NOT_RUN):
                    return note
                return "" if fingerprint(drawing) == read_key else stale_note(shown)

            # Drawings are small; a few at a time bounds the memory many readers at once can take.
            reading = pressed(read, [pad], digit_message, read_fn, [digit, bars, top, read_drawing],
                              {digit: None, top: None, read_drawing: None}, top, api_name="read",
                              concurrency_limit=2, mark_edits=False)
            drawn_inputs = [pad, read_drawing, top, digit_message]
            pad.input(drawn, drawn_inputs, digit_message, api_name=False, queue=False)  # type: ignore[arg-type]
            # A stroke's event that arrived while the reading ran saw the earlier reading: look again once it is in.
            reading.success(drawn, drawn_inputs, digit_message, api_name=False, queue=False)
            digit_tab.select(None, None, None, js=SELECT_BRUSH, api_name=False, queue=False)
    return page


def main(config: Config) -> None:
    model, model_text = digits.load_model(config.checkpoint, config.data_dir, config.startup_epochs)
    page = build(model, model_text)
    page.queue(default_concurrency_limit=8)
    print(f"jaxnet playground: http://{HOST}:{config.port}/", flush=True)
    page.launch(server_name=HOST, server_port=config.port, ssr_mode=False, css=CSS, show_error=True,
                footer_links=["api"], quiet=True, max_file_size=MAX_UPLOAD)


def run(argv=None) -> None:
    """The command line: serve the page."""
    main(cli.parse(Config, argv, description=__doc__.split("\n\n")[0]))


if __name__ == "__main__":
    run()
