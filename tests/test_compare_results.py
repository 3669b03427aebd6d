"""tools/compare_results.py: two results trees are identical only when every number is."""

import json
import subprocess
import sys

import pytest

from lth_hedging.foundations.config import project_root

TOOL = project_root() / "tools" / "compare_results.py"
RESULT = {"seed": 0, "margin": {"margin": 0.0128, "source": "registered"},
          "results": [{"T75": 40, "curve": [[0, 3.1], [5, 2.9]], "matches": True,
                       "ci": [0.1, float("nan")]}],
          "provenance": {"cpu": "AMD EPYC", "torch": "2.13.0"}}


def write(root, name, data):
    path = root / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def compare(a, b):
    return subprocess.run([sys.executable, str(TOOL), str(a), str(b)], capture_output=True,
                          text=True)


def edited(path, value):
    out = json.loads(json.dumps(RESULT))
    *parents, last = path
    target = out
    for key in parents:
        target = target[key]
    target[last] = value
    return out


def test_identical_trees_pass_and_provenance_is_not_a_result(tmp_path):
    write(tmp_path / "a", "x.json", RESULT)
    write(tmp_path / "b", "x.json", edited(("provenance", "cpu"), "Intel Xeon"))
    run = compare(tmp_path / "a", tmp_path / "b")
    assert run.returncode == 0 and "identical: 1 results files" in run.stdout


@pytest.mark.parametrize("path, value, where", [
    (("margin", "margin"), 0.01280000001, "margin.margin"),  # the last digits count
    (("seed",), 0.0, "seed"),  # 0 and 0.0 are the same number...
    (("results",), [], "results"),
    (("margin", "source"), "configured", "margin.source"),
])
def test_any_changed_value_fails_naming_where(tmp_path, path, value, where):
    write(tmp_path / "a", "x.json", RESULT)
    write(tmp_path / "b", "x.json", edited(path, value))
    run = compare(tmp_path / "a", tmp_path / "b")
    if path == ("seed",):  # ...so that one passes
        assert run.returncode == 0
        return
    assert run.returncode == 1 and f"x.json: {where}" in run.stdout


def test_a_missing_file_or_key_fails_and_an_empty_tree_is_an_error(tmp_path):
    write(tmp_path / "a", "x.json", RESULT)
    write(tmp_path / "a", "y.json", RESULT)
    write(tmp_path / "b", "x.json", {k: v for k, v in RESULT.items() if k != "seed"})
    run = compare(tmp_path / "a", tmp_path / "b")
    assert run.returncode == 1
    assert "y.json: only in A" in run.stdout and "x.json: seed: only in A" in run.stdout
    (tmp_path / "c").mkdir()
    assert compare(tmp_path / "a", tmp_path / "c").returncode == 2
