"""Error tests check the words that matter in a refusal (what it names, the numbers, the fix), not its sentence, so a
message can be reworded without touching its tests while every fact in it stays checked."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def refused(kind: type[BaseException], *words: str):
    """``pytest.raises(kind)`` whose message holds each of ``words`` (plain text, not patterns), in any order."""
    with pytest.raises(kind) as caught:
        yield caught
    message = str(caught.value)
    missing = [word for word in words if word not in message]
    assert not missing, f"the message {message!r} does not name {missing}"
