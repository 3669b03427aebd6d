"""Rounded text tables and sentences computed from results (nothing typed in by hand).

Everything a notebook prints goes through here, rounded, so that reruns print identically.
"""

from __future__ import annotations

from .hedges import LABELS

COLUMNS = (("cvar_05", "CVaR 5%"), ("cvar_01", "CVaR 1%"), ("var_05", "VaR 5%"),
           ("pnl_mean", "mean P&L"), ("pnl_std", "std P&L"), ("sharpe_ratio", "Sharpe"))


def fmt(value: float, digits: int = 3) -> str:
    text = f"{value:.{digits}f}"
    return "0." + "0" * digits if text.lstrip("-") == "0." + "0" * digits else text


def fmt_ci(metrics: dict, name: str, digits: int = 3) -> str:
    lo, hi = metrics[f"{name}_ci"]
    return f"{fmt(metrics[name], digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def metrics_table(by_strategy: dict[str, dict], digits: int = 3) -> str:
    """One row per strategy, each statistic with its bootstrap interval."""
    header = ["strategy", *(title for _, title in COLUMNS)]
    rows = [[LABELS.get(name, name), *(fmt_ci(m, key, digits) for key, _ in COLUMNS)]
            for name, m in by_strategy.items()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def compare_sentence(name_a: str, name_b: str, diff: dict, digits: int = 3) -> str:
    """'A's CVaR 5% is lower than B's by x [lo, hi]' — decided by the paired interval."""
    lo, hi = diff["ci"]
    a, b = LABELS.get(name_a, name_a), LABELS.get(name_b, name_b)
    interval = f"{fmt(diff['difference'], digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"
    if hi < 0:
        verdict = "lower (better)"
    elif lo > 0:
        verdict = "higher (worse)"
    else:
        verdict = "not distinguishable"
    return f"{a} vs {b}: CVaR 5% difference {interval} → {verdict}"
