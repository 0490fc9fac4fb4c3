"""The page's events: each takes the form's values as they arrived and the session's request, checks them through
the parts (:mod:`~experiments.playground.fit`, :mod:`~experiments.playground.backprop`,
:mod:`~experiments.playground.digits`), and returns what the page shows; a refusal is raised as the error a client
receives and kept for the box beside the form."""

from __future__ import annotations

import gradio as gr
import numpy as np

from experiments.playground import backprop, digits, fit
from experiments.playground.rendering import FitFigure, checked_html, probability_table, tables_html
from experiments.playground.session import Messages, Runs, Views, session_of
from experiments.playground.widgets import Unreadable

MESSAGES, RUNS, VIEWS = Messages(), Runs(), Views()
# Trainings run at once; more wait in Gradio's queue (more at once would only share the cores, each run slower,
# and hold more memory).
TRAININGS_AT_ONCE = 2


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
