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

Each event runs in its own thread, so two people training at once each see their own run.
"""

from __future__ import annotations

import dataclasses
import html
import os
import sys
from typing import Annotated

if __name__ == "__main__" and not __package__:  # run as a file: import the package from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads this once

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from experiments import cli  # noqa: E402
from experiments.cli import Range  # noqa: E402
from experiments.playground import backprop, digits, fit  # noqa: E402

HOST = "127.0.0.1"  # this machine only: the page runs code on request


@dataclasses.dataclass(frozen=True)
class Config:
    port: Annotated[int, Range(1, 65535)] = 7860  # the page's port on 127.0.0.1
    checkpoint: str = "runs/mnist/checkpoint.npz"  # the network `make mnist` trained, for the digit tab
    data_dir: str | None = None  # the MNIST IDX files, for a start-up network when there is no checkpoint
    startup_epochs: Annotated[int, Range(1, 100)] = 3  # epochs of that start-up network

    def __post_init__(self):
        cli.check(self)


# -- Universal approximation --------------------------------------------------------------------------------------

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
        self.figure.subplots_adjust(left=0.05, right=0.98, bottom=0.14, top=0.91, wspace=0.18)
        self.fit_ax, self.curve_ax = self.figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        grid = x_test[:: self.every, 0]
        self.fit_ax.plot(grid, fit.universal_approx.target(grid), color="0.6", lw=3, label="f(x)")
        self.fit_ax.plot(x[:, 0], y[:, 0], ".", color="k", ms=2.5, label=f"{config.n} training points")
        (self.network,) = self.fit_ax.plot(grid, np.zeros_like(grid), color="C0", lw=1.5, label="network")
        self.fit_ax.set(xlabel="x", ylim=(-1.3, 1.3), xticks=np.linspace(*config.domain, 6), yticks=[-1, 0, 1])
        self.fit_ax.legend(loc="lower left", fontsize=8)
        (self.train_line,) = self.curve_ax.plot([], [], "o-", ms=3, label="train RMSE")
        (self.test_line,) = self.curve_ax.plot([], [], "s-", ms=3, label="test RMSE")
        self.curve_ax.set(yscale="log", xlabel="step", xlim=(0, settings.steps))
        # Plain numbers (0.01, 0.3), not mathtext's 10^k: those are slow to lay out every frame. Minor ticks are
        # labelled when the curve spans less than two decades (LogFormatter's own rule).
        self.curve_ax.yaxis.set_major_formatter(ticker.LogFormatter(labelOnlyBase=False))
        self.curve_ax.yaxis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        self.curve_ax.legend(fontsize=8, loc="upper right")
        # A title at a given height is not moved to clear the tick labels, a measurement made at every draw.
        self.fit_title = self.fit_ax.set_title("", y=1.01)
        self.curve_title = self.curve_ax.set_title("", y=1.01)

    def update(self, snapshot: fit.Snapshot) -> Figure:
        s = self.settings
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


def train(width, activation, init, lr, steps, seed):
    """Streams ``(figure, status, test RMSE, step)`` while one network trains (a generator: Gradio sends each)."""
    try:
        settings = fit.FitSettings.from_form(width=width, activation=activation, init=init, lr=lr,
                                                        steps=steps, seed=seed)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    figure = FitFigure(settings)
    for snapshot in fit.stream(settings):
        status = (f"step {snapshot.step:,} of {snapshot.steps:,} · train RMSE {snapshot.train_rmse:.4f} · "
                  f"test RMSE {snapshot.test_rmse:.4f} · {snapshot.seconds:.1f} s")
        yield figure.update(snapshot), status, snapshot.test_rmse, snapshot.step


# -- Back-propagation ---------------------------------------------------------------------------------------------

def _row(cells, header=False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _num(value: float) -> str:
    return f"{value:.6g}"


def tables_html(result: dict) -> str:
    """The tables as HTML: the input, then per layer its units (v, φ'(v), u, g, ∇b and jax.grad's ∇b) and ∇W."""
    parts = [f"<p>u<sub>0</sub> = x = ({', '.join(map(_num, result['x']))}), y = "
             f"({', '.join(map(_num, result['y']))}), ŷ = u<sub>L</sub> = ({', '.join(map(_num, result['yhat']))}),"
             f" loss {html.escape(result['loss_name'])} = {_num(result['loss'])}</p>"]
    for layer in result["layers"]:
        i = layer["layer"]
        diagonal = " (diagonal of its Jacobian)" if layer["activation"] == "softmax" else ""
        parts.append(f"<h4>Layer {i}: φ<sub>{i}</sub> = {layer['activation']}{diagonal}, largest |manual − "
                     f"jax.grad| = {layer['difference']:.2e}</h4>")
        rows = [_row(["unit", f"v<sub>{i}</sub>", f"φ'<sub>{i}</sub>(v)", f"u<sub>{i}</sub>", f"g<sub>{i}</sub>",
                      f"∇b<sub>{i}</sub> (manual)", f"∇b<sub>{i}</sub> (jax.grad)"], header=True)]
        for j in range(len(layer["v"])):
            rows.append(_row([j + 1, _num(layer["v"][j]), _num(layer["derivative"][j]), _num(layer["u"][j]),
                              _num(layer["g"][j]), _num(layer["db"][j]), _num(layer["db_autodiff"][j])]))
        parts.append("<table class='bp'>" + "".join(rows) + "</table>")
        rows = [_row([f"∇W<sub>{i}</sub> = g<sub>{i}</sub> u<sub>{i - 1}</sub><sup>T</sup>"]
                     + [f"col {k + 1}" for k in range(len(layer["dW"][0]))], header=True)]
        for j, (manual, auto) in enumerate(zip(layer["dW"], layer["dW_autodiff"])):
            cells = [f"{_num(m)}<br><small>{_num(a)}</small>" for m, a in zip(manual, auto)]
            rows.append(_row([f"row {j + 1}"] + cells))
        parts.append("<table class='bp'>" + "".join(rows) + "</table><p><small>Each ∇W entry: manual, and "
                     "jax.grad's below it.</small></p>")
    return "\n".join(parts)


def backprop_tables(sizes, activation, output, loss, x, y, seed, zero_unit):
    """``(tables as HTML, largest difference, every number as JSON)``."""
    try:
        if isinstance(seed, float) and seed.is_integer():
            seed = int(seed)
        settings = backprop.TableSettings(sizes=sizes, activation=activation, output=output, loss=loss,
                                                     x=x, y=y, seed=seed, zero_unit=zero_unit)
        result = backprop.compute(settings)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    return tables_html(result), result["max_difference"], result


# -- A digit you draw ---------------------------------------------------------------------------------------------

def probability_table(p: np.ndarray) -> pd.DataFrame:
    """The ten probabilities as the bar chart's rows, in digit order (the page draws the bars)."""
    return pd.DataFrame({"digit": [str(k) for k in range(10)], "probability": p})


def read_digit(model: digits.Model | None, drawing):
    """``(the 28 × 28 input, the probabilities' bar chart, the top three)`` for a drawing from the pad."""
    if model is None:
        raise gr.Error("there is no network to read digits with: see the note at the top of this tab")
    canvas = drawing.get("composite") if isinstance(drawing, dict) else drawing
    if canvas is None:
        raise gr.Error("the drawing is empty: draw a digit on the pad first")
    try:
        digit = digits.preprocess(canvas)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    p = digits.probabilities(model, digit)
    pixels = np.kron(digit, np.ones((8, 8))).astype(np.uint8)  # each of the 28 × 28 pixels shown 8 × 8
    return pixels, probability_table(p), {str(k): float(v) for k, v in enumerate(p)}


# -- The page -----------------------------------------------------------------------------------------------------

CSS = """
table.bp { border-collapse: collapse; margin-bottom: 0.6em; font-variant-numeric: tabular-nums; }
table.bp td, table.bp th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
"""


def build(model: digits.Model | None, model_text: str) -> gr.Blocks:
    """The page: three tabs, each event's handler named for the client (``/train``, ``/tables``, ``/read``)."""
    fit_defaults, bp = fit.FitSettings(), backprop.TableSettings()
    with gr.Blocks(title="jaxnet playground", analytics_enabled=False) as page:
        gr.Markdown("# jaxnet playground\nThe lecture on feed-forward networks, computed live by jaxnet on this "
                    "machine.")
        with gr.Tab("Universal approximation", id="fit"):
            gr.Markdown("One hidden layer fits f(x) = sin 20x · sin 10x + x/10 from 300 points of [0, 1] "
                        "(`experiments/universal_approx.py`, one seed). Widen it and watch the test error fall; "
                        "try the usual fan-in initialisation to see why the experiment spreads its units.")
            with gr.Row():
                with gr.Column(scale=1, min_width=240):
                    width = gr.Number(fit_defaults.width, label="width (10 to 10,000)", precision=0)
                    activation = gr.Dropdown(["tanh", "sigmoid", "relu"], value=fit_defaults.activation,
                                             label="hidden activation")
                    init = gr.Radio(["spread", "fan-in"], value=fit_defaults.init, label="initialisation")
                    lr = gr.Number(fit_defaults.lr, label="learning rate (hidden layer; the readout's is 1 / width)")
                    steps = gr.Number(fit_defaults.steps, label="steps (full-batch Adam, cosine decay)", precision=0)
                    seed = gr.Number(fit_defaults.seed, label="seed", precision=0)
                    with gr.Row():
                        start = gr.Button("Train", variant="primary", elem_id="train")
                        stop = gr.Button("Stop", elem_id="stop")
                with gr.Column(scale=3):
                    fit_plot = gr.Plot(label="fit", format="png", elem_id="fit-plot")
                    fit_status = gr.Markdown(elem_id="fit-status")
                    with gr.Row():
                        test_rmse = gr.Number(label="test RMSE", interactive=False)
                        step = gr.Number(label="step", interactive=False, precision=0)
            run = start.click(train, [width, activation, init, lr, steps, seed],
                              [fit_plot, fit_status, test_rmse, step], api_name="train", concurrency_limit=None,
                              show_progress="minimal")
            stop.click(None, None, None, cancels=[run], api_name=False)  # type: ignore[arg-type]  # False: no API
        with gr.Tab("Back-propagation", id="backprop"):
            gr.Markdown("The lecture's back-propagation for one example: v<sub>i</sub> = W<sub>i</sub> "
                        "u<sub>i−1</sub> + b<sub>i</sub>, u<sub>i</sub> = φ<sub>i</sub>(v<sub>i</sub>), then "
                        "g<sub>L</sub> = Φ'<sub>L</sub> ∂L/∂ŷ, g<sub>i</sub> = Φ'<sub>i</sub> W<sub>i+1</sub>"
                        "<sup>T</sup> g<sub>i+1</sub>, ∇W<sub>i</sub> = g<sub>i</sub> u<sub>i−1</sub><sup>T</sup>, "
                        "∇b<sub>i</sub> = g<sub>i</sub> (`jaxnet.backprop.tables`), beside `jax.grad`'s numbers. "
                        "With the first unit's v at exactly 0, ReLU'(0) = 1, the lecture's convention.")
            with gr.Row():
                sizes = gr.Textbox(bp.sizes, label="sizes d_0, …, d_L")
                bp_activation = gr.Dropdown(["relu", "tanh", "sigmoid", "identity"], value=bp.activation,
                                            label="hidden activation")
                output = gr.Dropdown(["identity", "sigmoid", "tanh", "softmax"], value=bp.output,
                                     label="output activation")
                loss = gr.Dropdown(["mse", "mae", "cross_entropy"], value=bp.loss, label="loss")
            with gr.Row():
                x = gr.Textbox(bp.x, label="x")
                y = gr.Textbox(bp.y, label="y")
                bp_seed = gr.Number(bp.seed, label="seed", precision=0)
                zero_unit = gr.Checkbox(bp.zero_unit, label="v₁'s first unit exactly 0")
                compute = gr.Button("Compute", variant="primary", elem_id="compute")
            difference = gr.Number(label="largest |manual − jax.grad| over every ∇W and ∇b", interactive=False)
            tables = gr.HTML(elem_id="tables")
            numbers = gr.JSON(label="every number", open=False)
            inputs = [sizes, bp_activation, output, loss, x, y, bp_seed, zero_unit]
            compute.click(backprop_tables, inputs, [tables, difference, numbers], api_name="tables")
            page.load(backprop_tables, inputs, [tables, difference, numbers], api_name=False)
        with gr.Tab("A digit you draw", id="digit"):
            gr.Markdown("Draw a digit. It is scaled into a 20 × 20 box and centred by its centre of mass in "
                        "28 × 28, as MNIST's digits were, and read by the lecture's 784-200-10 network.\n\n"
                        + model_text)
            with gr.Row():
                pad = gr.Sketchpad(canvas_size=(280, 280), type="numpy", image_mode="RGBA", label="draw here",
                                   brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"),
                                   layers=False, transforms=(), elem_id="pad", interactive=model is not None)
                with gr.Column():
                    read = gr.Button("Read", variant="primary", elem_id="read")
                    digit = gr.Image(label="the network's input, 28 × 28", image_mode="L", height=260, width=260,
                                     interactive=False, elem_id="input28")
                    top = gr.Label(num_top_classes=3, label="reading", elem_id="reading")
            bars = gr.BarPlot(probability_table(np.zeros(10)), x="digit", y="probability", y_lim=[0, 1], sort="x",
                              label="the ten probabilities", height=240)
            read_fn = lambda drawing: read_digit(model, drawing)
            read.click(read_fn, pad, [digit, bars, top], api_name="read")
    return page


def main(config: Config) -> None:
    model, model_text = digits.load_model(config.checkpoint, config.data_dir, config.startup_epochs)
    page = build(model, model_text)
    page.queue(default_concurrency_limit=8)
    print(f"jaxnet playground: http://{HOST}:{config.port}/", flush=True)
    page.launch(server_name=HOST, server_port=config.port, ssr_mode=False, css=CSS, show_error=True,
                footer_links=["api"], quiet=True)


def run(argv=None) -> None:
    """The command line: serve the page."""
    main(cli.parse(Config, argv, description=__doc__.split("\n\n")[0]))


if __name__ == "__main__":
    run()
