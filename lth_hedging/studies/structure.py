"""Notebook 03's exploratory analyses of what the tickets are made of, as typed results
(labelled exploratory): ``mask_structure`` and ``layer_collapse`` (masks of
the registered seeds' θ*, ranked per layer or globally), ``weight_geometry`` (the registered
tickets), ``hedge_vs_sparsity`` / ``hedge_slices`` / ``ticket_weights`` (notebook 02's tickets,
one seed) and ``one_shot_vs_imp``. The registered study is ``confirmation``, the pilot's
diagonal study ``pilot``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import torch

from ..foundations.config import Config
from ..foundations.records import Record, entry
from ..foundations.store import Store
from ..measures.anatomy import (
    complement,
    input_importance,
    is_nested,
    jaccard,
    kept_magnitude,
    random_jaccard,
    sign_agreement,
    weight_distance,
)
from ..measures.metrics import (
    Difference,
    LogRatioTest,
    SeedInterval,
    paired_difference,
    seed_interval,
)
from ..measures.speed import References
from ..nets.losses import compute_pnl
from ..nets.pruning import magnitude_mask, prunable_names, sparsity_report
from .confirmation import compare
from .judging import (
    Judge,
    NetworkRow,
    dense_runs,
    references,
    study_references,
    study_seeds,
)
from .references import hedge_ratio_slices, reference_positions, risk_statistic
from .stages import deep_hedge_positions, load_model, open_store
from .tickets import Cell, imp_cell, one_shot_mask, reinit_state, run_cells


def study_rate(config: Config) -> float:
    """The rate of the pilot's exploratory sections: the first ``pilot``
    learning rate."""
    return config.pilot.learning_rates[0]


@dataclass(frozen=True, kw_only=True)
class Spread(Record):
    """Mean and range over seeds: mask structure is described, not estimated."""

    mean: float
    range: list[float]
    n: int


def _spread(values: list[float]) -> Spread:
    return Spread(mean=sum(values) / len(values), range=[min(values), max(values)],
                  n=len(values))


@dataclass(frozen=True, kw_only=True)
class InputShare(Record):
    """What the first layer keeps of one input: its connections and its weight mass."""

    kept_fraction: Spread
    mass_share: Spread


@dataclass(frozen=True, kw_only=True)
class StructureLevel(Record):
    sparsity: float
    layer_density: dict[str, Spread]  # by layer's weight name
    effective_sparsity: Spread
    dead_units: Spread
    dead_by_layer: list[Spread]  # per hidden layer
    overlap_between_seeds: Spread
    random_overlap: float
    inputs: dict[str, InputShare]  # by input feature


@dataclass(frozen=True, kw_only=True)
class Nesting(Record):
    """One seed's masks at two consecutive sparsities, ``low`` → ``high``."""

    low: float = entry(key="from")
    high: float = entry(key="to")
    nested_seeds: int
    overlap: Spread
    overlap_if_nested: Spread


@dataclass(frozen=True, kw_only=True)
class MaskStructure(Record):
    seeds: list[int]
    exploratory: bool
    scope: str
    output_rate: float
    inputs_scope: str
    layer_sizes: dict[str, int]
    hidden: list[int]
    levels: list[StructureLevel]
    nesting: list[Nesting]


@dataclass(frozen=True, kw_only=True)
class WeightSeed(Record):
    """Where training took one seed's ticket (``weight_geometry``)."""

    seed: int
    theta0_to_theta_star: float
    ticket_to_theta_star: float
    reinit_to_theta_star: float
    ticket_moved: float
    reinit_moved: float
    ticket_sign_theta_star: float
    reinit_sign_theta_star: float
    theta0_sign_theta_star: float
    theta0_sign_theta_star_pruned: float
    ticket_sign_theta0: float
    kept_magnitude_theta0: float
    kept_magnitude_theta_star: float


@dataclass(frozen=True, kw_only=True)
class WeightLevel(Record):
    """``WeightSeed``'s measures over seeds, with Student-t intervals."""

    sparsity: float
    per_seed: list[WeightSeed]
    theta0_to_theta_star: SeedInterval
    ticket_to_theta_star: SeedInterval
    reinit_to_theta_star: SeedInterval
    ticket_moved: SeedInterval
    reinit_moved: SeedInterval
    ticket_sign_theta_star: SeedInterval
    reinit_sign_theta_star: SeedInterval
    theta0_sign_theta_star: SeedInterval
    theta0_sign_theta_star_pruned: SeedInterval
    ticket_sign_theta0: SeedInterval
    kept_magnitude_theta0: SeedInterval
    kept_magnitude_theta_star: SeedInterval


@dataclass(frozen=True, kw_only=True)
class Weights(Record):
    seeds: list[int]
    exploratory: bool
    levels: list[WeightLevel]


@dataclass(frozen=True, kw_only=True)
class HedgeMetrics(Record):
    """Test CVaR 5 % and P&L SD with intervals, the positions' RMS distance from the
    min-variance delta."""

    cvar_05: float
    cvar_05_ci: list[float]
    pnl_std: float
    pnl_std_ci: list[float]
    position_rms_vs_min_variance: float


@dataclass(frozen=True, kw_only=True)
class HedgeRow(HedgeMetrics):
    sparsity: float
    cvar_05_vs_dense: Difference
    position_rms_vs_dense: float


@dataclass(frozen=True, kw_only=True)
class Hedge(Record):
    learning_rate: float
    seed: int
    cost: float
    exploratory: bool
    dense: HedgeMetrics
    min_variance_delta: HedgeMetrics
    results: list[HedgeRow]


@dataclass(frozen=True, kw_only=True)
class Variant(Record):
    """One pruning method and rewinding point against the one-shot ticket from θ0."""

    method: str
    rewind_epoch: int
    rounds: int
    rows: list[NetworkRow]
    cvar_05_vs_one_shot: list[Difference]
    speedup_vs_one_shot: LogRatioTest


@dataclass(frozen=True, kw_only=True)
class Imp(Record):
    learning_rate: float
    sparsity: float
    seeds: list[int]
    primary: str
    exploratory: bool
    references: References
    variants: list[Variant]


def _kept(mask: dict) -> int:
    return sum(int(m.sum()) for m in mask.values())


Thetas = dict[int, tuple[dict, dict]]  # seed → (θ0, θ*): the networks that make the masks


def mask_structure(config: Config, thetas: Thetas, scope: str) -> MaskStructure:
    """The one-shot masks of every seed's θ* ranked as ``scope`` says, at every
    ``pruning.sparsities`` level: per-layer density, effective sparsity and dead units,
    nesting across levels, overlap between seeds against random masks of the same per-layer
    density. What each input of the first layer keeps is read from *layer-wise* masks: a
    global ranking of the 4-input first layer mostly reflects its larger init scale."""
    seeds, sparsities = list(thetas), sorted(config.pruning.sparsities)
    masks = {(seed, s): one_shot_mask(config, thetas[seed][1], s, scope) for seed in seeds
             for s in sparsities}
    names = prunable_names(masks[(seeds[0], sparsities[0])])
    levels = []
    for s in sparsities:
        reports = [sparsity_report(masks[(seed, s)]) for seed in seeds]
        importance = [input_importance(magnitude_mask(thetas[seed][1], s, scope="layer",
                                                      output_rate=config.pruning.output_rate),
                                       thetas[seed][1]) for seed in seeds]
        pairs = list(itertools.combinations(seeds, 2))
        levels.append(StructureLevel(
            sparsity=s,
            layer_density={n: _spread([1 - r["layers"][n] for r in reports]) for n in names},
            effective_sparsity=_spread([r["effective"] for r in reports]),
            dead_units=_spread([r["dead_units"] for r in reports]),
            dead_by_layer=[_spread([r["dead_by_layer"][i] for r in reports])
                           for i in range(len(names) - 1)],
            overlap_between_seeds=_spread(
                [jaccard(masks[(a, s)], masks[(b, s)]) for a, b in pairs]),
            random_overlap=sum(random_jaccard(masks[(seed, s)]) for seed in seeds)
            / len(seeds),
            inputs={name: InputShare(
                kept_fraction=_spread([imp[name]["kept_fraction"] for imp in importance]),
                mass_share=_spread([imp[name]["mass_share"] for imp in importance]))
                for name in importance[0]}))
    nesting = []
    for low, high in zip(sparsities, sparsities[1:]):
        nesting.append(Nesting(
            low=low, high=high,
            nested_seeds=sum(is_nested(masks[(seed, high)], masks[(seed, low)])
                             for seed in seeds),
            overlap=_spread([jaccard(masks[(seed, low)], masks[(seed, high)])
                             for seed in seeds]),
            overlap_if_nested=_spread([_kept(masks[(seed, high)]) / _kept(masks[(seed, low)])
                                       for seed in seeds])))
    first = masks[(seeds[0], sparsities[0])]
    return MaskStructure(seeds=seeds, exploratory=True, scope=scope,
                         output_rate=config.pruning.output_rate, inputs_scope="layer",
                         layer_sizes={n: first[n].numel() for n in names},
                         hidden=[int(first[n].shape[0]) for n in names[:-1]],
                         levels=levels, nesting=nesting)


def layer_collapse(config: Config, thetas: Thetas) -> dict[str, MaskStructure]:
    """Global against layer-wise magnitude ranking of the same θ*s at every
    ``pruning.sparsities`` level: what each layer keeps, the effective sparsity and the dead
    units of each hidden layer. Where a global ranking empties a layer, every mask with its
    per-layer counts (the random controls' too) leaves no path through the network, and a
    ticket test there tests nothing. Exploratory. Also the registered ranking
    (``registration.scope``) where it is neither: the confirmed ticket's structure."""
    scopes = dict.fromkeys(("global", "layer", config.registration.scope))
    return {scope: mask_structure(config, thetas, scope) for scope in scopes}


def weight_geometry(config: Config, thetas: Thetas, tickets: dict, reinits: dict) -> Weights:
    """Where training takes the ticket, over the seeds of ``thetas`` at every sparsity of
    ``tickets`` and ``reinits`` (sparsity → seed → ``CellResult``: trained tickets and random
    re-inits with the ticket's mask).

    Distances are relative, over the kept weights: ‖a − θ*‖ / ‖θ*‖ for θ0 (the start), the
    trained ticket and the trained random re-init (the same mask from another start), and
    ‖ticket − θ0‖ / ‖θ0‖ (how far it moved). Sign agreement with θ* on the kept weights (θ0's
    on the pruned ones beside it) and the mean |w| the mask keeps relative to all weights.
    """
    confidence = config.metrics.confidence
    levels = []
    for s in tickets:
        rows = []
        for seed, (theta0, theta_star) in thetas.items():
            ticket, reinit = tickets[s][seed], reinits[s][seed]
            mask, pruned = ticket.mask, complement(ticket.mask)
            rows.append(WeightSeed(
                seed=seed,
                theta0_to_theta_star=weight_distance(theta0, theta_star, mask),
                ticket_to_theta_star=weight_distance(ticket.state, theta_star, mask),
                reinit_to_theta_star=weight_distance(reinit.state, theta_star, mask),
                ticket_moved=weight_distance(ticket.state, theta0, mask),
                reinit_moved=weight_distance(reinit.state, reinit_state(config, seed), mask),
                ticket_sign_theta_star=sign_agreement(ticket.state, theta_star, mask),
                reinit_sign_theta_star=sign_agreement(reinit.state, theta_star, mask),
                theta0_sign_theta_star=sign_agreement(theta0, theta_star, mask),
                theta0_sign_theta_star_pruned=sign_agreement(theta0, theta_star, pruned),
                ticket_sign_theta0=sign_agreement(ticket.state, theta0, mask),
                kept_magnitude_theta0=kept_magnitude(theta0, mask),
                kept_magnitude_theta_star=kept_magnitude(theta_star, mask)))
        keys = [k for k in vars(rows[0]) if k != "seed"]
        levels.append(WeightLevel(sparsity=s, per_seed=rows,
                                  **{k: seed_interval([getattr(r, k) for r in rows], confidence)
                                     for k in keys}))
    return Weights(seeds=list(thetas), exploratory=True, levels=levels)


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
                      store: Store | None = None) -> Hedge:
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

    def reference(metrics: dict, positions: torch.Tensor) -> HedgeMetrics:
        return HedgeMetrics(**{k: metrics[k] for k in ("cvar_05", "cvar_05_ci", "pnl_std",
                                                       "pnl_std_ci")},
                            position_rms_vs_min_variance=_rms(positions, mv_pos))

    rows = []
    for cell, result in zip(cells, run_cells(config, cells, store)):
        positions = deep_hedge_positions(load_model(config, result.state, cost=cost), judge.test)
        metrics = judge.test_metrics("ticket", result.folder.name, result.test_pnl, pair)
        rows.append(HedgeRow(**vars(reference(metrics, positions)), sparsity=cell.sparsity,
                             cvar_05_vs_dense=Difference.from_json(metrics["vs_dense"]),
                             position_rms_vs_dense=_rms(positions, dense_pos)))

    return Hedge(learning_rate=learning_rate, seed=seed, cost=cost, exploratory=True,
                 dense=reference(dense_metrics, dense_pos),
                 min_variance_delta=reference(mv, mv_pos), results=rows)


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


def one_shot_vs_imp(config: Config, learning_rate: float, store: Store | None = None) -> Imp:
    """At ``pruning.target_sparsity`` on the first ``pilot.imp_seeds`` seeds: the
    one-shot ticket and the IMP ticket (``pruning.imp_rounds`` rounds), each retrained from
    every ``pilot.rewind_epochs`` point; paired against the one-shot ticket from
    θ0 (test risk, speed-up at the registered endpoint, mask overlap). Exploratory."""
    store = store or open_store(config)
    ch, p = config.pilot, config.pruning
    seeds, confidence = study_seeds(config)[:ch.imp_seeds], config.metrics.confidence
    refs, margin = study_references(config, learning_rate, store)
    endpoint = config.registration.endpoint
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
    judge = Judge(config, store, refs, learning_rate, margin.margin)
    boot = dict(n_bootstrap=config.metrics.n_bootstrap, confidence=confidence,
                seed=config.metrics.seed)
    out = []
    for method, k in variants:
        rows, one_shot, diffs = [], [], []
        for seed in seeds:
            pair = (runs[seed].folder.name, judge.dense_pnl(runs[seed]))
            result, ref = trained[cell(method, k, seed)], trained[reference[seed]]
            row = replace(judge.describe_cell(result, pair), seed=seed,
                          overlap_with_one_shot=jaccard(result.mask, ref.mask))
            rows.append(row)
            one_shot.append(judge.describe_cell(ref, pair))
            diffs.append(paired_difference(result.test_pnl, ref.test_pnl,
                                           risk_statistic(config), **boot))
        out.append(Variant(method=method, rewind_epoch=k,
                           rounds=p.imp_rounds if method == "IMP" else 1, rows=rows,
                           cvar_05_vs_one_shot=diffs,
                           speedup_vs_one_shot=compare(rows, one_shot, endpoint,
                                                       confidence).endpoint))
    return Imp(learning_rate=learning_rate, sparsity=p.target_sparsity, seeds=seeds,
               primary=endpoint, exploratory=True, references=judge.refs, variants=out)
