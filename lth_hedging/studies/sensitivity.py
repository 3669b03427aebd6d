"""Exploratory measurements beside the registered study (labelled so in notebook 03; no
verdict rests on them, no Holm):

- ``replay_effect``: the confirmatory ticket and its dense comparator trained again on the
  data order of the θ* that made the mask (the pilot's design: a ticket on it partly
  replays that run), on the first ``pilot.replay_seeds`` registered seeds, at
  the warmup schedule and the first registered sparsity; paired against the same seeds'
  fresh-order networks.
- ``scope_effect``: the ticket with its mask ranked the other way (global instead of per
  layer), on every registered seed at the warmup schedule and the first sparsity, against
  the study's dense comparator and its registered ticket: a per-layer ranking of the 4-input
  first layer cuts most of its connections and leaves many of its units without an input.
- ``crossings``: the registered endpoint times a curve's *first* crossing of its level; a
  curve that crosses and comes back above it is counted as there already. Beside it, for
  every family-A cell (post hoc: asked after the confirmatory result), the step from which a
  curve *stays* below the level, and how many curves cross back above it after their first
  crossing. Floor control: a frozen hedge never crosses, so never stays either.
- ``steadiness``: how much a validation-risk curve still swings once trained (the SD of its
  evaluations over the second half of its budget) and where it ends, for the ticket, the
  dense network at the same rate, and θ* itself — the dense network at the smaller mask
  rate: a sparse network's effective step is smaller, so "the ticket is steadier" can be a
  learning-rate effect.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..foundations.config import Config
from ..foundations.records import Record
from ..foundations.store import Store
from ..measures.metrics import (
    LogRatioTest,
    PairedOverSeeds,
    SeedInterval,
    log_ratio_test,
    paired_over_seeds,
    seed_interval,
)
from ..measures.speed import ENDPOINTS, censored, stay_step
from .confirmation import (
    Paired,
    Study,
    compare,
    dense_comparator,
    dense_test_risk,
    describe,
    mask_sources,
    registered_seeds,
    study_cell,
)
from .judging import Run
from .stages import load_split, open_store, train_dense_runs
from .tickets import run_cells


@dataclass(frozen=True, kw_only=True)
class Replay(Record):
    seeds: list[int]
    sparsity: float
    schedule: str
    endpoint: str
    exploratory: bool
    ticket_vs_dense: dict[str, Paired]  # by data order: "replay", "fresh"
    replay_speedup: dict[str, Paired]  # by kind: fresh over replay
    curves: dict[str, dict[str, list[list[list[float]]]]]  # order → kind → curves


@dataclass(frozen=True, kw_only=True)
class Scope(Record):
    seeds: list[int]
    sparsity: float
    schedule: str
    endpoint: str
    scope: str
    registered_scope: str
    exploratory: bool
    dead_units: SeedInterval
    vs_dense: Paired
    vs_registered: Paired


@dataclass(frozen=True, kw_only=True)
class CrossingCell(Record):
    schedule: str
    sparsity: float
    warmup_steps: int
    crossed_back: dict[str, int]  # by kind
    stayed: dict[str, int]
    auc: PairedOverSeeds
    stay: LogRatioTest


@dataclass(frozen=True, kw_only=True)
class Crossings(Record):
    endpoint: str
    level: float
    n: int
    exploratory: bool
    post_hoc: bool
    cells: list[CrossingCell]


@dataclass(frozen=True, kw_only=True)
class Swing(Record):
    late_swing: SeedInterval
    final_risk: SeedInterval


@dataclass(frozen=True, kw_only=True)
class SwingDifference(Record):
    late_swing: PairedOverSeeds
    final_risk: PairedOverSeeds


@dataclass(frozen=True, kw_only=True)
class Steadiness(Record):
    seeds: list[int]
    sparsity: float
    exploratory: bool
    budgets: dict[str, int]
    networks: dict[str, Swing]
    differences: dict[str, SwingDifference]


def _study_rows(study: Study, schedule: str, sparsity: float) -> dict[str, list[Run]]:
    return next(c.rows for c in study.cells
                if c.schedule == schedule and c.sparsity == sparsity)


def replay_effect(config: Config, study: Study, store: Store | None = None) -> Replay:
    """Ticket and dense comparator on the replay order (module doc) beside the study's
    fresh-order pair: the ticket's speed-up over dense on each order, and what replaying
    changes for each (log ratios fresh / replay, paired over seeds)."""
    store = store or open_store(config)
    r, endpoint = config.registration, study.endpoint
    seeds = registered_seeds(config)[:config.pilot.replay_seeds]
    sparsity = r.sparsities[0]
    refs = study.references
    cells = [study_cell(config, "ticket", sparsity, seed, "warmup", "replay") for seed in seeds]
    specs = [dense_comparator(config, seed, "warmup", "replay") for seed in seeds]
    test = load_split(config, "test")

    def row(history: list[dict], test_risk: float) -> Run:
        return describe(history, test_risk, refs, study.budget, config)

    replay = {"ticket": [row(c.history, c.summary["test_risk"])
                         for c in run_cells(config, cells, store)],
              "dense": [row(d.history, dense_test_risk(config, d, test))
                        for d in train_dense_runs(config, specs, store)]}
    fresh = {k: v[:len(seeds)] for k, v in _study_rows(study, "warmup", sparsity).items()}
    confidence = config.metrics.confidence
    return Replay(
        seeds=seeds, sparsity=sparsity, schedule="warmup", endpoint=endpoint, exploratory=True,
        ticket_vs_dense={
            "replay": compare(replay["ticket"], replay["dense"], endpoint, confidence),
            "fresh": compare(fresh["ticket"], fresh["dense"], endpoint, confidence)},
        # fresh over replay: above 1, the replay order is the quicker one
        replay_speedup={k: compare(replay[k], fresh[k], endpoint, confidence)
                        for k in ("ticket", "dense")},
        curves={order: {k: [x.curve for x in v] for k, v in rows.items()}
                for order, rows in (("replay", replay), ("fresh", fresh))})


def scope_effect(config: Config, study: Study, store: Store | None = None) -> Scope:
    """The ticket ranked the other way (module doc) beside the study's pair."""
    store = store or open_store(config)
    r, endpoint = config.registration, study.endpoint
    other = "global" if r.scope == "layer" else "layer"
    sparsity, seeds = r.sparsities[0], registered_seeds(config)
    refs = study.references
    cells = [study_cell(config, "ticket", sparsity, seed, "warmup", scope=other)
             for seed in seeds]
    results = run_cells(config, cells, store)
    ranked = [describe(c.history, c.summary["test_risk"], refs, study.budget, config)
              for c in results]
    rows = _study_rows(study, "warmup", sparsity)
    confidence = config.metrics.confidence
    return Scope(seeds=seeds, sparsity=sparsity, schedule="warmup", endpoint=endpoint,
                 scope=other, registered_scope=r.scope, exploratory=True,
                 dead_units=seed_interval([c.summary["mask"]["dead_units"] for c in results],
                                          confidence),
                 vs_dense=compare(ranked, rows["dense"], endpoint, confidence),
                 vs_registered=compare(ranked, rows["ticket"], endpoint, confidence))


def crossings(config: Config, study: Study) -> Crossings:
    """First crossing against staying below the registered level (module doc), ticket vs
    dense in every family-A cell: counts of curves that cross back, and the speed-up at the
    step from which each stays below (log ratios, censored at the budget)."""
    e, budget, window = study.endpoint, study.budget, config.metrics.window
    level = study.references.level(ENDPOINTS[e])
    confidence = config.metrics.confidence
    cells = []
    for cell in study.cells:
        rows = {k: cell.rows[k] for k in ("ticket", "dense")}
        stays = {k: [stay_step([{"step": s, "val_risk": v} for s, v in r.curve], level,
                               window) for r in v] for k, v in rows.items()}
        back = {k: sum(r.levels[e] is not None and (t is None or t > r.levels[e])
                       for r, t in zip(v, stays[k]))
                for k, v in rows.items()}
        cells.append(CrossingCell(
            schedule=cell.schedule, sparsity=cell.sparsity, warmup_steps=cell.warmup_steps,
            crossed_back=back, stayed={k: sum(t is not None for t in v) for k, v in stays.items()},
            auc=cell.comparisons["dense"].auc,
            stay=log_ratio_test([censored(t, budget) for t in stays["dense"]],
                                [censored(t, budget) for t in stays["ticket"]], confidence)))
    return Crossings(endpoint=e, level=level, n=len(study.seeds), exploratory=True,
                     post_hoc=True, cells=cells)


def late_swing(curve: list, budget: int) -> float:
    """The SD of a curve's evaluations over the second half of its budget."""
    late = [v for step, v in curve if step > budget / 2]
    return statistics.stdev(late) if len(late) >= 2 else float("nan")


def steadiness(config: Config, study: Study, store: Store | None = None) -> Steadiness:
    """Late swing and final validation risk (module doc) over the registered seeds: the
    ticket and the dense network at the retraining rate (each schedule, the first
    registered sparsity) and θ* at the mask rate; paired differences ticket − each."""
    r, m = config.registration, config.metrics
    sparsity, confidence = r.sparsities[0], m.confidence
    budget, refs = study.budget, study.references
    sources = mask_sources(config, store)
    networks = {}
    for schedule in ("warmup", "constant"):
        rows = _study_rows(study, schedule, sparsity)
        networks[f"ticket, {schedule}"] = [(x.curve, x.final_risk) for x in rows["ticket"]]
        networks[f"dense, {schedule}"] = [(x.curve, x.final_risk) for x in rows["dense"]]
    star = [describe(run.history, float("nan"), refs, run.summary["steps_run"], config)
            for run in sources.values()]
    networks[f"θ*, LR {r.mask_lr:g}"] = [(x.curve, x.final_risk) for x in star]
    budgets = {name: (star[0].budget if name.startswith("θ*") else budget)
               for name in networks}
    swing = {name: [late_swing(c, budgets[name]) for c, _ in v] for name, v in networks.items()}
    final = {name: [f for _, f in v] for name, v in networks.items()}
    differences = {}
    for schedule in ("warmup", "constant"):
        ticket = f"ticket, {schedule}"
        for other in (f"dense, {schedule}", f"θ*, LR {r.mask_lr:g}"):
            differences[f"{ticket} − {other}"] = SwingDifference(
                late_swing=paired_over_seeds(swing[ticket], swing[other], confidence),
                final_risk=paired_over_seeds(final[ticket], final[other], confidence))
    return Steadiness(
        seeds=list(sources), sparsity=sparsity, exploratory=True, budgets=budgets,
        networks={name: Swing(late_swing=seed_interval(swing[name], confidence),
                              final_risk=seed_interval(final[name], confidence))
                  for name in networks}, differences=differences)
