"""Tables and sentences of notebooks 02 and 03, computed from their results (nothing typed
in by hand): the speed measures of ``speed`` and the tests of ``metrics``.

Every verdict sentence reads an interval or a (Holm-adjusted) p-value from the results; a
null result states the largest speed-up its interval leaves open.
"""

from __future__ import annotations

import math

import pandas as pd

from ..foundations.config import Config
from ..measures.metrics import LogRatioTest
from ..measures.speed import References
from ..studies import search
from ..studies.structure import Hedge, Imp, MaskStructure, Variant, Weights
from .tables import (
    fmt,
    fmt_diff,
    fmt_interval,
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


# ----------------------------------------------------------------------------- the search


def search_rule_lines(config: Config) -> list[str]:
    """The search's rule as the config fixes it before it runs (``search``)."""
    s = config.search
    space = search.space(config)
    margin = config.search.match_margin
    rounds = " → ".join(str(n) for n in s.seeds)
    return [f"Space: constructions {', '.join(s.constructions)}; θ* LR {_list(s.mask_lrs)}; "
            f"retraining LR {_list(s.learning_rates)}; warmup {', '.join(s.warmups)} "
            f"({s.warmup_steps} steps, from 0 or from θ*'s rate); after it "
            f"{', '.join(s.decays)}; sparsity {', '.join(f'{x:.0%}' for x in s.sparsities)}; "
            f"width ×{s.widths[0]:g} — {len(space)} cells (a warmup from θ*'s rate only where "
            "that rate is below the retraining rate)"
            + (f"; the last round's survivors also at width ×{_list(s.widths[1:], ', ×')} "
               "on the seeds of the round before." if len(s.widths) > 1 else "."),
            f"First round: {min(s.cells, len(space))} cells drawn uniformly without "
            f"replacement (seed {s.sample_seed}); seeds per round {rounds} (the search's own, "
            f"from {s.first_seed}); after each round the best {s.keep:.0%} of the cells (at "
            "least one) go on.",
            f"Score: the ticket's mean log speed-up over the dense network from θ0 on its own "
            f"schedule at {s.endpoint} (first crossing; a level never reached counts at the "
            f"budget), among cells whose ticket matches it (mean test risk − the dense "
            f"network's within {_margin(margin)}). "
            f"The dense network's own schedules are searched the same way, against the dense "
            f"network at LR {config.training.learning_rate:g}, constant.",
            f"Reported beside it: the settling step (the level held {s.settle_hold} steps) and "
            "Frankle & Carbin's early-stopping step (the best validation risk, where it "
            "matches R_d). Exploratory: a search's winner is biased upward; only a "
            "registration and fresh seeds confirm it."]


def _margin(margin: float | None) -> str:
    return f"the registered margin {fmt(margin, 4)}" if margin else "twice the reference SD"


def _list(values, sep: str = ", ") -> str:
    return sep.join(f"{v:g}" for v in values)


def _speedup(t: LogRatioTest) -> str:
    """A speed-up with its interval (where neither side reaches the level, that)."""
    if t.censored_reference == t.censored_other == t.n:
        return f"neither, {t.n}/{t.n}"
    if not math.isfinite(t.ci[0]):
        return f"{t.speedup:.2f}×"
    return f"{t.speedup:.2f}× [{t.ci[0]:.2f}, {t.ci[1]:.2f}]"


def _test(t: LogRatioTest) -> str:
    """``test_text`` with the seeds each side never reached the level on, or — neither side
    reaching it on any seed — that."""
    if t.censored_reference == t.censored_other == t.n:
        return f"neither reaches it on any of {t.n} seeds (censored at the budget)"
    missed = [f"{who} on {k} of {t.n}" for who, k in (("the ticket", t.censored_other),
                                                      ("its rival", t.censored_reference)) if k]
    flags = f" (never reached by {' and '.join(missed)} seeds: those ratios are bounds)" \
        if missed else ""
    return test_text(t) + flags


def search_table(scored: list[search.Scored], endpoint: str) -> pd.DataFrame:
    """Every cell after its last round: its seeds, its cost (network-epochs at width 1, θ*
    aside), the speed-up at the endpoint (geometric mean, Student-t interval) with the seeds
    on which the ticket / its rival never reach the level (censored: a ratio is then a bound),
    at settling and at early stopping, Δ test risk and the score."""
    header = ["cell", "round", "seeds", "cost", f"speed-up at {endpoint}", "never (t/r)",
              "settling", "early stopping", "Δ test risk", "matches", "score"]
    rows = [[x.point.label(), str(x.round + 1), str(len(x.seeds)), f"{x.network_epochs:.0f}",
             _speedup(x.paired.endpoint),
             f"{x.paired.endpoint.censored_other}/{x.paired.endpoint.censored_reference}",
             _speedup(x.settle), _speedup(x.early_stop), fmt_interval(x.paired.test_risk),
             yes(x.matches), "—" if x.score is None else f"{x.score:+.2f}"]
            for x in sorted(scored, key=lambda x: (-x.round, math.inf if x.score is None
                                                   else -x.score))]
    return table(header, rows)


def search_lines(found: search.Search) -> list[str]:
    """What the search found, read off its results."""
    e, n = found.endpoint, len(found.seeds)
    width = found.rule["widths"][0]
    sampled = [x for x in found.tickets if x.point.width == width]
    last = [x for x in sampled if x.round == len(found.rule["seeds"]) - 1]
    cost = sum(x.network_epochs for x in found.tickets) + sum(
        x.network_epochs for x in found.dense)
    lines = [f"Exploratory: {len(sampled)} cells on {found.rule['seeds'][0]} seeds, "
             f"{sum(x.round >= 1 for x in sampled)} promoted, {len(last)} on all {n}; "
             f"{cost:,.0f} network-epochs at width ×{width:g} (the θ*s aside)."]
    failed = e in found.floor_reached
    lines.append(f"Floor controls (classical hedges frozen, only y trains, on every searched "
                 f"schedule): they reach {', '.join(found.floor_reached) or 'no level'}; the "
                 f"score's endpoint {e} {'fails' if failed else 'passes'} its floor control.")
    by_label = {x.point.label(): x for x in found.tickets}
    for label in found.survivors:
        x = by_label[label]
        lines.append(f"Survivor: {label}: ticket vs dense at {e} {_test(x.paired.endpoint)}; "
                     f"settling (level held {found.rule['settle_hold']} steps) "
                     f"{_test(x.settle)}; early stopping {_test(x.early_stop)}; test risk − "
                     f"dense {fmt_interval(x.paired.test_risk)}.")
        if label in found.fresh:
            f = found.fresh[label]
            lines.append(f"On the {f.endpoint.n} seeds that did not select it: "
                         f"{_test(f.endpoint)}; test risk − dense {fmt_interval(f.test_risk)}.")
        for name, c in found.rivals.get(label, {}).items():
            rival = found.best_dense if name == "best dense" else found.reference
            which = "at its best schedule" if name == "best dense" else "of the yardstick"
            verdict = ("within" if c.test_risk.ci[1] <= found.margin else "not within")
            lines.append(f"Against the dense network {which} ({rival.removeprefix('dense: ')}), "
                         f"same seeds: {_test(c.endpoint)}; test risk − it "
                         f"{fmt_interval(c.test_risk)}, upper bound {verdict} the margin "
                         f"{fmt(found.margin, 4)}.")
        for y in found.tickets:  # the capacity check: the survivor at a further width
            if y.point.width != width and y.point.label().startswith(label):
                lines.append(f"The survivor at width ×{y.point.width:g} ({len(y.seeds)} seeds): "
                             f"ticket vs dense at {e} {_test(y.paired.endpoint)}; test risk − "
                             f"dense {fmt_interval(y.paired.test_risk)}.")
    if not found.survivors:
        lines.append("No cell's ticket matched its dense network in the last round: nothing "
                     "survives to be registered.")
    beats = [label for label in found.survivors
             if (c := found.rivals.get(label, {}).get("best dense")) is not None
             and c.endpoint.ci[0] > 1 and c.test_risk.ci[1] <= found.margin]
    if found.survivors:
        lines.append("Against the practitioner's rival (the dense network at its best "
                     "schedule), " + (f"{len(beats)} survivor(s) faster and matching: "
                                      f"{'; '.join(beats)}." if beats else
                                      "no survivor is both faster (interval above 1) and "
                                      "matching: the search proposes no boosting ticket."))
    dense = {x.point.label(): x for x in found.dense}
    if found.best_dense is not None:
        d = dense[found.best_dense]
        lines.append(f"The dense network's best schedule (the practitioner's rival): "
                     f"{found.best_dense.removeprefix('dense: ')}, against "
                     f"{found.reference.removeprefix('dense: ')} {_test(d.paired.endpoint)}.")
    return lines
