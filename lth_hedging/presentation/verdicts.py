"""The answer of notebook 03's confirmatory study, as tables and sentences computed from its
results (``confirmation.Study``) and from the pilot that chose its design (``registration``):
nothing typed in by hand. Every verdict reads an interval or a Holm-adjusted p-value; a null
states the largest speed-up its interval leaves open and the smallest its power could see.
"""

from __future__ import annotations

import math

import pandas as pd

from ..measures.speed import ENDPOINTS, References
from ..studies.confirmation import DENSE_KINDS, Comparison, Study, StudyCell
from ..studies.registration import (
    SearchChoice,
    candidate_values,
    registered_design,
    seeds_needed_exact,
)
from ..studies.sensitivity import CrossingCell, Crossings, Replay, Scope, Steadiness
from ..studies.structure import MaskStructure
from ..studies.tickets import KIND_LABELS
from .speed_text import FLOOR_LABELS, p_text, steps_text, test_text, times
from .tables import fmt, fmt_interval, table


def cell_label(cell: StudyCell | CrossingCell) -> str:
    how = f"warmup {cell.warmup_steps}" if cell.schedule == "warmup" else "constant"
    return f"{cell.sparsity:.0%}, {how}"


def references_line(study: Study) -> str:
    refs, m = study.references, study.margin
    floor = "Black–Scholes delta" if refs.floor_name == "bs_delta" else "no hedge"
    best = registered_design(study.registration).rival_lr is not None
    which = "dense networks at their best schedule" if best else "constant-rate dense networks"
    rival = ", the rival's its own" if best else ""
    return (f"{status(study)}: R_d = {fmt(refs.dense)} (median of {refs.n_dense} {which}), "
            f"R_BS = {fmt(refs.floor)} ({floor}); budget {study.budget} steps{rival}; "
            f"matching margin {fmt(m.margin, 4)} in test risk ({m.source}; the dense "
            f"networks' SD here {fmt(m.dense_sd, 4)})")


def networks_table(study: Study) -> pd.DataFrame:
    """Every kind in every cell over seeds: reached/n and median steps at each level (censored
    runs at the budget), mean AUC and test risk with Student-t intervals."""
    header = ["cell", "network", *ENDPOINTS, "AUC", "test risk"]
    rows = []
    for cell in study.cells:
        for who, s in cell.networks.items():
            rows.append([cell_label(cell), KIND_LABELS[who],
                         *(f"{s.levels[e].reached}/{s.n}: {s.levels[e].median:.0f}"
                           for e in ENDPOINTS),
                         fmt_interval(s.auc), fmt_interval(s.test_risk)])
    return table(header, rows, index=2)


def comparisons_table(study: Study) -> pd.DataFrame:
    """The ticket against each comparator, paired per seed, at the registered endpoint."""
    e = study.endpoint
    header = ["fam.", "cell", "ticket vs", f"speed-up at {e} [95% CI]", "Holm p",
              "80% power at (post hoc)", "Δ test risk [95% CI]", f"verdict ({status(study)})"]
    rows = []
    for family in study.families:
        for cell in study.cells:
            for who, c in cell.comparisons.items():
                if c.family != family:
                    continue
                rows.append([family, cell_label(cell), KIND_LABELS[who], speed_text(c),
                             p_text(c.p_holm) if c.tested else "no test",
                             times(c.detectable) if c.tested else "",
                             fmt_interval(c.test_risk), c.verdict])
    return table(header, rows, index=3)


def floor_line(study: Study) -> str:
    """What the floor controls (classical hedges frozen, only y free: the same under every
    schedule, the first one shown) reach."""
    e, failed = study.endpoint, study.floor_reached
    levels = [x for x in ENDPOINTS if x in failed]
    first = next(iter(study.floors.values()))
    reached = "; ".join(f"{FLOOR_LABELS[name]} {steps_text(f.levels[e], f.budget)} steps"
                        for name, f in first.items())
    status = "fails" if e in failed else "passes"
    return (f"Floor controls at {e}: {reached}; they reach "
            + (", ".join(levels) if levels else "no level")
            + f". The registered endpoint {e} {status} its floor control.")


def speed_text(c: Comparison) -> str:
    """A comparison's speed-up with its interval, or — where one side never reaches the
    level (an outcome) — how many seeds reached it on each side, never a ratio."""
    t, reach = c.endpoint, c.reach
    if t.censored_reference == t.n or t.censored_other == t.n:
        return f"reached {reach.reached}/{reach.n} vs {reach.other_reached}/{reach.n}"
    if not math.isfinite(t.ci[0]):
        return f"{t.speedup:.2f}× (no spread)"
    return f"{t.speedup:.2f}× [{t.ci[0]:.2f}, {t.ci[1]:.2f}]"


def comparison_words(c: Comparison) -> str:
    """One comparison as the summary states it: the speed-up, its Holm p and verdict, or the
    outcome with its reach counts and sign test."""
    if c.tested:
        return f"{speed_text(c)}, Holm p {p_text(c.p_holm)} → {c.verdict}"
    return (f"{c.verdict} ({speed_text(c)} seeds; sign test p {p_text(c.reach.p)}; an "
            "outcome, outside Holm)")


def boost_words(c: Comparison) -> str:
    """What one comparison shows: the speed-up it shows, or the largest it leaves open."""
    t = c.endpoint
    if c.verdict == "faster":
        return f"a speed-up of at least {t.ci[0]:.2f}× shown"
    if c.verdict == "slower":
        return f"at most {t.ci[1]:.2f}×"
    if not math.isfinite(t.upper):
        return "no interval"
    return (f"boosts above {t.upper:.2f}× excluded; 80 % power only for "
            f"≥ {times(c.detectable)}")


def status(study: Study) -> str:
    """What the run is: "confirmatory (registration N)", or exploratory where a key differs
    from the registered file (``registration.departures``) or the study was not checked."""
    n = registered_design(study.registration).number
    if study.departures is None:  # a study computed without the check
        return f"not checked against registration {n}: exploratory"
    if study.departures:
        return f"departs from registration {n}: exploratory"
    return f"confirmatory (registration {n}, as registered)"


def conclusions(study: Study) -> list[str]:
    """The study's answer, cell by cell and overall, under its status (``status``)."""
    r, e, n = registered_design(study.registration), study.endpoint, len(study.seeds)
    fam = study.families
    how = (f"with and without a {r.warmup_steps}-step warmup" if len(r.schedules) == 2 else
           f"with a {r.warmup_steps}-step warmup from {r.mask_lr:g}"
           if r.schedules == ("warmup",) else "at the constant rate")
    rival = (f"; rivals: the dense network from θ0 on the ticket's schedule and the dense "
             f"network at its best schedule (constant {r.rival_lr:g})"
             if r.rival_lr is not None else "")
    head = status(study)
    lines = [f"{head[0].upper()}{head[1:]}: design on {n} fresh seeds "
             f"({study.seeds[0]}–{study.seeds[-1]}): mask from θ* at LR {r.mask_lr:g}, "
             f"ranked {r.scope}, retrained at {r.learning_rate:g} on a fresh data order, "
             f"{how}{rival}; endpoint {e} (the first crossing of its level); Holm within family "
             f"A ({fam['A'].size} of {fam['A'].members} comparisons in the family) and family "
             f"B ({fam['B'].size} of {fam['B'].members}) at α = {r.alpha:g}; outcomes (one "
             "side never reaches the level) are not tests.", floor_line(study)]
    if study.departures:
        shown = study.departures[:6] + ([f"and {len(study.departures) - 6} more"]
                                        if len(study.departures) > 6 else [])
        lines.insert(1, "Departures from the registration: " + "; ".join(shown)
                     + ". No verdict below is confirmatory.")
    boosting: dict[str, list[str]] = {"dense": [], "best_dense": []}
    excluded: dict[str, list[float]] = {"dense": [], "best_dense": []}
    detectable = []
    for cell in study.cells:
        v = cell.verdict
        rivals = [k for k in ("dense", "best_dense") if k in cell.comparisons]
        parts = [f"vs {KIND_LABELS[k]} {comparison_words(cell.comparisons[k])} "
                 f"({boost_words(cell.comparisons[k])})" for k in rivals]
        parts += [f"vs {KIND_LABELS[k]} {comparison_words(c)}"
                  for k, c in cell.comparisons.items() if k not in rivals]
        matched = {"dense": v.matches_dense, "best_dense": v.matches_best_dense}
        match = "; ".join(f"test risk ticket − {KIND_LABELS[k]} "
                          f"{fmt_interval(cell.comparisons[k].test_risk, 4)}: "
                          f"{'matches' if matched[k] else 'does not match'}" for k in rivals)
        lines.append(f"{cell_label(cell)}: {'; '.join(parts)}. {match}.")
        for k in rivals:
            d = cell.comparisons[k]
            if (v.boosting if k == "dense" else v.boosting_best_dense):
                boosting[k].append(cell_label(cell))
            elif d.tested and math.isfinite(d.endpoint.upper):
                excluded[k].append(d.endpoint.upper)
            if d.tested:
                detectable.append(d.detectable)
    for k, cells in boosting.items():
        present = [c for c in study.cells if k in c.comparisons]
        if not present:
            continue
        if cells:
            lines.append(f"Boosting ticket against the {KIND_LABELS[k]} (faster after Holm, "
                         f"matching it, endpoint past its floor control): at {', '.join(cells)}.")
        else:
            lines.append(f"No boosting ticket against the {KIND_LABELS[k]}: the ticket is not "
                         "both significantly faster and matching in any cell"
                         + (f"; every interval excludes speed-ups above "
                            f"{max(excluded[k]):.2f}×"
                            if excluded[k] and len(excluded[k]) == len(present) else "") + ".")
    if detectable:
        lines.append(f"Post hoc, from the spread observed here, family A had 80 % power for "
                     f"{times(min(detectable))}–{times(max(detectable))} (registered: "
                     f"{r.boost:g}× as the speed-up worth detecting).")
    tested = [c for c in study.cells if any(k not in DENSE_KINDS for k in c.comparisons)]
    beats = [cell_label(c) for c in tested if c.verdict.beats_controls
             and all(x.tested for k, x in c.comparisons.items() if k not in DENSE_KINDS)]
    outcome = [cell_label(c) for c in tested if c.verdict.beats_controls
               and cell_label(c) not in beats]
    lines.append(f"More than its density (faster than every control after Holm, family B): in "
                 f"{len(beats)} of {len(tested)} cells" + (f" ({'; '.join(beats)})" if beats
                                                           else "")
                 + (f"; at {'; '.join(outcome)} faster than or the only one to reach the level "
                    "against every control, partly as outcomes, not tests" if outcome else "")
                 + ".")
    return lines


def pooled_table(analysis: dict, boost: float, power: float) -> pd.DataFrame:
    """Registration 1's candidates: eligible (every floor control fails it in every cell, and
    the ticket and the dense network reach it on every seed in the cells at the first
    sparsity), the SD of ticket vs dense pooled over the condition's cells at that sparsity
    and its 80 % upper bound, the seeds each needs (central-t approximation), and the
    choice."""
    header = ["endpoint", "eligible", "SD (pooled)", "SD 80% UCB", "seeds", "seeds at UCB",
              "seeds at UCB (exact t)", "chosen"]
    level = analysis["holm_level"]
    rows = [[x["endpoint"], "yes" if x["eligible"] else "no", f"{x['sd']:.3f}",
             f"{x['sd_upper']:.3f}", str(x["seeds"] or "> 1000"),
             str(x["seeds_at_sd_upper"] or "> 1000"),
             str(seeds_needed_exact(x["sd_upper"], boost, level, power) or "> 1000"),
             "◀" if x["endpoint"] == analysis["chosen"] else ""] for x in analysis["pooled"]]
    return table(header, rows)


def evidence_caption(number: int, evidence: dict, boost: float, power: float) -> str:
    """What registration ``number`` was chosen from, and what the choice gives."""
    if number == 1:
        a = evidence["analysis"]
        return (f"pilot (seeds {evidence['seeds']}): eligible where every floor control fails "
                f"the level in every cell and the ticket and the dense network reach it on "
                f"every seed in {', '.join(a['matching_cells'])} (slower controls may not: "
                f"outcomes); the SD of ticket vs dense pooled over the {len(a['pooled_over'])} "
                f"cells {', '.join(a['pooled_over'])} (Holm level {a['holm_level']:.4f}):")
    c = SearchChoice.from_json(evidence["analysis"])
    chosen = (f"chosen {c.chosen}: SD {c.sd:.3f}, its {c.upper_confidence:.0%} upper bound "
              f"{c.sd_upper:.3f} (Bonferroni over the {c.k} eligible levels); at that bound "
              f"{c.seeds_for_boost} seeds give {power:.0%} power for {boost:g}× at Holm level "
              f"{c.holm_level:g}; the registered seeds give it for {times(c.detectable_at_n)} "
              f"(exact power for {boost:g}×: {c.power_at_n:.0%})" if c.chosen else
              "no level is eligible")
    closes = ", ".join(f"{100 * v:.0f} %" for v in c.floor_closes.values())
    return (f"search evidence: {evidence['survivor']} on the search's {c.n} seeds, against "
            f"the dense network on its schedule and the best dense ({evidence['best_dense']}); "
            f"R_d from the best dense networks; the floor controls close {closes} of the gap; "
            f"{chosen}; margin 2 × the best dense networks' test-risk SD = {c.margin:.4f}:")


def evidence_table(number: int, evidence: dict, boost: float, power: float) -> pd.DataFrame:
    """Registration 1: the pilot's pooled candidates (``pooled_table``); registration 2: per
    level of the search's survivor, whether it clears the floors, who reaches it, the mean
    speed-up and SD of the log ratio against each dense network, and the choice."""
    if number == 1:
        return pooled_table(evidence["analysis"], boost, power)
    c = SearchChoice.from_json(evidence["analysis"])
    header = ["endpoint", "clears floors", "reached: ticket / dense / best dense",
              "vs best dense: speed-up, SD", "vs dense: speed-up, SD", "eligible", "chosen"]
    rows = [[x.endpoint, "yes" if x.floor_clear else "no",
             " / ".join(f"{x.reached[k]}/{c.n}" for k in ("ticket", "dense", "best_dense")),
             f"{math.exp(x.mean_best):.2f}×, {x.sd_best:.3f}",
             f"{math.exp(x.mean_dense):.2f}×, {x.sd_dense:.3f}",
             "yes" if x.eligible else "no", "◀" if x.endpoint == c.chosen else ""]
            for x in c.rows]
    return table(header, rows)


def replay_lines(replay: Replay) -> list[str]:
    """Exploratory: the ticket's speed-up over dense on the replay and the fresh order, and
    what replaying θ*'s data order does to each network."""
    n, e = len(replay.seeds), replay.endpoint
    vs, own = replay.ticket_vs_dense, replay.replay_speedup
    return [f"Exploratory, {n} seeds, {replay.sparsity:.0%} with warmup: ticket vs dense at "
            f"{e} on θ*'s own data order {test_text(vs['replay'].endpoint)}, on a fresh order "
            f"{test_text(vs['fresh'].endpoint)}.",
            f"Replaying the order (fresh / replay, > 1: the replay is quicker; 8 seeds, "
            f"inconclusive where the interval spans 1): ticket "
            f"{test_text(own['ticket'].endpoint)}, dense "
            f"{test_text(own['dense'].endpoint)}; test risk of the ticket on the replay − "
            f"on the fresh order {fmt_interval(own['ticket'].test_risk, 4)}."]


RANKED = {"global": "globally", "layer": "per layer"}


def scope_lines(scope: Scope) -> list[str]:
    """Exploratory: the ticket ranked the other way against the dense network and the
    registered ticket."""
    e, ranked = scope.endpoint, RANKED[scope.scope]
    dense, registered = scope.vs_dense, scope.vs_registered
    return [f"Exploratory and post hoc (asked after the confirmatory result), "
            f"{len(scope.seeds)} seeds, {scope.sparsity:.0%} with warmup: "
            f"the ticket with its mask ranked {ranked} "
            f"({fmt_interval(scope.dead_units, 1)} dead units) against the dense network at "
            f"{e}: {test_text(dense.endpoint)}; against the ticket ranked "
            f"{RANKED[scope.registered_scope]}: {test_text(registered.endpoint)}; test "
            f"risk − the dense network's {fmt_interval(dense.test_risk, 4)} (no Holm: "
            "exploratory)."]


def crossing_lines(crossings: Crossings) -> list[str]:
    """Exploratory and post hoc: first crossing against staying below the level."""
    e, n = crossings.endpoint, crossings.n
    lines = [f"Exploratory and post hoc: {e} times a curve's first crossing of its level; the "
             f"step from which it stays below the level is timed beside it (a frozen hedge never "
             f"crosses). Of {n} curves per arm:"]
    for cell in crossings.cells:
        back, stayed = cell.crossed_back, cell.stayed
        lines.append(f"{cell_label(cell)}: crossed back above the level after the first "
                     f"crossing — ticket {back['ticket']}, dense {back['dense']}; stayed below "
                     f"by the budget — ticket {stayed['ticket']}, dense {stayed['dense']}; "
                     f"speed-up to staying below {test_text(cell.stay)}; AUC ticket − dense "
                     f"(registered, secondary) {fmt_interval(cell.auc)}.")
    return lines


def steadiness_table(steady: Steadiness) -> pd.DataFrame:
    header = ["network", "late swing (SD of val risk)", "final val risk"]
    rows = [[name, fmt_interval(v.late_swing, 4), fmt_interval(v.final_risk, 4)]
            for name, v in steady.networks.items()]
    return table(header, rows)


def steadiness_lines(steady: Steadiness) -> list[str]:
    lines = [f"Exploratory, {len(steady.seeds)} seeds, {steady.sparsity:.0%}: the swing is "
             "the SD of a curve's evaluations over the second half of its budget (budgets of "
             "equal steps × LR: "
             + ", ".join(f"{name}: {b} steps" for name, b in steady.budgets.items()
                         if name.startswith("θ*")) + "). It describes noise, not learning: a "
             "frozen hedge's swing is 0."]
    for name, d in steady.differences.items():
        lines.append(f"{name}: swing {fmt_interval(d.late_swing, 4)}, final risk "
                     f"{fmt_interval(d.final_risk, 4)} (paired over seeds).")
    return lines


SCOPES = ("global", "layer")


def collapse_table(collapse: dict[str, MaskStructure]) -> pd.DataFrame:
    """Global against layer-wise ranking: per level, what each layer keeps, the effective
    sparsity and the dead units per hidden layer (mean over seeds)."""
    first = collapse["global"]
    names = list(first.layer_sizes)
    header = ["sparsity", "ranking", *(f"keeps {n.split('.')[1]}" for n in names),
              "effective", *(f"dead h{i + 1}/{w}" for i, w in enumerate(first.hidden))]
    rows = []
    for levels in zip(*(collapse[s].levels for s in SCOPES)):
        for scope, level in zip(SCOPES, levels):
            rows.append([f"{level.sparsity:.0%}", scope,
                         *(f"{100 * level.layer_density[n].mean:.2f}%" for n in names),
                         f"{100 * level.effective_sparsity.mean:.1f}%",
                         *(f"{d.mean:.1f}" for d in level.dead_by_layer)])
    return table(header, rows, index=2)


def collapse_lines(collapse: dict[str, MaskStructure], pilot: dict | None) -> list[str]:
    """Where a global ranking empties a layer, and what the pilot's 98 % arm learned."""
    g, lay = (collapse[s].levels[-1] for s in SCOPES)
    first = collapse["global"]
    sizes = first.layer_sizes
    thinnest = min(sizes, key=lambda n: g.layer_density[n].mean)
    kept = g.layer_density[thinnest].mean * sizes[thinnest]
    lines = [f"Exploratory, θ* of {len(first.seeds)} registered seeds: at "
             f"{g.sparsity:.0%} a global ranking keeps {kept:.1f} of the "
             f"{sizes[thinnest]} weights of {thinnest} (effective sparsity "
             f"{100 * g.effective_sparsity.mean:.1f}%, {g.dead_units.mean:.0f} dead "
             f"units); ranked per layer, {100 * lay.effective_sparsity.mean:.1f}% and "
             f"{lay.dead_units.mean:.0f}."]
    if pilot is not None:
        for key, study in pilot["studies"].items():
            if key.endswith("98%"):
                refs = References(**study["references"])
                reached = {k: sum(candidate_values(c, refs, study["budget"], study["window"])
                                  ["T60"] is not None for c in v)
                           for k, v in study["networks"].items()}
                lines.append(f"The pilot's {key} arm (global masks): networks that close 60 % "
                             "of the gap within the budget — "
                             + ", ".join(f"{KIND_LABELS[k]} {n}/{len(study['networks'][k])}"
                                         for k, n in reached.items())
                             + ": with a layer emptied, every arm dies together and nothing "
                               "is tested.")
    return lines

