"""How results are shown: tables as DataFrames of the rounded strings, sentences wrapped to
the report width without splitting an interval."""

import pandas as pd

from lth_hedging.measures.metrics import SeedInterval
from lth_hedging.presentation import tables


def test_a_table_is_indexed_by_its_label_columns_and_keeps_the_strings():
    frame = tables.table(["cell", "network", "T75"], [["80%", "ticket", "3/3: 46"],
                                                      ["80%", "dense", "3/3: 42"]], index=2)
    assert list(frame.index.names) == ["cell", "network"]
    assert frame.loc[("80%", "dense"), "T75"] == "3/3: 42"
    with pd.option_context("display.width", tables.WIDTH):
        assert max(map(len, repr(frame).splitlines())) <= tables.WIDTH


def test_a_wide_table_wraps_its_columns_within_the_width():
    header = ["strategy", *(f"column {i}" for i in range(12))]
    frame = tables.table(header, [["Heston min-variance delta",
                                   *("7.114 [6.997, 7.227]" for _ in range(12))]])
    with pd.option_context("display.width", tables.WIDTH, "display.max_columns", None,
                           "display.max_colwidth", None):
        text = repr(frame)
    assert max(map(len, text.splitlines())) <= tables.WIDTH
    assert text.count("7.114 [6.997, 7.227]") == 12


def test_wrapping_keeps_intervals_whole_and_loses_nothing():
    line = ("80%, warmup 10: vs dense 0.83× [0.68, 1.02], Holm p 0.248 → indistinguishable "
            "(boosts above 1.02× excluded; 80 % power only for ≥ 1.60×); vs random re-init "
            "2.14× [0.63, 7.21], Holm p 0.260")
    text = tables.bullets([line, "short"])
    lines = text.splitlines()
    assert all(len(x) <= tables.WIDTH for x in lines)
    assert lines[0].startswith("- ") and lines[1].startswith("  ") and lines[-1] == "- short"
    assert "[0.63, 7.21]" in text and "[0.68, 1.02]" in text
    assert " ".join(x[2:] for x in lines[:-1]) == line


def test_wrapping_keeps_each_line_and_long_words():
    path = "experiments/results/" + "x" * 120 + ".json"
    text = tables.wrap(f"first line\nresults: {path}")
    assert text.splitlines() == ["first line", "results:", path]


def test_a_shares_interval_stays_within_0_and_100_percent():
    share = SeedInterval(mean=0.977, ci=[0.939, 1.016], n=8)
    assert tables.fmt_interval(share, 3, pct=True) == "97.7% [93.9%, 100.0%]"
    assert tables.fmt_interval(share) == "0.977 [0.939, 1.016]"


def test_the_presentation_reads_results_by_attribute():
    """Typed results: the tables, sentences and figures name the fields they show. String
    keys remain only where the key comes from a registry or a plain JSON file (a statistic's
    name, a kind, a cost label, the registration and the pilot's file): at most 118 reads, a
    fifth of the 590 they made before the results were typed."""
    import ast

    from lth_hedging.foundations.config import project_root

    reads = 0
    for path in (project_root() / "lth_hedging" / "presentation").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            key = (node.slice if isinstance(node, ast.Subscript) else
                   node.args[0] if isinstance(node, ast.Call) and node.args
                   and isinstance(node.func, ast.Attribute) and node.func.attr == "get" else None)
            reads += isinstance(key, ast.Constant) and isinstance(key.value, str)
    assert reads <= 590 // 5, f"{reads} string-key reads in lth_hedging/presentation"
