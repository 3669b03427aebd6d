"""Run a notebook's code cells in one Python process, without Jupyter (a GPU machine or a
cluster node that has the package's dependencies but not papermill): the parameters cell
takes the values given, as papermill would inject them; printed output goes to stdout and
figures to the notebook's ``figures_dir``. ``make all`` (papermill) remains the way to get
executed notebooks.

Usage: python tools/run_notebook.py NOTEBOOK [CONFIG] [--overrides YAML] [--figures DIR]
e.g. python tools/run_notebook.py notebooks/03_characterization.ipynb configs/buehler.yaml \
         --overrides "{runtime.device: cuda}"
"""

import argparse
import json
import os
import sys

import yaml

os.environ.setdefault("MPLBACKEND", "Agg")

from lth_hedging.foundations.config import YamlLoader, project_root  # noqa: E402


def display(*objects) -> None:
    """IPython's ``display`` where IPython is installed, else each object's text form."""
    try:
        from IPython.display import display as ipython_display
    except ImportError:
        print(*objects, sep="\n")
    else:
        ipython_display(*objects)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("config", nargs="?", default="configs/config.yaml")
    parser.add_argument("--overrides", default="{}", help="a YAML mapping of dotted keys")
    parser.add_argument("--figures", default="experiments/figures")
    args = parser.parse_args()
    overrides = yaml.load(args.overrides, Loader=YamlLoader)
    if not isinstance(overrides, dict):
        raise SystemExit(f"--overrides {args.overrides!r}: expected a YAML mapping")
    cells = json.loads(open(args.notebook).read())["cells"]
    namespace = {"__name__": "__main__", "display": display}
    os.chdir(project_root())
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        exec(compile(source, args.notebook, "exec"), namespace)  # noqa: S102
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            namespace.update(config_path=args.config, overrides=overrides,
                             figures_dir=args.figures)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
