"""The executed notebooks of a run as one standalone HTML page: code hidden, figures inline,
nothing loaded from the network (the notebooks use no LaTeX and no live widgets, so MathJax
and require.js are left out). ``make report`` writes ``report.html`` beside the last run's
executed notebooks (the default study's or the smoke run's, whichever is newer).

The page opens with the answer — each notebook's computed summary, notebook 03's first, then
01's and 02's — then a table of contents, then the notebooks themselves.

Usage: python tools/html_report.py FOLDER  (its ``0*_executed.ipynb``, else its
``0*_smoke.ipynb``, in order → FOLDER/report.html)
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

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
    raise SystemExit(f"no executed notebooks (0*_executed.ipynb, 0*_smoke.ipynb) in {folder}: "
                     "run `make all` or `make smoke` (`make report` then takes the newer)")


SUMMARY = re.compile(r"^##\s+.*\b(Summary|Conclusions) \(computed\)", re.M)
HEADING = re.compile(r"^(#{1,3})\s+(.+)$", re.M)


def summary_cells(nb: nbformat.NotebookNode) -> list:
    """The cells of a notebook's computed summary: from its "Summary (computed)" (or
    "Conclusions (computed)") heading to the next heading of its level or above."""
    start = next((i for i, c in enumerate(nb.cells)
                  if c.cell_type == "markdown" and SUMMARY.search(c.source)), None)
    if start is None:
        return []
    out = []
    for c in nb.cells[start + 1:]:
        if c.cell_type == "markdown" and re.search(r"^#{1,2}\s", c.source, re.M):
            break
        if c.cell_type == "markdown" or c.get("outputs"):
            out.append(c)
    return out


def anchor(heading: str) -> str:
    """The id nbconvert gives a heading (``nbconvert.filters.strings``): spaces as hyphens,
    URL-encoded but for what a fragment allows. Markdown emphasis is dropped first."""
    return quote(re.sub(r"[*`]", "", heading.strip()).replace(" ", "-"),
                 safe="?/:@!$&'()*+,;=")


def combined(paths: list[Path]) -> nbformat.NotebookNode:
    """One notebook: the answer (the computed summaries, notebook 03's first), a table of
    contents, then every cell of the notebooks that shows something (markdown, outputs)."""
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    report = nbformat.v4.new_notebook(metadata=notebooks[0].metadata)
    report.metadata["title"] = "lth_hedging: " + ", ".join(p.stem for p in paths)
    md = nbformat.v4.new_markdown_cell
    report.cells.append(md("# The answer, computed from this run's results"))
    for path, nb in sorted(zip(paths, notebooks), key=lambda pair: pair[0].name[:2] != "03"):
        cells = summary_cells(nb)
        if cells:
            first = (nb.cells[0].source.splitlines() or [path.stem])[0] if nb.cells else path.stem
            title = first.lstrip("# ").split(" · ", 1)[-1]
            report.cells.append(md(f"#### From notebook {path.name[:2]}: {title}"))
            for i, c in enumerate(cells):  # a copy: ids of its own
                report.cells.append(nbformat.from_dict({**c, "id": f"answer-{path.name[:2]}-{i}"}))
    if len(report.cells) == 1:
        report.cells.append(md("*None of these notebooks has a computed summary.*"))
    headings = [(len(hashes), text) for nb in notebooks for c in nb.cells
                if c.cell_type == "markdown" for hashes, text in HEADING.findall(c.source)
                if len(hashes) <= 2]
    counts = Counter(anchor(text) for _, text in headings)
    # a heading whose id repeats (each notebook's "Summary (computed)") has no link of its own:
    # nbconvert gives every copy the same id, so a link would open the first
    contents = ["    " * (level - 1) + (f"- [{text.strip()}](#{anchor(text)})"
                                       if counts[anchor(text)] == 1 else f"- {text.strip()}")
                for level, text in headings]
    report.cells.append(md("# Contents\n\n" + "\n".join(contents)))
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
