"""Rounded text tables and sentences computed from results (nothing typed in by hand).

Everything a notebook prints goes through here, rounded, so that reruns print identically.
"""

from __future__ import annotations

import math

import torch

from .config import Config, feller_ratio
from .hedges import LABELS
from .heston import discounted_strike
from .pricing import heston_call

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


def data_summary(config: Config, S: torch.Tensor, v: torch.Tensor, Z: torch.Tensor) -> str:
    """Sizes, Feller check, and the simulation checked against closed forms."""
    d, h = config.data, config.data.heston
    ratio = feller_ratio(h)
    n = S.shape[0]
    se = lambda x: x.double().std().item() / math.sqrt(n)  # noqa: E731
    price = heston_call(h.S0, h.v0, d.T, K=discounted_strike(config), kappa=h.kappa,
                        theta=h.theta, xi=h.xi, rho=h.rho)[0].item()
    hits = (v[:, 1:] <= 1e-8).any(1).double().mean().item()
    lines = [
        f"paths: {d.n_paths} ({d.n_steps} steps over {d.T * 365:.1f} days, scheme {d.scheme})",
        f"Feller ratio 2κθ/ξ² = {ratio:.3f} ({'holds' if ratio >= 1 else 'fails'}); "
        f"test paths whose variance touches 0: {hits:.1%}",
        f"E[S_T] (discounted) = {S[:, -1].double().mean().item():.3f} ± {se(S[:, -1]):.3f}"
        f"  vs S0 = {h.S0:.3f} (martingale)",
        f"Monte Carlo call price = {Z.double().mean().item():.3f} ± {se(Z):.3f}"
        f"  vs semi-analytic Heston {price:.3f}",
    ]
    return "\n".join(lines)


def run_line(label: str, summary: dict) -> str:
    how = ("diverged" if summary["diverged"] else
           "stopped early" if summary["stopped_early"] else "ran all epochs")
    return (f"{label}: best validation loss {fmt(summary['best_val_loss'])} at epoch "
            f"{summary['best_epoch']} of {summary['epochs_run']} ({how})")


def baseline_conclusions(results: dict, study_cost: str, zero_cost: str | None) -> list[str]:
    """The claims notebook 01 makes, each decided by a paired bootstrap interval."""
    lines = []
    comp = results["comparisons"][study_cost]
    beaten = [n for n in ("no_hedge", "bs_delta", "heston_delta") if comp[n]["ci"][1] < 0]
    missed = [n for n in ("no_hedge", "bs_delta", "heston_delta") if n not in beaten]
    lines.append(f"At {study_cost}: the deep hedge has a lower CVaR 5% than "
                 f"{_names(beaten) or 'none of the classical hedges'}"
                 + (f"; not shown against {_names(missed)}." if missed else "."))
    lines.append(compare_sentence("deep_hedge", "min_variance_delta",
                                  comp["min_variance_delta"]) + f" (at {study_cost})")
    if zero_cost is not None:
        diff = results["comparisons"][zero_cost]["min_variance_delta"]
        lo, hi = diff["ci"]
        verdict = ("matches it (the interval contains 0)" if lo <= 0 <= hi else
                   "beats it" if hi < 0 else "falls short of it")
        lines.append(f"At {zero_cost}: the deep hedge {verdict}: "
                     + compare_sentence("deep_hedge", "min_variance_delta", diff))
    return lines


def _names(names: list[str]) -> str:
    return ", ".join(LABELS[n] for n in names)
