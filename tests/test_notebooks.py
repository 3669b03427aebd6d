"""The nbval references must be the notebooks as they are, executed on the smoke config."""

from pathlib import Path

import nbformat
import pytest

from lth_hedging.config import project_root

ROOT = project_root()
SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cells(nb):
    return [c.source for c in nb.cells if c.cell_type == "code"
            and "injected-parameters" not in c.metadata.get("tags", [])]


def test_every_notebook_has_a_reference():
    assert SOURCES
    for path in SOURCES:
        reference = ROOT / "tests" / "notebooks" / path.name
        assert reference.exists(), f"run `make smoke` ({path.name})"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_reference_code_matches_the_notebook(path: Path):
    source = nbformat.read(path, as_version=4)
    reference = nbformat.read(ROOT / "tests" / "notebooks" / path.name, as_version=4)
    assert code_cells(reference) == code_cells(source), "stale reference: run `make smoke`"
    injected = [c for c in reference.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "configs/smoke.yaml" in injected[0].source


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_source_notebook_is_clean_and_parametrised(path: Path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in cells), "strip outputs"
    first = cells[0]
    assert "parameters" in first.metadata.get("tags", [])
    assert "config_path: str" in first.source and "overrides: dict" in first.source
