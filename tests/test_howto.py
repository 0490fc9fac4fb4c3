"""The how-to pages' code runs as written: each page's Python blocks, in order, in one namespace."""

import os
import re

import pytest

from jaxnet import activations, losses

HOWTO = os.path.join(os.path.dirname(__file__), "..", "docs", "howto")


def blocks(page: str) -> list[str]:
    with open(os.path.join(HOWTO, page)) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


@pytest.mark.parametrize("page", ["training.md", "extending.md"])
def test_the_pages_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its checkpoints go here
    # The pages register a loss and an activation: on copies, so the rest of the suite sees the built-in ones.
    monkeypatch.setattr(losses, "LOSSES", dict(losses.LOSSES))
    monkeypatch.setattr(activations, "ACTIVATIONS", dict(activations.ACTIVATIONS))
    code = blocks(page)
    assert code, f"no Python blocks in {page}"
    namespace = {}
    for i, block in enumerate(code):
        exec(compile(block, f"{page}, block {i + 1}", "exec"), namespace)
    if page == "extending.md":
        assert "huber" in losses.LOSSES and "softplus" in activations.ACTIVATIONS
