"""The nbval references once more, under another float32 arithmetic and on an empty store.

The references in ``tests/notebooks/`` were made on one CPU kind; another rounds float32
sums differently (MKL's AVX-512 kernels on Intel, say), and training amplifies the last
bits. A printed digit that such rounding moves must not be compared. This check retrains
every smoke network with ATen's scalar kernels (``ATEN_CPU_CAPABILITY=default``) and MKL's
SSE2 code path (``MKL_CBWR=COMPATIBLE``) — other roundings than any x86 CPU's native
kernels: on an AMD EPYC every history differs from the native run's in its last digits —
into a store of its own, and compares the notebooks' outputs with the references (the same
sanitising as ``make nbval``, the store's folder aside). A failure names a printed number
that rests on the rounding, not on the method: round it to the resolution its claim needs,
or sanitise it.

Usage: ``python tools/nbval_other_arithmetic.py`` (``make nbval-other-arithmetic``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "tests" / "notebooks"
STORE = "experiments/other_arithmetic"  # relative to the project root (git-ignored)
ARITHMETIC = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}
SMOKE_STORE = "experiments/smoke"
TRAINED = ("dense", "ticket", "rewind")  # the store's stages that hold trained networks


def rewrite(reference: Path, into: Path) -> Path:
    """The reference notebook with its injected parameters pointing at this check's store."""
    nb = json.loads(reference.read_text())
    cells = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    if len(cells) != 1:
        raise SystemExit(f"{reference}: expected one injected-parameters cell, found "
                         f"{len(cells)}")
    source = "".join(cells[0]["source"])
    if "overrides = {}" not in source or SMOKE_STORE not in source:
        raise SystemExit(f"{reference}: its injected parameters are not the smoke run's "
                         f"(overrides = {{}}, figures under {SMOKE_STORE})")
    source = source.replace("overrides = {}",
                            f'overrides = {{"experiments.directory": "{STORE}"}}')
    cells[0]["source"] = source.replace(SMOKE_STORE, STORE).splitlines(keepends=True)
    path = into / reference.name
    path.write_text(json.dumps(nb, indent=1))
    return path


def main() -> int:
    store = ROOT / STORE
    shutil.rmtree(store, ignore_errors=True)  # an empty store: every network retrains
    notebooks = store / "notebooks"
    notebooks.mkdir(parents=True)
    paths = [rewrite(nb, notebooks) for nb in sorted(REFERENCES.glob("*.ipynb"))]
    sanitize = notebooks / "sanitize.cfg"
    sanitize.write_text((REFERENCES / "sanitize.cfg").read_text() + (
        "\n# this check's own store in place of the smoke run's\n[store]\n"
        f"regex: {STORE}/\nreplace: {SMOKE_STORE}/\n"))
    env = {**os.environ, **ARITHMETIC, "LTH_PROGRESS": "0"}
    print(f"nbval references under {' '.join(f'{k}={v}' for k, v in ARITHMETIC.items())}, "
          f"store {STORE}/", flush=True)
    failed = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--nbval",
         "--nbval-current-env", "--nbval-sanitize-with", str(sanitize), "--rootdir", str(ROOT),
         *map(str, paths)], cwd=ROOT, env=env)
    return failed or arithmetic_took_effect(store)


def arithmetic_took_effect(store: Path) -> int:
    """0 when every network of this check was trained under ``ARITHMETIC`` (its provenance
    says so) and, where the smoke run's own store holds the same networks trained natively
    (``make nbval`` ran first), some of their histories differ from those; else a message and
    1 — the comparison would then prove nothing."""
    summaries = sorted(s for stage in TRAINED for s in store.glob(f"{stage}/*/summary.json"))
    wanted = [f"kernels {ARITHMETIC['ATEN_CPU_CAPABILITY'].upper()}",
              f"MKL_CBWR={ARITHMETIC['MKL_CBWR']}"]

    def ours(summary: Path) -> bool:
        return all(w in json.loads(summary.read_text())["provenance"]["blas"] for w in wanted)

    other = [s for s in summaries if not ours(s)]
    if not summaries or other:
        print(f"the check's networks were not all trained under {', '.join(wanted)}: "
              f"{len(other)} of {len(summaries)} were not")
        return 1
    natives = [ROOT / SMOKE_STORE / s.relative_to(store) for s in summaries]
    pairs = [(s.with_name("history.json"), native.with_name("history.json"))
             for s, native in zip(summaries, natives) if native.exists() and not ours(native)]
    moved = sum(untimed(a) != untimed(b) for a, b in pairs)
    print(f"{len(summaries)} networks trained under {', '.join(wanted)}; histories that "
          f"differ from the smoke store's: {moved} of {len(pairs)}")
    if not pairs:
        print(f"no native smoke networks in {SMOKE_STORE} to compare with: the floor control "
              "needs them (make nbval first; make test does)")
        return 1
    if not moved:
        print("the second arithmetic changed no history: it tests nothing on this machine")
        return 1
    return 0


def untimed(history: Path) -> list[dict]:
    """A stored history without its wall-clock timings (they differ on every run)."""
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in json.loads(history.read_text())]


if __name__ == "__main__":
    sys.exit(main())
