"""The worked notebook in docs/ runs from top to bottom, so it never goes stale."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "analysis.ipynb"


def test_the_analysis_notebook_runs_and_shows_its_figures():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("SALib")
    pytest.importorskip("prim")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the robustness, Sobol and envelope figures are drawn
    text = "\n".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "levers.visa_odds.US.default: must be between 0 and 1" in text
    assert "Robustness of each lever arm: US lead over China" in text
