"""experiments/lecture.ipynb runs top to bottom, and is stored without outputs."""

import html
import json
import os
import re

import pytest

import requires

EXPERIMENTS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "experiments"))
NOTEBOOK = os.path.join(EXPERIMENTS, "lecture.ipynb")


def test_the_notebook_is_stored_without_outputs():
    with open(NOTEBOOK) as f:
        cells = json.load(f)["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


def test_the_notebooks_sections_follow_the_lectures_order():
    with open(NOTEBOOK) as f:
        cells = json.load(f)["cells"]
    numbers = [re.match(r"## ([\d.]+) ", "".join(c["source"])) for c in cells if c["cell_type"] == "markdown"]
    sections = [tuple(int(part) for part in m.group(1).split(".")) for m in numbers if m]
    assert len(sections) >= 6 and sections == sorted(sections), sections


def executed_by_the_docs_build() -> str | None:
    """The notebook's text as the documentation site shows it, when ``$JAXNET_DOCS_HTML`` names a fresh build of
    this checkout (CI sets it right after ``make docs``, whose strict build executes the notebook and fails on any
    cell error); else None."""
    built = os.environ.get("JAXNET_DOCS_HTML")
    page = os.path.join(built, "_generated", "notebook.html") if built else None
    if not page or not os.path.exists(page) or os.path.getmtime(page) < os.path.getmtime(NOTEBOOK):
        return None
    with open(page) as f:
        return html.unescape(re.sub(r"<[^>]+>", "", f.read()))


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    text = executed_by_the_docs_build()  # executed once per CI run, not twice
    if text is None:
        text = execute(tmp_path, monkeypatch)
    assert "converged after" in text and "∇W₂ = g₂ u₁ᵀ matches: True" in text
    assert not re.search(r"(?<![\d.])-0\.(?!\d)", text), "a −0 is printed"  # a zero is written 0
    from jaxnet import data

    # The MNIST part runs where the files are (as in CI) and says why not elsewhere; never neither, never both.
    # (The site's page holds the cells' code too: these are the printed lines, with their numbers and the variable.)
    ran = re.search(r"test accuracy \d+\.\d\d%", text) is not None
    missing = f"MNIST files not found: set ${data.ENV_VAR}" in text
    assert (ran, missing) == ((True, False) if data.find_idx_dir("mnist") is not None else (False, True))


def execute(tmp_path, monkeypatch) -> str:
    """Runs the notebook here; returns the text of its outputs."""
    nbformat = pytest.importorskip("nbformat", reason=requires.extra("test"))
    nbclient = pytest.importorskip("nbclient", reason=requires.extra("test"))
    # Run in a scratch folder (its files go there), importing the experiments' package from the repository root.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([os.path.dirname(EXPERIMENTS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
