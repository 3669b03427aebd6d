"""The executed notebooks of a run as one standalone HTML page: code hidden, figures inline,
nothing loaded from the network (the notebooks use no LaTeX and no live widgets, so MathJax
and require.js are left out). ``make report`` writes ``experiments/notebooks/report.html``.

Usage: python tools/html_report.py FOLDER  (its ``0*_executed.ipynb``, else its
``0*_smoke.ipynb``, in order → FOLDER/report.html)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from lth_hedging.foundations.config import project_root
from lth_hedging.foundations.store import atomic_write_bytes

# <script src="https://…"></script>: MathJax and require.js from a CDN; the module script
# that imports mermaid from a CDN (the notebooks draw no diagram)
REMOTE_SCRIPT = re.compile(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>\s*')
MATHJAX_CONFIG = re.compile(r'<script type="text/x-mathjax-config">.*?</script>\s*', re.S)
MERMAID = re.compile(r'<script type="module">(?:(?!</script>).)*?mermaid.*?</script>\s*', re.S)


def executed_notebooks(folder: Path) -> list[Path]:
    """The executed copy of every source notebook, from one run (``make all``: *_executed,
    else ``make smoke``: *_smoke)."""
    sources = sorted(p.stem for p in (project_root() / "notebooks").glob("0*.ipynb"))
    for suffix in ("executed", "smoke"):
        paths = [folder / f"{stem}_{suffix}.ipynb" for stem in sources]
        found = [p for p in paths if p.exists()]
        if found and len(found) < len(paths):
            raise SystemExit(f"{folder} holds only {', '.join(p.name for p in found)} of a run: "
                             "rerun it (`make all` / `make smoke`)")
        if found:
            return paths
    raise SystemExit(f"no executed notebooks (0*_executed.ipynb) in {folder}: run `make all`, "
                     "or `make smoke` then `make report OUT=experiments/smoke/notebooks`")


def combined(paths: list[Path]) -> nbformat.NotebookNode:
    """One notebook of every cell that shows something: markdown and the outputs."""
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    report = nbformat.v4.new_notebook(metadata=notebooks[0].metadata)
    report.metadata["title"] = "lth_hedging: " + ", ".join(p.stem for p in paths)
    for nb in notebooks:
        report.cells += [c for c in nb.cells if c.cell_type == "markdown" or c.get("outputs")]
    return report


def html(report: nbformat.NotebookNode) -> str:
    exporter = HTMLExporter(template_name="lab", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(report)
    for pattern in (REMOTE_SCRIPT, MATHJAX_CONFIG, MERMAID):
        body = pattern.sub("", body)
    return body


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "experiments/notebooks")
    paths = executed_notebooks(folder)
    target = folder / "report.html"
    atomic_write_bytes(target, html(combined(paths)).encode())
    print(f"report: {target} ({', '.join(p.name for p in paths)})")


if __name__ == "__main__":
    main()
