"""The page's parts that need more than Gradio gives: a number box that passes what was typed, a drawing pad that
refuses an oversized image from its header before decoding it, the page's style, the script that keeps the pad's
brush selected and the one that marks a reading old when the pad changes."""

from __future__ import annotations

import io
import json
import re
import struct
import warnings
from typing import NamedTuple

import gradio as gr
from gradio.data_classes import FileData
from PIL import Image

from experiments.playground import digits


def number_box(value, **kwargs) -> gr.Number:
    """A number box whose value reaches its handler exactly as typed or sent.

    Gradio's own box rounds to its ``precision`` before the handler sees the value (a width of 10.5 would train as 10)
    and fails on text, NaN or an infinity with a message that does not name the box; the handlers check every value
    themselves and name the field (:func:`experiments.playground.fit.form_number`). (The method is replaced on the
    instance: a subclass of a Gradio component makes Gradio write a stub file beside this module.)
    """
    box = gr.Number(value, **kwargs)  # precision None, Gradio's default: shown as given
    box.preprocess = lambda payload: payload  # type: ignore[method-assign]
    return box


class Unreadable(NamedTuple):
    """A drawing refused before it was decoded, in its place, so that the handler refuses it by name."""

    reason: str


def png_size(source) -> tuple[int, int] | None:
    """A PNG's ``(width, height)`` from its header (its first 24 bytes, all that is read), or ``None`` for another
    format; ``source``: a path or a seekable binary file."""
    if not hasattr(source, "seek"):
        with open(source, "rb") as f:
            return png_size(f)
    source.seek(0)
    head = source.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
        return None
    return struct.unpack(">II", head[16:])  # IHDR's width and height, big-endian unsigned


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


def marks_the_reading_old(kept_prefix: str, note: str) -> str:
    """The script run in the browser on each edit of the pad (a stroke, the bin): the box beside it gets ``note`` when
    a reading is on the page, and keeps a message that starts with ``kept_prefix`` (a refusal of the press).

    It runs in the browser, in the order of the user's actions, so a stroke made before Read never marks the reading
    of that stroke as old: a round trip to the server could arrive after the reading (each event first sends the pad's
    image, and the uploads finish in any order). Its arguments are the reading shown (``null`` or a label with no
    ``label`` when none) and the box's text."""
    return f"""(reading, message) => {{
  if (message && message.startsWith({json.dumps(kept_prefix)})) return [message];
  return [reading && reading.label != null ? {json.dumps(note)} : ""];
}}"""
