"""Tables and sentences of notebooks 02 and 03, computed from their results (nothing typed
in by hand): the speed measures of ``speed`` and the tests of ``metrics``.

Every verdict sentence reads an interval or a (Holm-adjusted) p-value from the results; a
null result states the largest speed-up its interval leaves open.
"""

from __future__ import annotations

import math

import pandas as pd

from ..measures.metrics import LogRatioTest
from ..measures.speed import ENDPOINTS, References
from ..studies.exploration import LrExploration, RateRow, SparsityAblation
from ..studies.judging import Speedup
from ..studies.structure import Hedge, Imp, MaskStructure, Variant, Weights
from .tables import (
    fmt,
    fmt_diff,
    hedge_conclusions,
    inputs_conclusions,
    structure_conclusions,
    table,
    weights_conclusions,
)

FLOOR_LABELS = {"bs_delta": "Black–Scholes delta, frozen", "no_hedge": "no hedge, frozen",
                "min_variance_delta": "min-variance delta, frozen"}


def steps_text(value: int | None, budget: int) -> str:
    return f"{value}" if value is not None else f"> {budget}"


def speedup_text(s: Speedup) -> str:
    """One seed's T_dense / T_ticket with what was censored."""
    flags = [who for who, flag in (("ticket", s.ticket_censored), ("dense", s.dense_censored))
             if flag]
    return f"{s.speedup:.2f}×" + (f" ({' and '.join(flags)} censored)" if flags else "")


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def times(value: float) -> str:
    return f"{value:.2f}×" if math.isfinite(value) else "—"


def test_text(t: LogRatioTest) -> str:
    """A log-ratio test: 'geometric mean [interval], p'."""
    if t.n < 2:
        return f"{t.speedup:.2f}× (one seed: no interval)"
    lo, hi = t.ci
    if not math.isfinite(lo):
        return f"{t.speedup:.2f}× (every seed the same ratio: no interval)"
    return f"{t.speedup:.2f}× [{lo:.2f}, {hi:.2f}], p {p_text(t.p)}"


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


# ----------------------------------------------------------------------------- notebook 02


def references_line(refs: References, budget: int | None = None) -> str:
    what = ("Black–Scholes delta" if refs.floor_name == "bs_delta" else
            "no hedge: not trading beats the Black–Scholes delta here")
    line = (f"R_d = {fmt(refs.dense)} (dense, {refs.n_dense} seed"
            f"{'s' if refs.n_dense > 1 else ''}), R_BS = {fmt(refs.floor)} ({what}), "
            f"validation margin {fmt(refs.margin)}")
    return line + (f", budget {budget} steps" if budget else "")


def lr_table(results: LrExploration) -> pd.DataFrame:
    """2.1: ticket beside the dense network from θ0 at each retraining rate."""
    p = results.primary
    header = ["LR", "network", *ENDPOINTS, "AUC", "best step", "final val risk", "matches",
              "test CVaR 5%", "Δ test CVaR vs dense", f"speed-up ({p})"]
    rows = []
    for r in results.results:
        for who, x in (("ticket", r.ticket), ("dense", r.dense)):
            rows.append([f"{r.learning_rate:g}", who,
                         *(steps_text(x.levels[e], x.budget) for e in ENDPOINTS), fmt(x.auc),
                         steps_text(x.best_step, x.budget) if x.best_step is not None
                         else "—", fmt(x.final_risk), yes(x.matches), fmt(x.cvar_05),
                         fmt_diff(x.cvar_05_vs_dense) if x.cvar_05_vs_dense else "—",
                         speedup_text(r.speedup[p]) if who == "ticket" else ""])
    return table(header, rows, index=2)


def floor_table(results: LrExploration) -> pd.DataFrame:
    """2.1: the floor controls, measured exactly like the networks."""
    header = ["LR", "floor control", *ENDPOINTS, "AUC", "best step", "final val risk",
              "matches"]
    rows = [[f"{r.learning_rate:g}", FLOOR_LABELS[name],
             *(steps_text(f.levels[e], f.budget) for e in ENDPOINTS), fmt(f.auc),
             "—" if f.best_step is None else str(f.best_step), fmt(f.final_risk),
             yes(f.matches)]
            for r in results.results for name, f in r.floors.items()]
    return table(header, rows, index=2)


def grid_table(results: LrExploration) -> pd.DataFrame:
    """2.1: speed-up at the primary endpoint for every mask LR × retraining LR."""
    p = results.primary
    header = ["mask LR", "retraining LR", f"ticket {p}", f"dense {p}", "speed-up", "matches"]
    rows = [[f"{g.mask_lr:g}", f"{g.learning_rate:g}", str(g.ticket_steps[p]),
             str(g.dense_steps[p]), speedup_text(g.speedup), yes(g.matches)]
            for g in results.grid]
    return table(header, rows, index=2)


def sparsity_table(results: SparsityAblation) -> pd.DataFrame:
    """2.2: the ticket over sparsities at one rate."""
    p, d = results.primary, results.dense
    header = ["sparsity", "effective", p, "speed-up", "AUC", "final val risk", "matches (val)",
              "test CVaR 5%", "Δ test CVaR vs dense", "matches (test)"]
    rows = [["dense", "0.0%", steps_text(d.levels[p], d.budget), "", fmt(d.auc),
             fmt(d.final_risk), "", fmt(d.cvar_05), "", ""]]
    rows += [[f"{r.target_sparsity:.0%}", f"{r.effective_sparsity:.1%}",
              steps_text(r.levels[p], r.budget), speedup_text(r.speedup), fmt(r.auc),
              fmt(r.final_risk), yes(r.matches), fmt(r.cvar_05),
              fmt_diff(r.cvar_05_vs_dense), yes(r.test_matches)]
             for r in results.results]
    return table(header, rows)


def floor_sentence(rows: list[RateRow], primary: str) -> str:
    """What the floor controls (classical hedges frozen; only y may train) reach over the
    rates of ``rows``; the measures they reach are no evidence of learning."""
    failed = list(dict.fromkeys(m for r in rows for m in r.floor_reached))
    clean = [e for e in ENDPOINTS if e not in failed]
    worst = min(f.auc for r in rows for f in r.floors.values())
    text = ("Floor controls (classical hedges with frozen positions, only the OCE level y free "
            "to train, at every rate): "
            + (f"none reaches {' or '.join(clean)}" if clean else "they reach every level")
            + ("" if "matches" in failed else ", none matches the dense reference")
            + ("" if "best step" in failed else ", none gets a best step")
            + f"; their AUC is at least {fmt(worst)}"
            + ("." if "AUC" in failed else ", worse than every dense network's."))
    if failed:
        who = "; ".join(dict.fromkeys(f"LR {r.learning_rate:g}: {', '.join(r.floor_reached)}"
                                      for r in rows if r.floor_reached))
        text += (f" They do pass {', '.join(failed)} ({who}): a classical hedge already gets "
                 "there, so those measures are no evidence of learning and no verdict rests "
                 "on them.")
    status = "fails" if primary in failed else "passes"
    return text + f" The primary endpoint {primary} {status} its floor control."


def lottery_conclusions(lr: LrExploration, ablation: SparsityAblation) -> list[str]:
    """Notebook 02's findings: exploratory, one seed, each with its floor control."""
    p, seed = lr.primary, lr.seed
    lines = [f"Exploratory: one seed ({seed}); speed is steps to {p} on the validation risk "
             f"(y at its optimum); matching the dense network means a paired test-CVaR "
             f"difference whose upper bound is within {fmt(lr.margin.margin)} "
             f"({lr.margin.source})."]
    lines.append(floor_sentence(lr.results, p))
    for r in lr.results:
        t, d = r.ticket, r.dense
        lines.append(f"LR {r.learning_rate:g}: ticket {p} {steps_text(t.levels[p], t.budget)} "
                     f"vs dense {steps_text(d.levels[p], d.budget)} steps (speed-up "
                     f"{speedup_text(r.speedup[p])}); AUC {fmt(t.auc)} vs {fmt(d.auc)};"
                     f" final validation risk {fmt(t.final_risk)} vs {fmt(d.final_risk)} "
                     f"(matches: {yes(t.matches)}).")
    ups = [g.speedup.speedup for g in lr.grid]
    quicker = sum(u > 1 for u in ups)
    lines.append(f"Mask LR × retraining LR: the ticket is quicker than the dense network in "
                 f"{quicker} of {len(ups)} pairs (speed-ups {min(ups):.2f}×–{max(ups):.2f}×); "
                 "one seed, so no interval: notebook 03 tests it over seeds.")
    top = ablation.max_sparsity_matching
    lines.append(f"Sparsity at LR {ablation.learning_rate:g}: the ticket matches the dense "
                 "network (upper bound of the paired test-CVaR difference within the margin; "
                 "one seed) up "
                 + (f"to {top:.0%}." if top is not None else "to none of the sparsities tried.")
                 )
    return lines


# ----------------------------------------------------------------------------- notebook 03


def variant_label(v: Variant) -> str:
    start = "θ0" if v.rewind_epoch == 0 else f"epoch {v.rewind_epoch}"
    how = "one-shot" if v.method == "one-shot" else f"IMP, {v.rounds} rounds"
    return f"{how}, from {start}"


def imp_table(results: Imp) -> pd.DataFrame:
    """3.7: one-shot and iterative pruning, each rewound to θ0 or an early epoch."""
    p = results.primary
    header = ["pruning", "sparsity", p, "final val risk", "test CVaR 5%",
              "Δ CVaR vs one-shot from θ0", f"speed-up vs it ({p})", "mask overlap"]
    rows = []
    for v in results.variants:
        rows.append([variant_label(v), ", ".join(f"{r.sparsity:.1%}" for r in v.rows),
                     ", ".join(steps_text(r.levels[p], r.budget) for r in v.rows),
                     ", ".join(fmt(r.final_risk) for r in v.rows),
                     ", ".join(fmt(r.cvar_05) for r in v.rows),
                     ", ".join(fmt_diff(d) for d in v.cvar_05_vs_one_shot),
                     test_text(v.speedup_vs_one_shot),
                     ", ".join(fmt(r.overlap_with_one_shot) for r in v.rows)])
    return table(header, rows)


def imp_conclusions(imp: Imp) -> list[str]:
    if not imp.variants:
        return ["IMP was not run (pilot.imp_seeds = 0)."]
    n = len(imp.seeds)
    lines = [f"Exploratory, {n} seed{'s' if n > 1 else ''}: at {imp.sparsity:.0%}, LR "
             f"{imp.learning_rate:g}, each variant against the one-shot ticket from θ0 "
             "(test CVaR 5 % paired on the same paths; speed-up at the primary endpoint)."]
    for v in imp.variants:
        if (v.method, v.rewind_epoch) == ("one-shot", 0):
            continue
        diffs = "; ".join(fmt_diff(d) for d in v.cvar_05_vs_one_shot)
        lines.append(f"{variant_label(v)}: Δ CVaR {diffs}; speed-up "
                     f"{test_text(v.speedup_vs_one_shot)}; mask overlap "
                     + ", ".join(fmt(r.overlap_with_one_shot) for r in v.rows) + ".")
    return lines


def characterization_conclusions(structure: MaskStructure, hedge: Hedge, weights: Weights,
                                 imp: Imp) -> dict[str, list[str]]:
    """Notebook 03's exploratory findings on the tickets themselves, by section, every
    number read from its results."""
    sparsity = weights.levels[0].sparsity
    return {"Mask structure (exploratory, registered masks)": structure_conclusions(structure),
            "Input features (exploratory, layer-wise masks)": inputs_conclusions(structure),
            "The hedge (exploratory, notebook 02's tickets)": hedge_conclusions(hedge),
            "Weights (exploratory)": weights_conclusions(weights, sparsity),
            "One-shot vs iterative pruning (exploratory)": imp_conclusions(imp)}
