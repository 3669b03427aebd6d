"""What code a stored result came from: a fingerprint of the package modules that compute
it, part of every stage's key, so that an edited loss, model or trainer retrains instead of
serving a stale result from the store. Docstrings, comments and formatting do not count: the
fingerprint hashes each module's syntax tree without its docstrings.

The module sets name what each kind of stage runs; presentation (``plots``, ``report``,
``findings``), the config schema (its values are in the key) and where networks run
(``runtime``: results do not depend on it) are in none of them.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
DATA = ("heston",)
REFERENCE = (*DATA, "features", "instruments", "pricing", "hedges", "losses", "experiment",
             "baseline")
TRAINING = (*DATA, "features", "instruments", "pricing", "model", "losses", "train", "ensemble",
            "pruning", "tickets", "experiment")
METRICS = (*REFERENCE, *TRAINING, "metrics", "speed", "lottery")


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
    """SHA-256 of the module ``name``'s syntax tree, docstrings removed."""
    tree = ast.parse((root / f"{name}.py").read_text(), filename=f"{name}.py")
    return hashlib.sha256(ast.dump(_strip_docstrings(tree)).encode()).hexdigest()


def fingerprint(modules: tuple[str, ...]) -> str:
    """One short hash of the ``modules``' fingerprints."""
    parts = "".join(f"{m}:{module_fingerprint(m)}" for m in sorted(set(modules)))
    return hashlib.sha256(parts.encode()).hexdigest()[:12]
