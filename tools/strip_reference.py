"""Turn a smoke-executed notebook into the nbval reference under tests/notebooks/.

Keeps the code, the injected parameters and the text outputs nbval compares; drops what only
varies or bloats the repository: timings in metadata and figure images (nbval skips those).
Usage: python tools/strip_reference.py EXECUTED.ipynb REFERENCE.ipynb
"""

import sys

import nbformat

IMAGES = ("image/png", "image/jpeg", "image/svg+xml", "application/pdf")


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            for key in IMAGES:
                output.get("data", {}).pop(key, None)
    return nb


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    nbformat.write(strip(nbformat.read(source, as_version=4)), target)
