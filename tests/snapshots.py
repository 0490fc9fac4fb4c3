"""What a user reads, recorded beside the tests (``tests/snapshots/``) and checked word for word: each command's
``--help``, the playground page's outline.

A recorded text is the reviewed one: a change to what users read is a change to its file, seen in the diff.
``JAXNET_UPDATE_SNAPSHOTS=1 python -m pytest ...`` rewrites the files from the code; review the diff before
committing it.
"""

from __future__ import annotations

import json
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snapshots")


def _update() -> bool:
    return bool(os.environ.get("JAXNET_UPDATE_SNAPSHOTS"))


def recorded_json(name: str, value) -> object:
    """The JSON recorded as ``name`` (written from ``value`` first when updating): compare ``value`` with it."""
    path = os.path.join(HERE, name)
    if _update():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(value, f, indent=1, ensure_ascii=False)
            f.write("\n")
    with open(path) as f:
        return json.load(f)


def recorded_text(name: str, text: str) -> str:
    """The text recorded as ``name`` (written from ``text`` first when updating)."""
    path = os.path.join(HERE, name)
    if _update():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        return f.read()
