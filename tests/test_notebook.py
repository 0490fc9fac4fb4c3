"""experiments/lecture.ipynb runs top to bottom, and is stored without outputs."""

import json
import os

import pytest

EXPERIMENTS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "experiments"))
NOTEBOOK = os.path.join(EXPERIMENTS, "lecture.ipynb")


def test_the_notebook_is_stored_without_outputs():
    with open(NOTEBOOK) as f:
        cells = json.load(f)["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # Run in a scratch folder (its files go there), importing the experiments from their own folder.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([EXPERIMENTS, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "converged after" in text and "∇W₂ = g₂ u₁ᵀ matches: True" in text
    assert "test accuracy" in text or "MNIST files not found" in text
