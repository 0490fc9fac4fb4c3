"""What the page draws from the parts' results: the fit's figure, the width curve's table, back-propagation's
tables as HTML, a checked table, the digit's probabilities."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from experiments.playground import fit


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
        (self.network,) = self.fit_ax.plot(grid, np.zeros_like(grid), lw=1.5, label="network")  # the first color
        self.fit_ax.set(xlabel="x", ylim=(-1.3, 1.3), xticks=np.linspace(*config.domain, 6), yticks=[-1, 0, 1])
        self.units_shown: bool | None = None
        (self.train_line,) = self.curve_ax.plot([], [], "o-", lw=1.5, ms=3, label="train RMSE")
        (self.test_line,) = self.curve_ax.plot([], [], "s-", lw=1.5, ms=3, label="test RMSE")
        self.curve_ax.set(yscale="log", xlabel="step", xlim=(0, settings.steps))
        self.curve_ax.yaxis.set_major_formatter(PlainLogFormatter())
        self.curve_ax.yaxis.set_minor_formatter(PlainLogFormatter(minor_thresholds=(2, 0.5)))
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


def width_curve_markdown() -> str:
    """The measured test RMSE over the widths (make demo's table, the tab's defaults), as a Markdown table."""
    rows = "\n".join(f"| {width:,} | {rmse:.4f} |" for width, rmse in fit.MEASURED_CURVE.items())
    return ("| width | test RMSE |\n|---:|---:|\n" + rows)


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


def probability_table(p: np.ndarray) -> pd.DataFrame:
    """The ten probabilities as the bar chart's rows, in digit order (the page draws the bars)."""
    return pd.DataFrame({"digit": [str(k) for k in range(10)], "probability": p})
