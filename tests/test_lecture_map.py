"""LECTURE.md maps every item of the lecture to its code and its check; this keeps the map honest."""

import importlib
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
with open(os.path.join(ROOT, "LECTURE.md")) as f:
    TEXT = f.read()
REFS = sorted(set(re.findall(r"`([^`\s]+)`", TEXT)))
# Every numbered section of the lecture, in its order: the map needs at least one row for each.
SECTIONS = ["1.1", "1.2", "2", "2.1.1", "2.1.2", "2.2", "3", "3.1", "3.2.1", "3.2.2", "3.2.3", "3.2.4", "3.2", "4",
            "5", "6", "7.1"]


def defines(path: str, name: str) -> bool:
    with open(os.path.join(ROOT, path)) as f:
        return re.search(rf"^(def|class) {re.escape(name)}\b", f.read(), re.M) is not None


@pytest.mark.parametrize("ref", [r for r in REFS if r.startswith("jaxnet.")])
def test_every_named_function_exists(ref):
    # A reference names a module (jaxnet.interop, imported on its own) or a name in one (jaxnet.mlp.init).
    try:
        importlib.import_module(ref)
        return
    except ImportError:
        pass
    module, _, name = ref.rpartition(".")
    assert hasattr(importlib.import_module(module), name), ref


@pytest.mark.parametrize("ref", [r for r in REFS if "::" in r])
def test_every_named_test_and_experiment_function_exists(ref):
    path, name = ref.split("::")
    assert os.path.exists(os.path.join(ROOT, path)), path
    assert defines(path, name), ref


def test_the_map_covers_every_section_in_order():
    rows = re.findall(r"^\| ([\d.]+) \|", TEXT, re.M)
    assert set(rows) == set(SECTIONS)
    order = [SECTIONS.index(r) for r in rows]
    assert order == sorted(order), "rows out of the lecture's order"


def test_every_erratum_names_a_test_that_exists():
    errata = TEXT.split("## Errata")[1]
    items = re.findall(r"^\d\. \*\*(.+?)\*\*(.+?)(?=^\d\. |\Z)", errata, re.M | re.S)
    assert len(items) == 3
    for title, body in items:
        tests = re.findall(r"`(tests/[^`]+::test_\w+)`", body)
        assert tests, f"erratum {title!r} names no test"


def test_the_readme_links_the_map():
    with open(os.path.join(ROOT, "README.md")) as f:
        assert "LECTURE.md" in f.read()
