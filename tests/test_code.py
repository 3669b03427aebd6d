"""The store notices code changes: a stage's key includes a fingerprint of the package
modules that compute it."""

import shutil
import subprocess
import sys

from lth_hedging.foundations import code as code_sets
from lth_hedging.foundations.config import project_root

SCRIPT = """
import warnings; warnings.simplefilter("ignore")
from lth_hedging.configure import start
from lth_hedging.studies import stages as ex
c = start("configs/smoke.yaml", {{"experiments.directory": "{store}",
             "caching.directory": "{cache}", "training.epochs": 2, "runtime.progress": False}})
run = ex.train_dense(c)
print(run.cached, run.folder.name)
"""


CHECK = """
import lth_hedging, pathlib
assert pathlib.Path(lth_hedging.__file__).parent == pathlib.Path.cwd() / "lth_hedging"
"""


def test_editing_a_loss_function_retrains_and_editing_a_docstring_does_not(tmp_path):
    package = tmp_path / "src" / "lth_hedging"
    shutil.copytree(code_sets.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package.parent / "configs").symlink_to(project_root() / "configs")
    script = SCRIPT.format(store=tmp_path / "store", cache=tmp_path / "cache")

    def run() -> tuple[bool, str]:
        # run from the copy's folder: `python -c` imports the package found there first
        out = subprocess.run([sys.executable, "-c", script + CHECK], cwd=package.parent,
                             check=True, capture_output=True, text=True)
        cached, folder = out.stdout.splitlines()[-1].split()
        return cached == "True", folder

    first = run()
    assert first[0] is False and run() == (True, first[1])
    losses = package / "nets" / "losses.py"
    source = losses.read_text()
    docstring = source.replace('"""Hedging P&L and the risk measures',
                               '"""The P&L, and the risk measures', 1)
    assert docstring != source
    losses.write_text(docstring)  # a docstring: the same code
    assert run() == (True, first[1])
    edited = source.replace("return y + torch.relu(-pnl - y[..., None]).mean(-1) / alpha",
                            "return y + torch.relu(-pnl - y[..., None]).mean(-1) / alpha * 1.0")
    assert edited != source
    losses.write_text(edited)
    cached, folder = run()
    assert cached is False and folder != first[1]


def test_the_fingerprint_ignores_docstrings_comments_and_layout(tmp_path):
    (tmp_path / "a.py").write_text('"""Doc."""\ndef f(x):\n    """Doc."""\n    return x + 1\n')
    (tmp_path / "b.py").write_text('def f(x):  # a comment\n\n    return (x +\n            1)\n')
    (tmp_path / "c.py").write_text('def f(x):\n    return x + 2\n')
    a, b, c = (code_sets.module_fingerprint(n, tmp_path) for n in "abc")
    assert a == b != c
