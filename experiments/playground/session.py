"""What the page remembers per session (a browser tab, a client): the last refusal for the box beside each form,
the run each session has going, and what its plot shows."""

from __future__ import annotations

import threading

import gradio as gr

from experiments.playground import fit

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
        if request is None or not request.session_hash:  # refuse recorded nothing for it
            return ""
        with self._lock:
            message = self._last.pop(request.session_hash, None)
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
