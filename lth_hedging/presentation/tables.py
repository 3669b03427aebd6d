"""Rounded tables and sentences computed from results (nothing typed in by hand).

Everything a notebook shows goes through here, rounded, so that reruns show identically:
tables as pandas DataFrames of rounded strings (rendered in JupyterLab and the HTML report;
nbval compares their text form), sentences wrapped to ``WIDTH`` characters.
"""

from __future__ import annotations

import math
import re
import textwrap

import pandas as pd
import torch

from ..foundations.config import Config, feller_ratio
from ..market.hedges import LABELS
from ..market.heston import discounted_strike
from ..market.instruments import complete_market, variance_swap_values
from ..market.pricing import heston_call
from ..measures.metrics import Difference, SeedInterval
from ..studies.references import Baseline, Statistics
from ..studies.structure import Hedge, HedgeMetrics, MaskStructure, Spread, Weights
from .published import published_for

WIDTH = 110  # no printed line is wider (a notebook in JupyterLab, the HTML report)

COLUMNS = (("cvar_05", "CVaR 5%"), ("cvar_01", "CVaR 1%"), ("var_05", "VaR 5%"),
           ("pnl_mean", "mean P&L"), ("pnl_std", "std P&L"), ("sharpe_ratio", "Sharpe"))


def fmt(value: float, digits: int = 3) -> str:
    text = f"{value:.{digits}f}"
    return "0." + "0" * digits if text.lstrip("-") == "0." + "0" * digits else text


def fmt_ci(value: float, ci: list[float], digits: int = 3) -> str:
    """A value with its interval: 'x [lo, hi]'."""
    lo, hi = ci
    return f"{fmt(value, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def fmt_stat(metrics: Statistics, name: str, digits: int = 3) -> str:
    """The statistic ``name`` of ``compute_all_metrics``' results with its interval."""
    return fmt_ci(metrics[name], metrics[f"{name}_ci"], digits)


def fmt_diff(diff: Difference, digits: int = 3) -> str:
    """A paired difference with its interval: 'x [lo, hi]'."""
    return fmt_ci(diff.difference, diff.ci, digits)


def statistic_label(statistic: str) -> str:
    """'cvar_05' → 'CVaR 5%', 'cvar_50' → 'CVaR 50%'."""
    kind, tail = statistic.split("_")
    return f"{'CVaR' if kind == 'cvar' else 'VaR'} {float(tail):g}%"


def metrics_table(by_cost: dict[str, dict[str, Statistics]], digits: int = 3) -> pd.DataFrame:
    """One row per cost level and strategy, each statistic with its bootstrap interval; the
    CVaR at a config's own tail (``metrics.tails_with``) first where it is not a standard
    column."""
    first = next(iter(next(iter(by_cost.values())).values()))
    known = {key for key, _ in COLUMNS}
    own = [(k, statistic_label(k)) for k in first if k.startswith("cvar_") and k not in known
           and not k.endswith("_ci")]
    columns = (*own, *COLUMNS)
    header = ["cost", "strategy", *(title for _, title in columns)]
    rows = [[cost, LABELS.get(name, name), *(fmt_stat(m, key, digits) for key, _ in columns)]
            for cost, by_strategy in by_cost.items() for name, m in by_strategy.items()]
    return table(header, rows, index=2)


def sign_of(d: Difference) -> str | None:
    """'lower' / 'higher' when the interval excludes 0, 'indistinguishable' when it holds
    it, None when there is no interval (one seed, or a criterion not reached)."""
    lo, hi = d.ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return "lower" if hi < 0 else "higher" if lo > 0 else "indistinguishable"


def compare_sentence(name_a: str, name_b: str, diff: Difference, digits: int = 3,
                     statistic: str = "cvar_05") -> str:
    """'A vs B: CVaR 5% difference x [lo, hi] → lower (better)' — decided by the paired
    interval of ``statistic``."""
    a, b = LABELS.get(name_a, name_a), LABELS.get(name_b, name_b)
    verdict = {"lower": "lower (better)", "higher": "higher (worse)",
               "indistinguishable": "not distinguishable"}[sign_of(diff)]
    return (f"{a} vs {b}: {statistic_label(statistic)} difference {fmt_diff(diff, digits)}"
            f" → {verdict}")


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
    if complete_market(config):
        values = variance_swap_values(config, v)
        lines.append(f"variance swap: price {values[0, 0].item():.4f} vs Monte Carlo of its "
                     f"realised leg {values[:, -1].mean().item():.4f} ± {se(values[:, -1]):.4f}")
    return "\n".join(lines)


def run_line(label: str, summary: dict) -> str:
    how = ("diverged" if summary["diverged"] else
           "stopped early" if summary["stopped_early"] else "trained its whole budget")
    return (f"{label}: best validation risk {fmt(summary['best_val_risk'])} at step "
            f"{summary['best_step']} of {summary['steps_run']} ({how})")


def baseline_conclusions(results: Baseline, study_cost: str,
                         zero_cost: str | None) -> list[str]:
    """The claims notebook 01 makes, each decided by a paired bootstrap interval. The best
    classical hedge is the model hedge where the variance swap is traded (the market is then
    complete), else the min-variance delta."""
    statistic = results.statistic
    lines = []
    comp = results.comparisons[study_cost]
    best = "model_hedge" if "model_hedge" in comp else "min_variance_delta"
    beaten = [n for n in ("no_hedge", "bs_delta", "heston_delta") if comp[n].ci[1] < 0]
    missed = [n for n in ("no_hedge", "bs_delta", "heston_delta") if n not in beaten]
    lines.append(f"At {study_cost}: the deep hedge has a lower {statistic_label(statistic)} "
                 f"than {_names(beaten) or 'none of the classical hedges'}"
                 + (f"; not shown against {_names(missed)}." if missed else "."))
    for name in dict.fromkeys(("min_variance_delta", best)):  # the best last, once
        lines.append(compare_sentence("deep_hedge", name, comp[name], statistic=statistic)
                     + f" (at {study_cost})")
    if zero_cost is not None:
        diff = results.comparisons[zero_cost][best]
        verdict = {"indistinguishable": "matches it (the interval contains 0)",
                   "lower": "beats it", "higher": "falls short of it"}[sign_of(diff)]
        lines.append(f"At {zero_cost}: the deep hedge {verdict}: "
                     + compare_sentence("deep_hedge", best, diff, statistic=statistic))
    return lines


def published_comparison(config: Config, results: Baseline) -> list[str]:
    """The published numbers of the setting ``config`` is (``published``) beside ours, with
    our intervals; none when no published setting matches."""
    entry = published_for(config)
    if entry is None:
        return []
    zero = results.metrics.get("0 bps")
    if zero is None:
        return [f"{entry.source}: its numbers are at zero cost; add 0.0 to "
                f"hedging.reference_costs to compare"]
    statistic = results.statistic
    price, where = entry.numbers["risk_neutral_price"]
    no_hedge = zero["no_hedge"]
    lo, hi = (-x for x in reversed(no_hedge["pnl_mean_ci"]))
    h = config.data.heston
    ours = heston_call(h.S0, h.v0, config.data.T, K=discounted_strike(config), kappa=h.kappa,
                       theta=h.theta, xi=h.xi, rho=h.rho)[0].item()
    p0, where_p0 = entry.numbers["deep_hedge_zero_cost"]
    return [f"Published ({entry.source}):",
            f"  {where}; here: semi-analytic Heston {fmt(ours)}, Monte Carlo on the test "
            f"paths {fmt(-no_hedge['pnl_mean'])} [{fmt(lo)}, {fmt(hi)}]",
            f"  {where_p0}; here ({statistic_label(statistic)}, 0 bps): deep hedge "
            f"{fmt_stat(zero['deep_hedge'], statistic)}, model hedge "
            f"{fmt_stat(zero['model_hedge'], statistic)}",
            "  with costs the paper gives numbers only at α = 0.99 (footnote 7): none is "
            "comparable here"]


def _names(names: list[str]) -> str:
    return ", ".join(LABELS[n] for n in names)


# ----------------------------------------------------------------------------- notebook 03
# (its controlled study and notebook 02's tables are in ``speed_text``)

def fmt_interval(d: SeedInterval | Spread, digits: int = 3, pct: bool = False) -> str:
    """A mean over seeds with its interval, 'x [lo, hi]', or its range, 'x (lo–hi)'; 'n/a'
    when undefined. A share (``pct``) has its Student-t interval clipped to 0–100 %."""
    f = (lambda v: f"{100 * v:.{max(digits - 2, 0)}f}%") if pct else (  # noqa: E731
        lambda v: fmt(v, digits))
    if not math.isfinite(d.mean):
        return "n/a"
    if isinstance(d, Spread):
        lo, hi = d.range
        return f"{f(d.mean)} ({f(lo)}–{f(hi)})"
    lo, hi = d.ci
    if pct and math.isfinite(lo):
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return f(d.mean) if not math.isfinite(lo) else f"{f(d.mean)} [{f(lo)}, {f(hi)}]"


def structure_table(results: MaskStructure) -> pd.DataFrame:
    """Section 3.3: per sparsity, each layer's density, effective sparsity, dead units and
    the overlap of different seeds' masks against random masks of the same densities."""
    layers = list(results.layer_sizes)
    header = ["sparsity", *(f"{n.split('.')[1]}: density" for n in layers), "effective",
              "dead units", "overlap between seeds", "random"]
    rows = [[f"{lv.sparsity:.0%}",
             *(fmt_interval(lv.layer_density[n], 3, pct=True) for n in layers),
             fmt_interval(lv.effective_sparsity, 3, pct=True),
             fmt_interval(lv.dead_units, 1), fmt_interval(lv.overlap_between_seeds),
             fmt(lv.random_overlap)] for lv in results.levels]
    return table(header, rows)


def layer_sizes_line(results: MaskStructure) -> str:
    return "weights per layer: " + ", ".join(f"{n.split('.')[1]}: {v}"
                                             for n, v in results.layer_sizes.items())


def inputs_table(results: MaskStructure) -> pd.DataFrame:
    """What the first layer keeps of each input, per sparsity: the share of its connections
    and its share of the kept weight mass (mean over seeds, range)."""
    names = list(results.levels[0].inputs)
    rows = [[f"{lv.sparsity:.0%}", title,
             *(fmt_interval(getattr(lv.inputs[n], key), 2, pct=True) for n in names)]
            for lv in results.levels
            for key, title in (("kept_fraction", "connections kept"), ("mass_share", "mass share"))]
    return table(["sparsity", "first layer", *names], rows, index=2)


def _cvar_std(m: HedgeMetrics) -> tuple[str, str]:
    return fmt_ci(m.cvar_05, m.cvar_05_ci), fmt_ci(m.pnl_std, m.pnl_std_ci)


def hedge_table(results: Hedge) -> pd.DataFrame:
    """Section 3.5: the ticket's hedge over sparsities against the dense and min-variance."""
    header = ["network", "CVaR 5%", "Δ CVaR vs dense", "std P&L", "RMS position vs dense",
              "RMS position vs min-variance delta"]
    d, mv = results.dense, results.min_variance_delta
    (d_cvar, d_std), (mv_cvar, mv_std) = _cvar_std(d), _cvar_std(mv)
    rows = [["dense (0%)", d_cvar, "—", d_std, "—", fmt(d.position_rms_vs_min_variance)]]
    for r in results.results:
        cvar, std = _cvar_std(r)
        rows.append([f"ticket {r.sparsity:.0%}", cvar, fmt_diff(r.cvar_05_vs_dense), std,
                     fmt(r.position_rms_vs_dense), fmt(r.position_rms_vs_min_variance)])
    rows.append([LABELS["min_variance_delta"], mv_cvar, "—", mv_std, "—", "0"])
    return table(header, rows)


GEOMETRY = (("theta0_to_theta_star", "θ0 → θ*"), ("ticket_to_theta_star", "ticket → θ*"),
            ("reinit_to_theta_star", "re-init → θ*"), ("ticket_moved", "ticket moved"),
            ("ticket_sign_theta_star", "signs ticket = θ*"),
            ("reinit_sign_theta_star", "signs re-init = θ*"),
            ("theta0_sign_theta_star", "signs θ0 = θ* (kept)"),
            ("theta0_sign_theta_star_pruned", "(pruned)"),
            ("kept_magnitude_theta0", "kept |θ0| / mean"))


def weights_table(results: Weights) -> pd.DataFrame:
    """Section 3.6: relative distances and sign agreements over seeds, per sparsity."""
    header = ["sparsity", *(title for _, title in GEOMETRY)]
    rows = [[f"{lv.sparsity:.0%}", *(fmt_interval(getattr(lv, k), 3, pct="sign" in k)
                                     for k, _ in GEOMETRY)] for lv in results.levels]
    return table(header, rows)


def structure_conclusions(structure: MaskStructure) -> list[str]:
    n = len(structure.seeds)
    lines = []
    nested = [f"{x.low:.0%} → {x.high:.0%}" for x in structure.nesting if x.nested_seeds == n]
    broken = [f"{x.low:.0%} → {x.high:.0%}" for x in structure.nesting if x.nested_seeds < n]
    lines.append(f"One-shot masks of one θ* are nested (every weight kept at the higher "
                 f"sparsity is kept at the lower) at {len(nested)} of {len(structure.nesting)}"
                 f" steps on all {n} seeds" + (f"; not at {', '.join(broken)}." if broken else "."))
    top = structure.levels[-1]
    s = f"{top.sparsity:.0%}"
    dens = {k.split(".")[1]: v.mean for k, v in top.layer_density.items()}
    most, least = max(dens, key=dens.get), min(dens, key=dens.get)
    lines.append(f"At {s} the {structure.scope} ranking keeps most of layer {most} "
                 f"({dens[most]:.1%}) and least of layer {least} ({dens[least]:.1%}); "
                 f"effective sparsity {top.effective_sparsity.mean:.1%}, "
                 f"{top.dead_units.mean:.1f} dead units on average.")
    rows = []
    for lv in structure.levels:
        o = lv.overlap_between_seeds
        ratio = o.mean / lv.random_overlap
        rows.append(f"{lv.sparsity:.0%}: {fmt(o.mean)} vs {fmt(lv.random_overlap)} "
                    f"({ratio:.2f}×)")
    lines.append("Overlap of different seeds' masks vs random masks of the same layer "
                 "densities: " + "; ".join(rows) + ".")
    return lines


def inputs_conclusions(structure: MaskStructure) -> list[str]:
    lines = []
    for lv in (structure.levels[0], structure.levels[-1]):
        kept = {k: v.kept_fraction.mean for k, v in lv.inputs.items()}
        mass = {k: v.mass_share.mean for k, v in lv.inputs.items()}
        order = sorted(mass, key=mass.get, reverse=True)
        lines.append(f"At {lv.sparsity:.0%} the first layer keeps "
                     + ", ".join(f"{kept[k]:.0%} of {k}" for k in order)
                     + "; weight-mass shares " + ", ".join(f"{mass[k]:.0%}" for k in order)
                     + " (seed means).")
    return lines


def _at(levels: list[str]) -> str:
    return ", ".join(levels) if levels else "no sparsity"


def hedge_conclusions(hedge: Hedge) -> list[str]:
    d, rows = hedge.dense, hedge.results
    first, last = rows[0], rows[-1]
    growth = "; ".join(f"{r.sparsity:.0%}: {fmt_diff(r.cvar_05_vs_dense)}" for r in rows)
    worse = [f"{r.sparsity:.0%}" for r in rows if sign_of(r.cvar_05_vs_dense) == "higher"]
    largest = max(rows, key=lambda r: r.cvar_05_vs_dense.difference)
    share = largest.cvar_05_vs_dense.difference / abs(d.cvar_05)
    return [f"One seed, intervals over test paths only (no seed-to-seed spread): test CVaR 5% "
            f"minus the dense network's (paired): {growth}; higher at {_at(worse)}; the "
            f"largest difference is {share:+.2%} of the dense CVaR (at "
            f"{largest.sparsity:.0%}).",
            f"P&L standard deviation: dense {fmt(d.pnl_std)}, ticket at "
            f"{last.sparsity:.0%} {fmt(last.pnl_std)}.",
            f"Positions (shares, RMS over test paths and dates) differ from the dense network's "
            f"by {fmt(first.position_rms_vs_dense)} at {first.sparsity:.0%} and "
            f"{fmt(last.position_rms_vs_dense)} at {last.sparsity:.0%}; the dense network "
            f"itself is {fmt(d.position_rms_vs_min_variance)} from the min-variance delta."]


def weights_conclusions(weights: Weights, sparsity: float) -> list[str]:
    lv = next(x for x in weights.levels if x.sparsity == sparsity)
    s = f"{sparsity:.0%}"
    start, ticket, reinit = (lv.theta0_to_theta_star.mean, lv.ticket_to_theta_star.mean,
                             lv.reinit_to_theta_star.mean)
    where = "closer to θ* than it started" if ticket < start else "no closer to θ* than θ0"
    return [f"At {s} (kept weights, relative distance to θ*): θ0 starts at {fmt(start)}, the "
            f"trained ticket ends at {fmt(ticket)} ({where}); the re-init, same mask, ends at "
            f"{fmt(reinit)}.",
            f"Signs shared with θ*: ticket {lv.ticket_sign_theta_star.mean:.0%}, re-init "
            f"{lv.reinit_sign_theta_star.mean:.0%}; θ0 already shares "
            f"{lv.theta0_sign_theta_star.mean:.0%} on the kept weights and "
            f"{lv.theta0_sign_theta_star_pruned.mean:.0%} on the pruned ones.",
            f"The mask keeps weights whose |θ0| is {lv.kept_magnitude_theta0.mean:.2f}× "
            f"the average (|θ*|: {lv.kept_magnitude_theta_star.mean:.2f}×)."]


def table(header: list[str], rows: list[list[str]], index: int = 1) -> pd.DataFrame:
    """Rounded strings as a DataFrame whose first ``index`` columns label the rows."""
    frame = pd.DataFrame(rows, columns=header).set_index(header[:index])
    frame.columns.name = None
    return frame


# An interval or a range is one unit when lines are wrapped: never "[0.62," / "0.86]".
_UNBROKEN = re.compile(r"\[[^\]]*\]|\([^)]*\)")


def wrap(text: str, first: str = "", rest: str = "") -> str:
    """``text`` wrapped to ``WIDTH``, ``first`` before it and ``rest`` before each further
    line (each of its own lines wrapped apart); brackets, paths and words stay whole."""
    def one(line: str, lead: str) -> str:
        keep = _UNBROKEN.sub(lambda m: m.group(0).replace(" ", "\0")
                             if len(m.group(0)) < 40 else m.group(0), line)
        return textwrap.fill(keep, WIDTH, initial_indent=lead, subsequent_indent=rest,
                             break_on_hyphens=False, break_long_words=False).replace("\0", " ")
    return "\n".join(one(line, first if i == 0 else rest)
                      for i, line in enumerate(text.split("\n")))


def bullets(lines: list[str]) -> str:
    """Sentences as a wrapped list, one '- ' per sentence."""
    return "\n".join(wrap(line, "- ", "  ") for line in lines)
