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
import os
import sys
from typing import Annotated

if __name__ == "__main__" and not __package__:  # run as a file: import the package from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from experiments import cli  # noqa: E402
from experiments.cli import Range  # noqa: E402
from experiments.playground import backprop, digits, fit  # noqa: E402
from experiments.playground.handlers import (  # noqa: E402
    MESSAGES,
    TRAININGS_AT_ONCE,
    backprop_tables,
    check_numbers,
    preview,
    read_digit,
    show_units,
    stop,
    train,
)
from experiments.playground.rendering import probability_table, width_curve_markdown  # noqa: E402
from experiments.playground.session import NOT_RUN, OLD_RUN, field_named, stale_note  # noqa: E402
from experiments.playground.widgets import (  # noqa: E402
    CSS,
    SELECT_BRUSH,
    marks_the_reading_old,
    number_box,
    size_checked,
)

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


# -- The page ---------------------------------------------------------------------------------------------------------

def build(model: digits.Model | None, model_text: str) -> gr.Blocks:
    """The page: three tabs, each event's handler named for the client (``/train``, ``/tables``, ``/read``, and
    ``/stop``).

    Beside each form, a box shows the last refusal until the next press and marks the results as old once the form
    changes after them.
    """
    fit_defaults, bp = fit.FitSettings(), backprop.TableSettings()

    def pressed(button, fields, message, fn, outputs, cleared: dict, shown, *, trigger_mode="once", **kwargs):
        """``button`` empties the box beside the form, then runs ``fn`` on ``fields`` (its event is returned). A
        refusal goes to the box, marks the field it names and sets each component of ``cleared`` to its value
        there; an edit of ``fields`` while ``shown`` holds a result marks the results old in the box (with
        ``shown`` None, the caller marks them)."""
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
        if shown is not None:
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
                                elem_id="init")
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

            def read_fn(drawing, request: gr.Request):
                return read_digit(model, drawing, request)

            # Drawings are small; a few at a time bounds the memory many readers at once can take.
            pressed(read, [pad], digit_message, read_fn, [digit, bars, top], {digit: None, top: None}, None,
                    api_name="read", concurrency_limit=2)
            # An edit of the pad marks the reading old in the browser, in the order of the user's actions (an event
            # with no Python handler is never queued).
            pad.input(None, [top, digit_message], digit_message, js=marks_the_reading_old(NOT_RUN, stale_note(True)),
                      api_name=False)  # type: ignore[arg-type]
            digit_tab.select(None, js=SELECT_BRUSH, api_name=False)
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
