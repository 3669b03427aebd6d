"""What code a stored result came from: a fingerprint of the package modules that compute
it, part of every stage's key, so that an edited loss, model or trainer retrains instead of
serving a stale result from the store. Docstrings, comments and formatting do not count: the
fingerprint hashes each module's syntax tree without its docstrings.

The module sets name what each kind of stage runs; presentation (``plots``, ``tables``,
``speed_text``), the config schema (its values are in the key) and where networks run
(``runtime``: results do not depend on it) are in none of them.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # lth_hedging/, modules named from it
DATA = ("market.heston",)
REFERENCE = (*DATA, "market.features", "market.instruments", "market.pricing", "market.hedges",
             "nets.losses", "studies.stages", "studies.references")
TRAINING = (*DATA, "market.features", "market.instruments", "market.pricing", "nets.model",
            "nets.losses", "nets.train", "nets.ensemble", "nets.fitting", "nets.pruning",
            "studies.tickets", "studies.stages")
METRICS = (*REFERENCE, *TRAINING, "measures.metrics", "measures.speed", "studies.judging",
           "foundations.records")  # the stored metrics' JSON form


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def module_fingerprint(name: str, root: Path = PACKAGE) -> str:
    """SHA-256 of the module ``name``'s syntax tree (``"nets.losses"``: the file
    ``nets/losses.py`` under ``root``), docstrings removed."""
    path = root / f"{name.replace('.', '/')}.py"
    tree = ast.parse(path.read_text(), filename=str(path.relative_to(root)))
    return hashlib.sha256(ast.dump(_strip_docstrings(tree)).encode()).hexdigest()


def fingerprint(modules: tuple[str, ...]) -> str:
    """One short hash of the ``modules``' fingerprints."""
    parts = "".join(f"{m}:{module_fingerprint(m)}" for m in sorted(set(modules)))
    return hashlib.sha256(parts.encode()).hexdigest()[:12]
