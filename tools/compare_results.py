"""Compare two results trees number for number: ``python tools/compare_results.py A B``.

A and B are folders of results JSON (``<experiments.directory>/results`` of two runs, or the
``experiments`` folders that hold them). Every file of one must be in the other, and every
value equal: numbers exactly (NaN equals NaN; an int equals the same float), strings, booleans,
nulls, list lengths and mapping keys alike. Where a run was made and how long it took are not
results: the keys in ``IGNORED`` (provenance, a history row's seconds) are skipped wherever
they appear. A refactor must leave everything else as it was.

Exit status 0 when the trees are identical, 1 with one line per difference (at most
``--show``) otherwise, 2 when a folder holds no results.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

# not results: where a run was made, and the wall time of a history row (the results files
# hold no other timing)
IGNORED = frozenset({"provenance", "seconds"})


def results_files(root: Path) -> dict[str, Path]:
    """The JSON files under ``root`` (or under ``root/results`` where there is one), by path
    relative to that folder."""
    root = root / "results" if (root / "results").is_dir() else root
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.json"))}


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Every place where ``a`` and ``b`` differ, as ``path: a != b``; ``IGNORED`` keys skipped."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key in IGNORED:
                continue
            here = f"{where}.{key}" if where else str(key)
            if key not in a or key not in b:
                out.append(f"{here}: only in {'B' if key not in a else 'A'}")
            else:
                out += differences(a[key], b[key], here)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    if same(a, b):
        return []
    return [f"{where}: {a!r} != {b!r}"]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (isinstance(a, float) and isinstance(b, float)
                          and math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def compare(a: Path, b: Path) -> tuple[list[str], int]:
    """Differences between the results trees ``a`` and ``b``, and how many files matched."""
    files_a, files_b = results_files(a), results_files(b)
    if not files_a or not files_b:
        empty = a if not files_a else b
        raise FileNotFoundError(f"{empty} holds no results JSON")
    out = [f"{name}: only in {'A' if name in files_a else 'B'}"
           for name in sorted(set(files_a) ^ set(files_b))]
    common = sorted(set(files_a) & set(files_b))
    for name in common:
        left, right = (json.loads(files[name].read_text()) for files in (files_a, files_b))
        out += [f"{name}: {d}" for d in differences(left, right)]
    return out, len(common)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--show", type=int, default=50, help="differences printed at most")
    args = parser.parse_args(argv)
    try:
        found, n_files = compare(args.a, args.b)
    except FileNotFoundError as err:
        print(f"compare_results: {err}", file=sys.stderr)
        return 2
    if not found:
        print(f"identical: {n_files} results files, every number equal "
              f"(ignored: {', '.join(sorted(IGNORED))})")
        return 0
    for line in found[:args.show]:
        print(line)
    print(f"{len(found)} differences in {n_files} common files"
          + (f" ({len(found) - args.show} not shown)" if len(found) > args.show else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main())
