"""A JupyterLab workspace that opens a run's executed notebooks, all of them, in tabs (notebook
03 in front, where the answer is), for ``make lab``.

JupyterLab opens a URL's one file; a workspace restores a whole layout. This writes the
workspace file; ``make lab`` imports it (``jupyter lab workspaces import``) and starts the lab
on it (``/lab/workspaces/lth_hedging``).

Usage: python tools/lab_workspace.py NOTEBOOK... > workspace.json  (paths from the project root)
"""

from __future__ import annotations

import json
import sys

NAME = "lth_hedging"  # the workspace a user's JupyterLab stores under this name


def workspace(paths: list[str]) -> dict:
    """The workspace document: every notebook of ``paths`` open, the last one in front."""
    widgets = [f"notebook:{path}" for path in paths]
    data = {"layout-restorer:data": {
        "main": {"dock": {"type": "tab-area", "currentIndex": len(widgets) - 1,
                          "widgets": widgets},
                 "current": widgets[-1]},
        "left": {"collapsed": False, "visible": True, "current": "filebrowser",
                 "widgets": ["filebrowser"]}}}
    for widget, path in zip(widgets, paths):
        data[widget] = {"data": {"path": path, "factory": "Notebook"}}
    return {"data": data, "metadata": {"id": NAME}}


def main() -> None:
    paths = sys.argv[1:]
    if not paths:
        raise SystemExit("usage: python tools/lab_workspace.py NOTEBOOK... (none given)")
    json.dump(workspace(paths), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
