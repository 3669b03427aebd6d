"""The experiments of notebook 03, as results (plain dicts, JSON-ready): is the ticket more
than a sparse network of the same density, and what is it made of.

- ``controls_over_seeds``: ticket vs random re-init vs random mask vs the dense network from
  θ0 at the same learning rate, over ``characterization.n_seeds`` seeds;
- ``mask_structure``: the one-shot masks of every seed's θ* at every ``pruning.sparsities``
  level: density per layer, effective sparsity, dead units, overlap across sparsities and
  seeds, and what each input of the first layer keeps;
- ``weight_geometry``: where the trained ticket lands relative to θ0 and θ*;
- ``hedge_vs_sparsity``: how positions, P&L spread and CVaR move away from the dense hedge;
- ``one_shot_vs_imp``: one-shot vs iterative magnitude pruning, rewinding to θ0 or epoch k.

Each seed's networks are judged against that seed's dense baseline (its θ0 trained at
``training.learning_rate``); paired differences use the same test paths.
"""

from __future__ import annotations

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
    train_dense,
    train_dense_runs,
)
from .experiment import dense_spec as make_dense_spec
from .losses import compute_pnl
from .lottery import Baseline
from .metrics import paired_difference, seed_interval
from .pruning import prunable_names, sparsity_report
from .store import Store
from .tickets import KINDS, Cell, imp_cell, one_shot_mask, reinit_state, run_cells

ROW_KEYS = ("epochs_to_baseline", "epochs_run", "best_val_loss", "diverged", "cvar_05",
            "cvar_05_ci", "pnl_std", "pnl_std_ci", "val_curve")
COMPARED = ("reinit", "random_mask", "dense")  # what the ticket is paired with


def study_seeds(config: Config) -> list[int]:
    """``model.init_seed`` and the next ``characterization.n_seeds`` − 1 seeds."""
    return [config.model.init_seed + i for i in range(config.characterization.n_seeds)]


def control_sparsities(config: Config) -> list[float]:
    return sorted({*config.characterization.sparsities, config.pruning.target_sparsity})


def _boot(config: Config) -> dict:
    m = config.metrics
    return dict(n_bootstrap=m.n_bootstrap, confidence=m.confidence, seed=m.seed)


def _over_seeds(values: list, confidence: float) -> dict:
    """Mean and Student-t interval; a missing value (``None``: never reached) leaves NaN."""
    return seed_interval([math.nan if v is None else v for v in values], confidence)


def _row(seed: int, described: dict, keys: tuple[str, ...] = ROW_KEYS) -> dict:
    return {"seed": seed, **{k: described[k] for k in keys}}


def _summarise(rows: list[dict], confidence: float) -> dict:
    return {"seeds": rows, "reached": sum(r["epochs_to_baseline"] is not None for r in rows),
            "epochs_to_baseline": _over_seeds([r["epochs_to_baseline"] for r in rows],
                                              confidence),
            "cvar_05": _over_seeds([r["cvar_05"] for r in rows], confidence),
            "pnl_std": _over_seeds([r["pnl_std"] for r in rows], confidence)}


def _paired(config: Config, ticket: list[dict], other: list[dict], ticket_pnl: list,
            other_pnl: list) -> dict:
    """Ticket − other per seed: test CVaR 5 % (paired bootstrap on the same paths) and epochs
    to the baseline (None where either never reached it), then over seeds."""
    confidence = config.metrics.confidence
    cvar = [paired_difference(a, b, "cvar_05", **_boot(config))
            for a, b in zip(ticket_pnl, other_pnl)]
    epochs = [None if t["epochs_to_baseline"] is None or o["epochs_to_baseline"] is None
              else t["epochs_to_baseline"] - o["epochs_to_baseline"]
              for t, o in zip(ticket, other)]
    return {"cvar_05": {"per_seed": cvar, "over_seeds": _over_seeds(
                [d["difference"] for d in cvar], confidence)},
            "epochs_to_baseline": {"per_seed": epochs,
                                   "over_seeds": _over_seeds(epochs, confidence)}}


def controls_over_seeds(config: Config, learning_rate: float,
                        store: Store | None = None) -> dict:
    """Ticket, random re-init and random mask at every ``control_sparsities`` level over
    ``study_seeds``, beside the dense network from θ0 at ``learning_rate``; each seed judged
    against its own dense baseline. Per level: means over seeds with Student-t intervals and
    the paired differences ticket − control (per seed and over seeds)."""
    store = store or open_store(config)
    seeds, mask_lr = study_seeds(config), config.training.learning_rate
    confidence = config.metrics.confidence

    def cell(kind: str, sparsity: float, seed: int) -> Cell:
        return Cell(kind, sparsity, learning_rate, seed, mask_lr)

    cells = [cell(kind, s, seed) for s in control_sparsities(config) for kind in KINDS
             for seed in seeds]
    trained = dict(zip(cells, run_cells(config, cells, store)))
    bases = {seed: Baseline(config, store, seed) for seed in seeds}
    specs = [make_dense_spec(config, learning_rate=learning_rate, seed=seed) for seed in seeds]
    runs = dict(zip(seeds, train_dense_runs(config, specs, store)))
    dense = [_row(seed, bases[seed].describe_dense(runs[seed])) for seed in seeds]
    dense_pnl = [bases[seed].dense_pnl(runs[seed]) for seed in seeds]
    levels = []
    for s in control_sparsities(config):
        rows = {kind: [_row(seed, bases[seed].describe_cell(trained[cell(kind, s, seed)]))
                       for seed in seeds] for kind in KINDS}
        rows["dense"] = dense
        pnls = {kind: [trained[cell(kind, s, seed)].test_pnl for seed in seeds]
                for kind in KINDS}
        pnls["dense"] = dense_pnl
        level = {"sparsity": s, **{who: _summarise(r, confidence) for who, r in rows.items()}}
        for other in COMPARED:
            level[f"ticket_minus_{other}"] = _paired(config, rows["ticket"], rows[other],
                                                     pnls["ticket"], pnls[other])
        levels.append(level)
    return {"learning_rate": learning_rate, "mask_lr": mask_lr, "seeds": seeds,
            "confidence": confidence, "target_sparsity": config.pruning.target_sparsity,
            "tolerance": config.metrics.tolerance,
            "baselines": _baselines(bases), "levels": levels}


def _baselines(bases: dict[int, Baseline]) -> list[dict]:
    """Each seed's dense baseline: best validation loss and the "reached" threshold."""
    return [{"seed": seed, "best_val_loss": b.run.summary["best_val_loss"],
             "threshold": b.threshold} for seed, b in bases.items()]


def _spread(values: list[float]) -> dict:
    """Mean and range over seeds: mask structure is described, not estimated."""
    return {"mean": sum(values) / len(values), "range": [min(values), max(values)],
            "n": len(values)}


def _kept(mask: dict) -> int:
    return sum(int(m.sum()) for m in mask.values())


def _dense_thetas(config: Config, store: Store) -> dict[int, tuple[dict, dict]]:
    """(θ0, θ*) of every study seed: the dense networks whose weights make the masks."""
    seeds = study_seeds(config)
    runs = train_dense_runs(config, [make_dense_spec(config, seed=seed) for seed in seeds],
                            store)
    return {seed: (run.theta0, run.theta_star) for seed, run in zip(seeds, runs)}


def mask_structure(config: Config, store: Store | None = None) -> dict:
    """The one-shot masks of every seed's θ* at every ``pruning.sparsities`` level: per-layer
    density, effective sparsity and dead units, nesting across levels, overlap between seeds
    against random masks of the same per-layer density, and the first layer's inputs."""
    store = store or open_store(config)
    thetas = _dense_thetas(config, store)
    seeds, sparsities = list(thetas), sorted(config.pruning.sparsities)
    masks = {(seed, s): one_shot_mask(config, thetas[seed][1], s) for seed in seeds
             for s in sparsities}
    names = prunable_names(masks[(seeds[0], sparsities[0])])
    levels = []
    for s in sparsities:
        reports = [sparsity_report(masks[(seed, s)]) for seed in seeds]
        importance = [input_importance(masks[(seed, s)], thetas[seed][1]) for seed in seeds]
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
    return {"seeds": seeds, "mask_lr": config.training.learning_rate,
            "scope": config.pruning.scope, "output_rate": config.pruning.output_rate,
            "layer_sizes": {n: first[n].numel() for n in names},
            "levels": levels, "nesting": nesting}


def weight_geometry(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """Where training takes the ticket, over seeds at every ``control_sparsities`` level.

    Distances are relative, over the kept weights: ‖a − θ*‖ / ‖θ*‖ for θ0 (the start), the
    trained ticket and the trained random re-init (the same mask from another start), and
    ‖ticket − θ0‖ / ‖θ0‖ (how far it moved). Sign agreement with θ* on the kept weights (θ0's
    on the pruned ones beside it) and the mean |w| the mask keeps relative to all weights.
    """
    store = store or open_store(config)
    thetas, confidence = _dense_thetas(config, store), config.metrics.confidence
    mask_lr = config.training.learning_rate
    levels = []
    for s in control_sparsities(config):
        cells = [Cell(kind, s, learning_rate, seed, mask_lr) for seed in thetas
                 for kind in ("ticket", "reinit")]
        results = dict(zip(cells, run_cells(config, cells, store)))
        rows = []
        for seed, (theta0, theta_star) in thetas.items():
            ticket = results[Cell("ticket", s, learning_rate, seed, mask_lr)]
            reinit = results[Cell("reinit", s, learning_rate, seed, mask_lr)]
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
    return {"learning_rate": learning_rate, "seeds": list(thetas), "levels": levels}


def ticket_weights(config: Config, learning_rate: float, sparsity: float,
                   store: Store | None = None) -> dict[str, torch.Tensor]:
    """The kept weights of ``model.init_seed``'s ticket as flat vectors — θ0, θ*, trained —
    and θ0's pruned weights (for a scatter / histogram; not JSON)."""
    store = store or open_store(config)
    dense = train_dense(config, store=store)
    theta0, theta_star = dense.theta0, dense.theta_star
    cell = Cell("ticket", sparsity, learning_rate, config.model.init_seed,
                config.training.learning_rate)
    ticket = run_cells(config, [cell], store)[0]
    names = prunable_names(ticket.mask)

    def flat(state: dict, mask: dict) -> torch.Tensor:
        return torch.cat([state[n][mask[n]] for n in names])

    return {"theta0": flat(theta0, ticket.mask), "theta_star": flat(theta_star, ticket.mask),
            "trained": flat(ticket.state, ticket.mask),
            "theta0_pruned": flat(theta0, complement(ticket.mask))}


def _rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).pow(2).mean().sqrt())


def hedge_vs_sparsity(config: Config, learning_rate: float,
                      store: Store | None = None) -> dict:
    """``model.init_seed``'s ticket at every ``pruning.sparsities`` level against the dense
    baseline and the Heston minimum-variance delta on the test paths: test CVaR 5 % and P&L
    standard deviation (the hedging error's spread) with intervals, the paired CVaR
    difference to the dense baseline, and the RMS distance of the positions (shares held,
    every path and date) from the dense network's and from the min-variance delta's."""
    store = store or open_store(config)
    base = Baseline(config, store)
    cost = config.hedging.cost
    dense_pos = deep_hedge_positions(load_model(config, base.run.theta_star, cost=cost),
                                     base.test)
    mv_pos = reference_positions(config, "test", store)["min_variance_delta"]
    mv_pnl = compute_pnl(mv_pos, base.test.S, base.test.Z, cost)
    mv = base.test_metrics("reference", "min_variance_delta", mv_pnl)
    seed, mask_lr = config.model.init_seed, config.training.learning_rate
    cells = [Cell("ticket", s, learning_rate, seed, mask_lr) for s in config.pruning.sparsities]
    rows = []
    for cell, result in zip(cells, run_cells(config, cells, store)):
        model = load_model(config, result.state, cost=cost)
        positions = deep_hedge_positions(model, base.test)
        metrics = base.test_metrics("ticket", result.folder.name, result.test_pnl)
        rows.append({"sparsity": cell.sparsity, "cvar_05": metrics["cvar_05"],
                     "cvar_05_ci": metrics["cvar_05_ci"], "pnl_std": metrics["pnl_std"],
                     "pnl_std_ci": metrics["pnl_std_ci"],
                     "cvar_05_vs_dense": metrics["vs_baseline"],
                     "position_rms_vs_dense": _rms(positions, dense_pos),
                     "position_rms_vs_min_variance": _rms(positions, mv_pos)})

    def reference(metrics: dict, positions: torch.Tensor) -> dict:
        return {k: metrics[k] for k in ("cvar_05", "cvar_05_ci", "pnl_std", "pnl_std_ci")} | {
            "position_rms_vs_min_variance": _rms(positions, mv_pos)}

    return {"learning_rate": learning_rate, "seed": seed, "cost": cost,
            "dense": reference(base.metrics, dense_pos),
            "min_variance_delta": reference(mv, mv_pos), "results": rows}


def hedge_slices(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """Hedge-ratio slices (``hedge_ratio_slices``) of the dense baseline and of the ticket at
    ``pruning.target_sparsity`` (seed ``model.init_seed``); the ticket's under ``ticket``."""
    store = store or open_store(config)
    base = Baseline(config, store)
    cost, p = config.hedging.cost, config.pruning
    cell = Cell("ticket", p.target_sparsity, learning_rate, config.model.init_seed,
                config.training.learning_rate)
    ticket = run_cells(config, [cell], store)[0]
    slices = hedge_ratio_slices(config, load_model(config, base.run.theta_star, cost=cost))
    ticket_slices = hedge_ratio_slices(config, load_model(config, ticket.state, cost=cost))
    return {**slices, "ticket": ticket_slices["deep_hedge"]}


def one_shot_vs_imp(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """At ``pruning.target_sparsity`` on the first ``characterization.imp_seeds`` seeds: the
    one-shot ticket and the IMP ticket (``pruning.imp_rounds`` rounds), each retrained from
    every ``characterization.rewind_epochs`` point; paired against the one-shot ticket from
    θ0 (test CVaR 5 %, epochs to the baseline) and its mask overlap with that ticket's."""
    store = store or open_store(config)
    ch, p = config.characterization, config.pruning
    seeds, confidence = study_seeds(config)[:ch.imp_seeds], config.metrics.confidence
    mask_lr = config.training.learning_rate
    variants = [(method, k) for method in ("one-shot", "IMP") for k in ch.rewind_epochs]

    def cell(method: str, k: int, seed: int) -> Cell:
        if method == "IMP":
            return imp_cell(config, "ticket", p.target_sparsity, learning_rate, seed, k)
        return Cell("ticket", p.target_sparsity, learning_rate, seed, mask_lr, 1, k)

    reference = {seed: cell("one-shot", 0, seed) for seed in seeds}
    cells = list(dict.fromkeys([cell(m, k, seed) for m, k in variants for seed in seeds]
                               + list(reference.values())))
    trained = dict(zip(cells, run_cells(config, cells, store)))
    bases = {seed: Baseline(config, store, seed) for seed in seeds}
    out = []
    for method, k in variants:
        rows, diffs = [], []
        for seed in seeds:
            result, ref = trained[cell(method, k, seed)], trained[reference[seed]]
            row = _row(seed, bases[seed].describe_cell(result), (*ROW_KEYS, "sparsity"))
            ref_epochs = bases[seed].convergence(ref.history)
            row["epochs_vs_one_shot"] = (None if row["epochs_to_baseline"] is None
                                         or ref_epochs is None
                                         else row["epochs_to_baseline"] - ref_epochs)
            row["overlap_with_one_shot"] = jaccard(result.mask, ref.mask)
            diffs.append(paired_difference(result.test_pnl, ref.test_pnl, "cvar_05",
                                           **_boot(config)))
            rows.append(row)
        out.append({"method": method, "rewind_epoch": k,
                    "rounds": p.imp_rounds if method == "IMP" else 1,
                    **_summarise(rows, confidence),
                    "cvar_05_vs_one_shot": {"per_seed": diffs, "over_seeds": _over_seeds(
                        [d["difference"] for d in diffs], confidence)},
                    "epochs_vs_one_shot": _over_seeds([r["epochs_vs_one_shot"] for r in rows],
                                                      confidence)})
    return {"learning_rate": learning_rate, "mask_lr": mask_lr, "sparsity": p.target_sparsity,
            "seeds": seeds, "tolerance": config.metrics.tolerance,
            "baselines": _baselines(bases), "variants": out}
