"""The experiments of notebook 03, as results (plain dicts, JSON-ready): is the ticket more
than a sparse network of the same density, does it converge faster, and what is it made of.

- ``controls_over_seeds`` (confirmatory): at every ``characterization`` width × learning rate
  × sparsity, over ``n_seeds`` seeds (each drawing θ0 and the data order), the ticket beside
  its comparators — the dense network from θ0 at the same rate (which is also the θ* that
  made the mask: mask LR = retraining LR), random re-init, random mask (plain or rescaled),
  a small dense network with as many weights as the ticket keeps. Paired per seed; speed-ups
  as log ratios of steps-to-reach with censoring; Holm over the confirmatory family (width 1,
  every rate × sparsity × comparator, at the primary endpoint).
- Exploratory (labelled so): ``mask_structure``, ``weight_geometry``, ``hedge_vs_sparsity``,
  ``one_shot_vs_imp`` — at the first confirmatory rate.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import torch

from .anatomy import (
    complement,
    input_importance,
    is_nested,
    jaccard,
    kept_magnitude,
    random_jaccard,
    sign_agreement,
    weight_distance,
)
from .config import Config
from .experiment import (
    deep_hedge_positions,
    hedge_ratio_slices,
    load_model,
    open_store,
    reference_positions,
)
from .losses import compute_pnl
from .lottery import (
    Judge,
    dense_runs,
    floor_reached,
    floor_rows,
    references,
    study_margin,
    study_seeds,
)
from .metrics import (
    detectable_speedup,
    holm,
    log_ratio_test,
    paired_difference,
    paired_over_seeds,
    seed_interval,
)
from .pruning import magnitude_mask, prunable_names, sparsity_report
from .speed import ENDPOINTS, censored
from .store import Store
from .tickets import KINDS, Cell, imp_cell, one_shot_mask, reinit_state, run_cells

ALPHA = 0.05  # family-wise error rate of the confirmatory family


def study_rate(config: Config) -> float:
    """The rate of the exploratory sections: the first confirmatory learning rate."""
    return config.characterization.learning_rates[0]


def widened(config: Config, factor: float) -> Config:
    """``config`` with every hidden width times ``factor`` (the capacity arm)."""
    if factor == 1.0:
        return config
    hidden = tuple(max(1, round(h * factor)) for h in config.model.hidden)
    return dataclasses.replace(config, model=dataclasses.replace(config.model, hidden=hidden))


def _n_weights(config: Config, hidden: tuple[int, ...]) -> int:
    n_in = 3 + int(config.hedging.cost > 0)
    widths = [n_in, *hidden, 1]
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def small_dense_config(config: Config, sparsity: float) -> Config:
    """The dense network with (about) as many weights as the ticket at ``sparsity`` keeps:
    every hidden width scaled by one factor, found by bisection (the closer of the two
    integer-width neighbours)."""
    target = (1 - sparsity) * _n_weights(config, config.model.hidden)

    def count(factor: float) -> int:
        return _n_weights(config, widened(config, factor).model.hidden)

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    best = min((lo, hi), key=lambda f: abs(count(f) - target)) if lo > 0 else hi
    return widened(config, best)


def _summary(rows: list[dict], confidence: float) -> dict:
    """Per network kind over seeds: reached/total and median steps (censored at the budget)
    per endpoint, mean AUC / final risk / test CVaR with Student-t intervals."""
    out = {"n": len(rows), "matches": sum(r["matches"] for r in rows)}
    for name in ENDPOINTS:
        steps = [censored(r[name], r["budget"])[0] for r in rows]
        out[name] = {"reached": sum(r[name] is not None for r in rows),
                     "median": float(torch.tensor(steps, dtype=torch.float64).median())}
    for key in ("auc", "final_risk", "cvar_05"):
        out[key] = seed_interval([r[key] for r in rows], confidence)
    return out


def compare(ticket: list[dict], other: list[dict], confidence: float) -> dict:
    """Ticket vs one comparator, paired per seed: the ticket's speed-up T_other / T_ticket at
    every endpoint (log-ratio t-test, censored at the budget), and ticket − other for AUC,
    final validation risk and test CVaR 5 % (paired t over seeds)."""
    out = {name: log_ratio_test([censored(o[name], o["budget"]) for o in other],
                                [censored(t[name], t["budget"]) for t in ticket], confidence)
           for name in ENDPOINTS}
    for key, name in (("auc", "AUC"), ("final_risk", "final_risk"), ("cvar_05", "test_cvar")):
        out[name] = paired_over_seeds([t[key] for t in ticket], [o[key] for o in other],
                                      confidence)
    return out


def faster(comparison: dict, endpoint: str, p: float, n: int) -> str:
    """'faster' / 'slower' when the endpoint's test rejects at ``ALPHA`` (p adjusted or not),
    else 'indistinguishable'; at a T endpoint, 'neither reaches' / 'never reaches' /
    'only the ticket reaches' where every run on a side is censored (then the ratios only
    bound the speed-up by the budget: a difference of quality more than of speed)."""
    c = comparison[endpoint]
    if endpoint in ENDPOINTS:
        other_out, ticket_out = c["censored_reference"] == n, c["censored_other"] == n
        if other_out or ticket_out:
            return {(True, True): "neither reaches", (False, True): "never reaches",
                    (True, False): "only the ticket reaches"}[(other_out, ticket_out)]
    if not p < ALPHA:
        return "indistinguishable"
    better = c["speedup"] > 1 if endpoint in ENDPOINTS else c["mean"] < 0
    return "faster" if better else "slower"


def controls_over_seeds(config: Config, store: Store | None = None) -> dict:
    """The controlled study (see the module doc); one entry per width × rate × sparsity."""
    store = store or open_store(config)
    ch, confidence = config.characterization, config.metrics.confidence
    seeds, margin = study_seeds(config), study_margin(config, store)
    kinds = ["ticket", *[c for c in ch.comparators if c in KINDS]]
    cells = []
    for width in ch.widths:
        wide = widened(config, width)
        for lr in ch.learning_rates:
            runs = dense_runs(wide, lr, seeds, store)
            judge = Judge(wide, store, references(wide, runs, margin["val_margin"]), lr,
                          margin["margin"])
            pairs = {seed: (run.folder.name, judge.dense_pnl(run))
                     for seed, run in zip(seeds, runs)}
            dense = [{"seed": seed, **judge.describe_dense(run)}
                     for seed, run in zip(seeds, runs)]
            floors = floor_rows(wide, judge, lr, store)
            failed = floor_reached(floors, [r["auc"] for r in dense])
            todo = [Cell(kind, s, lr, seed, lr) for s in ch.sparsities for kind in kinds
                    for seed in seeds]
            trained = dict(zip(todo, run_cells(wide, todo, store)))
            for s in ch.sparsities:
                rows = {kind: [{"seed": seed, **judge.describe_cell(
                    trained[Cell(kind, s, lr, seed, lr)], pairs[seed])} for seed in seeds]
                    for kind in kinds}
                rows["dense"] = dense
                if "small_dense" in ch.comparators:
                    small = small_dense_config(wide, s)
                    rows["small_dense"] = [
                        {"seed": seed, **judge.describe_dense(run, small, pairs[seed])}
                        for seed, run in zip(seeds, dense_runs(small, lr, seeds, store))]
                cells.append({
                    "width": width, "hidden": list(wide.model.hidden), "learning_rate": lr,
                    "sparsity": s, "confirmatory": width == 1.0,
                    "references": judge.refs.as_dict(), "budget": judge.budget,
                    "floors": floors, "floor_reached": failed, "rows": rows,
                    "networks": {who: _summary(r, confidence) for who, r in rows.items()},
                    "comparisons": {c: compare(rows["ticket"], rows[c], confidence)
                                    for c in ch.comparators}})
    n = len(seeds)
    family = [(cell, c) for cell in cells if cell["confirmatory"] for c in ch.comparators
              if testable(cell["comparisons"][c], ch.primary, n)]
    adjusted = holm([_p(cell["comparisons"][c][ch.primary]["p"]) for cell, c in family])
    for (cell, c), p in zip(family, adjusted):
        cell["comparisons"][c]["p_holm"] = p
    for cell in cells:
        for comparison in cell["comparisons"].values():
            p = comparison.get("p_holm", comparison[ch.primary]["p"])
            comparison["tested"] = "p_holm" in comparison
            comparison["verdict"] = faster(comparison, ch.primary, p, n)
            if ch.primary in ENDPOINTS:  # power: what the worst Holm level could detect
                comparison["detectable"] = detectable_speedup(
                    comparison[ch.primary]["sd"], len(seeds), ALPHA / max(len(family), 1))
        cell["verdict"] = _verdict(cell, ch.primary, margin["margin"])
    return {"seeds": seeds, "primary": ch.primary, "alpha": ALPHA, "confidence": confidence,
            "margin": margin, "comparators": list(ch.comparators),
            "family_size": len(family), "cells": cells}


def testable(comparison: dict, endpoint: str, n: int) -> bool:
    """A comparison is a test when neither side is censored on every seed: where one side
    never reaches the level, its ratio only bounds the speed-up by the budget — an outcome
    (reported as such), not a test, and kept out of Holm's family."""
    c = comparison[endpoint]
    return endpoint not in ENDPOINTS or (c["censored_reference"] < n and c["censored_other"] < n)


def _p(p: float) -> float:
    """An undefined p-value (no spread at all) enters Holm's family as 1: it rejects nothing."""
    return p if math.isfinite(p) else 1.0


def _verdict(cell: dict, primary: str, margin: float) -> dict:
    """A boosting ticket matches the dense network (test CVaR: ticket − dense over seeds,
    upper bound ≤ margin) and is faster than it at the primary endpoint — an endpoint that
    passed its floor control in this cell; it is more than its density when it is also
    faster than every random-mask / re-init comparator."""
    comparisons = cell["comparisons"]
    out = {"primary_passes_floor": primary not in cell["floor_reached"]}
    if "dense" in comparisons:
        hi = comparisons["dense"]["test_cvar"]["ci"][1]
        out["matches_dense"] = bool(math.isfinite(hi) and hi <= margin)
        out["boosting"] = (out["matches_dense"] and out["primary_passes_floor"]
                           and comparisons["dense"]["verdict"] == "faster")
    controls = [c for c in comparisons if c != "dense"]
    out["beats_controls"] = bool(controls) and out["primary_passes_floor"] and all(
        comparisons[c]["verdict"] in ("faster", "only the ticket reaches") for c in controls)
    return out


def _spread(values: list[float]) -> dict:
    """Mean and range over seeds: mask structure is described, not estimated."""
    return {"mean": sum(values) / len(values), "range": [min(values), max(values)],
            "n": len(values)}


def _kept(mask: dict) -> int:
    return sum(int(m.sum()) for m in mask.values())


def _dense_thetas(config: Config, learning_rate: float,
                  store: Store) -> dict[int, tuple[dict, dict]]:
    """(θ0, θ*) of every study seed at ``learning_rate``: the networks that make the masks."""
    seeds = study_seeds(config)
    return {seed: (run.theta0, run.theta_star)
            for seed, run in zip(seeds, dense_runs(config, learning_rate, seeds, store))}


def mask_structure(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """The one-shot masks of every seed's θ* (trained at ``learning_rate``) at every
    ``pruning.sparsities`` level: per-layer density, effective sparsity and dead units,
    nesting across levels, overlap between seeds against random masks of the same per-layer
    density. What each input of the first layer keeps is read from *layer-wise* masks: a
    global ranking of the 4-input first layer mostly reflects its larger init scale."""
    store = store or open_store(config)
    thetas = _dense_thetas(config, learning_rate, store)
    seeds, sparsities = list(thetas), sorted(config.pruning.sparsities)
    masks = {(seed, s): one_shot_mask(config, thetas[seed][1], s) for seed in seeds
             for s in sparsities}
    names = prunable_names(masks[(seeds[0], sparsities[0])])
    levels = []
    for s in sparsities:
        reports = [sparsity_report(masks[(seed, s)]) for seed in seeds]
        importance = [input_importance(magnitude_mask(thetas[seed][1], s, scope="layer",
                                                      output_rate=config.pruning.output_rate),
                                       thetas[seed][1]) for seed in seeds]
        pairs = list(itertools.combinations(seeds, 2))
        levels.append({
            "sparsity": s,
            "layer_density": {n: _spread([1 - r["layers"][n] for r in reports]) for n in names},
            "effective_sparsity": _spread([r["effective"] for r in reports]),
            "dead_units": _spread([r["dead_units"] for r in reports]),
            "overlap_between_seeds": _spread(
                [jaccard(masks[(a, s)], masks[(b, s)]) for a, b in pairs]),
            "random_overlap": sum(random_jaccard(masks[(seed, s)]) for seed in seeds)
            / len(seeds),
            "inputs": {name: {key: _spread([imp[name][key] for imp in importance])
                              for key in ("kept_fraction", "mass_share")}
                       for name in importance[0]}})
    nesting = []
    for low, high in zip(sparsities, sparsities[1:]):
        nesting.append({
            "from": low, "to": high,
            "nested_seeds": sum(is_nested(masks[(seed, high)], masks[(seed, low)])
                                for seed in seeds),
            "overlap": _spread([jaccard(masks[(seed, low)], masks[(seed, high)])
                                for seed in seeds]),
            "overlap_if_nested": _spread([_kept(masks[(seed, high)]) / _kept(masks[(seed, low)])
                                          for seed in seeds])})
    first = masks[(seeds[0], sparsities[0])]
    return {"seeds": seeds, "mask_lr": learning_rate, "exploratory": True,
            "scope": config.pruning.scope, "output_rate": config.pruning.output_rate,
            "inputs_scope": "layer", "layer_sizes": {n: first[n].numel() for n in names},
            "levels": levels, "nesting": nesting}


def weight_geometry(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """Where training takes the ticket, over the study seeds at every
    ``characterization.sparsities`` level (mask LR = retraining LR = ``learning_rate``).

    Distances are relative, over the kept weights: ‖a − θ*‖ / ‖θ*‖ for θ0 (the start), the
    trained ticket and the trained random re-init (the same mask from another start), and
    ‖ticket − θ0‖ / ‖θ0‖ (how far it moved). Sign agreement with θ* on the kept weights (θ0's
    on the pruned ones beside it) and the mean |w| the mask keeps relative to all weights.
    """
    store = store or open_store(config)
    thetas = _dense_thetas(config, learning_rate, store)
    confidence = config.metrics.confidence
    levels = []
    for s in config.characterization.sparsities:
        cells = [Cell(kind, s, learning_rate, seed, learning_rate) for seed in thetas
                 for kind in ("ticket", "reinit")]
        results = dict(zip(cells, run_cells(config, cells, store)))
        rows = []
        for seed, (theta0, theta_star) in thetas.items():
            ticket = results[Cell("ticket", s, learning_rate, seed, learning_rate)]
            reinit = results[Cell("reinit", s, learning_rate, seed, learning_rate)]
            mask, pruned = ticket.mask, complement(ticket.mask)
            rows.append({
                "seed": seed,
                "theta0_to_theta_star": weight_distance(theta0, theta_star, mask),
                "ticket_to_theta_star": weight_distance(ticket.state, theta_star, mask),
                "reinit_to_theta_star": weight_distance(reinit.state, theta_star, mask),
                "ticket_moved": weight_distance(ticket.state, theta0, mask),
                "reinit_moved": weight_distance(reinit.state, reinit_state(config, seed),
                                                mask),
                "ticket_sign_theta_star": sign_agreement(ticket.state, theta_star, mask),
                "reinit_sign_theta_star": sign_agreement(reinit.state, theta_star, mask),
                "theta0_sign_theta_star": sign_agreement(theta0, theta_star, mask),
                "theta0_sign_theta_star_pruned": sign_agreement(theta0, theta_star, pruned),
                "ticket_sign_theta0": sign_agreement(ticket.state, theta0, mask),
                "kept_magnitude_theta0": kept_magnitude(theta0, mask),
                "kept_magnitude_theta_star": kept_magnitude(theta_star, mask)})
        keys = [k for k in rows[0] if k != "seed"]
        levels.append({"sparsity": s, "per_seed": rows,
                       **{k: seed_interval([r[k] for r in rows], confidence) for k in keys}})
    return {"learning_rate": learning_rate, "seeds": list(thetas), "exploratory": True,
            "levels": levels}


def ticket_weights(config: Config, learning_rate: float, sparsity: float,
                   store: Store | None = None) -> dict[str, torch.Tensor]:
    """The kept weights of ``model.init_seed``'s ticket as flat vectors — θ0, θ*, trained —
    and θ0's pruned weights (for a scatter / histogram; not JSON)."""
    store = store or open_store(config)
    seed = config.model.init_seed
    dense = dense_runs(config, learning_rate, [seed], store)[0]
    cell = Cell("ticket", sparsity, learning_rate, seed, learning_rate)
    ticket = run_cells(config, [cell], store)[0]
    names = prunable_names(ticket.mask)

    def flat(state: dict, mask: dict) -> torch.Tensor:
        return torch.cat([state[n][mask[n]] for n in names])

    return {"theta0": flat(dense.theta0, ticket.mask),
            "theta_star": flat(dense.theta_star, ticket.mask),
            "trained": flat(ticket.state, ticket.mask),
            "theta0_pruned": flat(dense.theta0, complement(ticket.mask))}


def _rms(a: torch.Tensor, b: torch.Tensor) -> float:
    """RMS distance of two strategies' stock positions (shares; the first instrument)."""
    if a.dim() == 3:  # several instruments: (N, n_steps, I)
        a, b = a[..., 0], b[..., 0]
    return float((a.double() - b.double()).pow(2).mean().sqrt())


def hedge_vs_sparsity(config: Config, learning_rate: float,
                      store: Store | None = None) -> dict:
    """``model.init_seed``'s ticket (notebook 02's ablation) at every ``pruning.sparsities``
    level against the dense network from θ0 at ``learning_rate`` and the Heston
    minimum-variance delta on the test paths: test CVaR 5 % and P&L standard deviation with
    intervals, the paired CVaR difference to the dense network, and the RMS distance of the
    positions (shares held, every path and date) from the dense network's and the
    min-variance delta's."""
    store = store or open_store(config)
    cost, seed = config.hedging.cost, config.model.init_seed
    run = dense_runs(config, learning_rate, [seed], store)[0]
    judge = Judge(config, store, references(config, [run], math.inf), learning_rate, math.inf)
    dense_model = load_model(config, run.theta_star, cost=cost)
    dense_pos = deep_hedge_positions(dense_model, judge.test)
    pair = (run.folder.name, judge.dense_pnl(run))
    dense_metrics = judge.test_metrics("dense", run.folder.name, pair[1], None)
    mv_pos = reference_positions(config, "test", store)["min_variance_delta"]
    mv_pnl = compute_pnl(mv_pos, judge.test.S, judge.test.Z, cost)
    mv = judge.test_metrics("reference", "min_variance_delta", mv_pnl, None)
    cells = [Cell("ticket", s, learning_rate, seed, learning_rate)
             for s in config.pruning.sparsities]
    rows = []
    for cell, result in zip(cells, run_cells(config, cells, store)):
        positions = deep_hedge_positions(load_model(config, result.state, cost=cost), judge.test)
        metrics = judge.test_metrics("ticket", result.folder.name, result.test_pnl, pair)
        rows.append({"sparsity": cell.sparsity, "cvar_05": metrics["cvar_05"],
                     "cvar_05_ci": metrics["cvar_05_ci"], "pnl_std": metrics["pnl_std"],
                     "pnl_std_ci": metrics["pnl_std_ci"],
                     "cvar_05_vs_dense": metrics["vs_dense"],
                     "position_rms_vs_dense": _rms(positions, dense_pos),
                     "position_rms_vs_min_variance": _rms(positions, mv_pos)})

    def reference(metrics: dict, positions: torch.Tensor) -> dict:
        return {k: metrics[k] for k in ("cvar_05", "cvar_05_ci", "pnl_std", "pnl_std_ci")} | {
            "position_rms_vs_min_variance": _rms(positions, mv_pos)}

    return {"learning_rate": learning_rate, "seed": seed, "cost": cost, "exploratory": True,
            "dense": reference(dense_metrics, dense_pos),
            "min_variance_delta": reference(mv, mv_pos), "results": rows}


def hedge_slices(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """Hedge-ratio slices (``hedge_ratio_slices``) of the dense network from θ0 at
    ``learning_rate`` and of its ticket at ``pruning.target_sparsity`` (``model.init_seed``);
    the ticket's under ``ticket``."""
    store = store or open_store(config)
    cost, seed = config.hedging.cost, config.model.init_seed
    run = dense_runs(config, learning_rate, [seed], store)[0]
    cell = Cell("ticket", config.pruning.target_sparsity, learning_rate, seed, learning_rate)
    ticket = run_cells(config, [cell], store)[0]
    slices = hedge_ratio_slices(config, load_model(config, run.theta_star, cost=cost))
    ticket_slices = hedge_ratio_slices(config, load_model(config, ticket.state, cost=cost))
    return {**slices, "ticket": ticket_slices["deep_hedge"]}


def one_shot_vs_imp(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """At ``pruning.target_sparsity`` on the first ``characterization.imp_seeds`` seeds: the
    one-shot ticket and the IMP ticket (``pruning.imp_rounds`` rounds), each retrained from
    every ``characterization.rewind_epochs`` point; paired against the one-shot ticket from
    θ0 (test CVaR 5 %, speed-up at the primary endpoint, mask overlap). Exploratory."""
    store = store or open_store(config)
    ch, p = config.characterization, config.pruning
    seeds, confidence = study_seeds(config)[:ch.imp_seeds], config.metrics.confidence
    margin = study_margin(config, store)
    variants = [(method, k) for method in ("one-shot", "IMP") for k in ch.rewind_epochs]

    def cell(method: str, k: int, seed: int) -> Cell:
        if method == "IMP":
            return imp_cell(config, "ticket", p.target_sparsity, learning_rate, seed, k)
        return Cell("ticket", p.target_sparsity, learning_rate, seed, learning_rate, 1, k)

    reference = {seed: cell("one-shot", 0, seed) for seed in seeds}
    cells = list(dict.fromkeys([cell(m, k, seed) for m, k in variants for seed in seeds]
                               + list(reference.values())))
    trained = dict(zip(cells, run_cells(config, cells, store)))
    runs = dict(zip(seeds, dense_runs(config, learning_rate, seeds, store)))
    judge = Judge(config, store, references(config, list(runs.values()), margin["val_margin"]),
                  learning_rate, margin["margin"])
    boot = dict(n_bootstrap=config.metrics.n_bootstrap, confidence=confidence,
                seed=config.metrics.seed)
    out = []
    for method, k in variants:
        rows, refs, diffs = [], [], []
        for seed in seeds:
            pair = (runs[seed].folder.name, judge.dense_pnl(runs[seed]))
            result, ref = trained[cell(method, k, seed)], trained[reference[seed]]
            row = {"seed": seed, **judge.describe_cell(result, pair),
                   "overlap_with_one_shot": jaccard(result.mask, ref.mask)}
            rows.append(row)
            refs.append(judge.describe_cell(ref, pair))
            diffs.append(paired_difference(result.test_pnl, ref.test_pnl, "cvar_05", **boot))
        out.append({"method": method, "rewind_epoch": k,
                    "rounds": p.imp_rounds if method == "IMP" else 1, "rows": rows,
                    "cvar_05_vs_one_shot": diffs,
                    "speedup_vs_one_shot": compare(rows, refs, confidence)[ch.primary]})
    return {"learning_rate": learning_rate, "sparsity": p.target_sparsity, "seeds": seeds,
            "primary": ch.primary, "exploratory": True,
            "references": judge.refs.as_dict(), "variants": out}
