"""Notebook 03's confirmatory study, as registered (``registration`` in the config,
``registration/REGISTRATION<number>.md``) before any of its networks trained.

The mask comes from θ* trained from θ0 at ``mask_lr`` (on the seed's own data order), ranked
as ``scope`` says; the ticket is retrained from θ0 at ``learning_rate`` on a fresh data order —
so that it does not replay the run that made its mask — under each of ``schedules``: a linear
warmup from ``mask_lr`` over ``warmup_steps`` (Bai Li et al.'s condition), and the constant
rate. The comparators:

- family A, *boosting*: the dense network from θ0 on the ticket's exact schedule and data
  order (Li et al.'s comparison), at every schedule and sparsity; and, where ``rival_lr`` is
  set, the dense network at its own best schedule (constant at ``rival_lr``, the
  practitioner's rival), at every sparsity;
- family B, *more than its density*: the ticket against each control (random re-init,
  rescaled random mask, magnitude at θ0, permuted init) on the first schedule.

Speed is the registered endpoint (``registration.endpoint``, a level of ``speed``) against
R_d — the median over the study's seeds of the rival's final validation risk, or without a
rival of the constant-schedule dense networks' — and the floor R_BS. Per seed the speed-up is
a log ratio (a run that never reaches the level counts at its budget, or with ``horizon``
"longest" at the longer budget of the pair); over seeds a geometric mean, Student-t interval
and paired t-test; Holm within each family at ``alpha``, over its members (``holm`` "fixed")
or over those not censored on every seed ("testable", registration 1). A *boosting ticket*
against a family-A rival: faster than it after Holm, matching it (test risk at
``loss.alpha``: the upper bound of ticket − rival over seeds within ``match_margin``), and
the endpoint passed its floor control.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from typing import Any

from ..foundations.config import Config
from ..foundations.records import Record, entry
from ..foundations.store import Store
from ..measures.metrics import (
    LogRatioTest,
    PairedOverSeeds,
    SeedInterval,
    SignTest,
    detectable_speedup,
    holm,
    log_ratio_test,
    paired_over_seeds,
    seed_interval,
    sign_test,
)
from ..measures.speed import (
    ENDPOINTS,
    References,
    censored,
    final_risk,
    is_endpoint,
    reference_levels,
    speed,
)
from ..nets.losses import risk_measure
from .judging import Curve, Margin, Run, curve_of, floor_reached, floor_rows
from .references import floor
from .stages import (
    DenseRun,
    DenseSpec,
    Plan,
    budget_steps,
    deep_hedge_pnl,
    load_model,
    load_split,
    open_store,
    train_dense_runs,
)
from .tickets import Cell, run_cells

FAMILIES = {"A": "boosting: the ticket against the dense network (from θ0 on its schedule; at "
                 "its best schedule)",
            "B": "more than its density: the ticket against each control, first schedule"}
DENSE_KINDS = ("dense", "best_dense")  # family A's comparators


@dataclass(frozen=True, kw_only=True)
class Paired(Record):
    """The ticket against one comparator, paired over seeds (``compare``)."""

    endpoint: LogRatioTest  # at the registered endpoint
    endpoints: dict[str, LogRatioTest]  # at every level of ``speed`` (descriptive)
    reach: SignTest  # which side reaches the level where only one does
    auc: PairedOverSeeds  # ticket − comparator (descriptive)
    final_risk: PairedOverSeeds
    test_risk: PairedOverSeeds


@dataclass(frozen=True, kw_only=True)
class Comparison(Paired):
    """A comparison of the registered study: its family, Holm's p and the verdict."""

    family: str
    tested: bool  # in its family's Holm correction (neither side censored on every seed)
    p_holm: float | None
    detectable: float  # the speed-up 80 % power detects at the family's strictest level
    verdict: str


@dataclass(frozen=True, kw_only=True)
class Reach(Record):
    """One level over seeds: how many reached it, the median steps (censored at the budget)."""

    reached: int
    median: float


@dataclass(frozen=True, kw_only=True)
class KindSummary(Record):
    """One kind of network in one cell, over seeds (``summary``)."""

    n: int
    matches: int
    levels: dict[str, Reach] = entry(flat=True, keys=is_endpoint)
    auc: SeedInterval
    final_risk: SeedInterval
    test_risk: SeedInterval


@dataclass(frozen=True, kw_only=True)
class CellVerdict(Record):
    primary_passes_floor: bool
    matches_dense: bool
    boosting: bool
    beats_controls: bool
    # against the dense network at its best schedule (registration 2 on; absent before)
    matches_best_dense: bool | None = entry(optional=True)
    boosting_best_dense: bool | None = entry(optional=True)


@dataclass(frozen=True, kw_only=True)
class StudyCell(Record):
    schedule: str
    sparsity: float
    warmup_steps: int
    rows: dict[str, list[Run]]  # kind → one row per seed
    networks: dict[str, KindSummary]
    comparisons: dict[str, Comparison]
    verdict: CellVerdict | None = entry(optional=True)


@dataclass(frozen=True, kw_only=True)
class Family(Record):
    question: str
    size: int  # comparisons tested (in Holm's correction)
    members: int
    alpha: float


@dataclass(frozen=True, kw_only=True)
class Study(Record):
    registration: dict[str, Any]  # the config's registration section, as run
    # how it departs from the registered file (``registration.departures``): empty where the
    # run is the registered one; else every output says it is exploratory
    departures: list[str] = entry(optional=True)
    seeds: list[int]
    endpoint: str
    references: References
    budget: int
    margin: Margin
    floors: dict[str, dict[str, Curve]]  # schedule → floor control → its curve
    floor_reached: list[str]
    families: dict[str, Family]
    cells: list[StudyCell]


def registered_seeds(config: Config) -> list[int]:
    r = config.registration
    return [r.first_seed + i for i in range(r.n_seeds)]


def warmup(config: Config, schedule: str) -> dict:
    """The warmup fields of ``schedule``: linear from the mask's rate, or none."""
    r = config.registration
    if schedule == "constant":
        return {}
    return {"warmup_steps": r.warmup_steps, "warmup_from": r.mask_lr}


def study_cell(config: Config, kind: str, sparsity: float, seed: int, schedule: str,
               data_order: str = "fresh", scope: str | None = None) -> Cell:
    r = config.registration
    return Cell(kind, sparsity, r.learning_rate, seed, r.mask_lr, data_order=data_order,
                scope=scope or r.scope, **warmup(config, schedule))


def dense_comparator(config: Config, seed: int, schedule: str,
                     data_order: str = "fresh") -> DenseSpec:
    r = config.registration
    return DenseSpec(config.hedging.cost, Plan(r.learning_rate, seed, data_order=data_order,
                                               **warmup(config, schedule)))


def best_dense(config: Config, seed: int) -> DenseSpec:
    """The practitioner's rival: the dense network from θ0 at its own best schedule (constant
    at ``rival_lr``), on the ticket's fresh data order and its own budget."""
    return DenseSpec(config.hedging.cost, Plan(config.registration.rival_lr, seed,
                                               data_order="fresh"))


def mask_sources(config: Config, store: Store | None = None) -> dict[int, DenseRun]:
    """θ* of every registered seed: the dense network from θ0 at ``mask_lr`` on the seed's
    own data order, whose weights make the masks."""
    seeds = registered_seeds(config)
    specs = [DenseSpec(config.hedging.cost, Plan(config.registration.mask_lr, s)) for s in seeds]
    return dict(zip(seeds, train_dense_runs(config, specs, store or open_store(config))))


def study_results(config: Config, schedule: str, kind: str,
                  store: Store | None = None) -> dict[float, dict]:
    """The trained cells of one kind at one schedule: sparsity → seed → ``CellResult``."""
    seeds, store = registered_seeds(config), store or open_store(config)
    out = {}
    for s in config.registration.sparsities:
        cells = [study_cell(config, kind, s, seed, schedule) for seed in seeds]
        out[s] = dict(zip(seeds, run_cells(config, cells, store)))
    return out


def arms(config: Config, schedule: str) -> tuple[str, ...]:
    """The kinds trained beside the dense network at ``schedule``: the controls only on the
    first registered schedule (family B)."""
    r = config.registration
    return ("ticket", *r.controls) if schedule == r.schedules[0] else ("ticket",)


def train(config: Config, seeds: list[int], store: Store) -> tuple[dict, dict]:
    """Every network of the design on ``seeds`` (the store's, or trained now): the dense
    networks by (schedule, seed) — the rival's schedule named "best" —, the cells by
    (schedule, kind, sparsity, seed)."""
    r = config.registration
    specs = {(sched, seed): dense_comparator(config, seed, sched) for sched in r.schedules
             for seed in seeds}
    if r.rival_lr is not None:
        specs.update({("best", seed): best_dense(config, seed) for seed in seeds})
    dense = dict(zip(specs, train_dense_runs(config, list(specs.values()), store)))
    keys = [(sched, kind, s, seed) for sched in r.schedules for s in r.sparsities
            for kind in arms(config, sched) for seed in seeds]
    cells = [study_cell(config, kind, s, seed, sched) for sched, kind, s, seed in keys]
    return dense, dict(zip(keys, run_cells(config, cells, store)))


def describe(history: list[dict], test_risk: float, refs: References, budget: int,
             config: Config) -> Run:
    """One network: every speed measure against ``refs`` and its test risk (``loss.alpha``)."""
    m = config.metrics
    measured = speed(history, refs, budget=budget, window=m.window, final_evals=m.final_evals)
    return Run(**vars(measured), test_risk=test_risk, curve=curve_of(history))


def dense_test_risk(config: Config, run: DenseRun, test) -> float:
    model = load_model(config, run.theta_star, cost=run.cost)
    return float(risk_measure(deep_hedge_pnl(model, test, run.cost), config))


def compare(ticket: list[Run], other: list[Run], endpoint: str, confidence: float,
            horizon: str = "own") -> Paired:
    """The ticket's speed-up over ``other`` at every level (log ratios; a run that never
    reaches a level counts at its own budget, or with ``horizon`` "longest" at the longer
    budget of its pair: a side that stopped sooner is not credited with its shorter run),
    which of them reaches the endpoint's level where only one does (a sign test: what an
    outcome reports), and ticket − other in AUC, final validation risk and test risk, paired
    by seed."""
    def at(run: Run, pair: Run, name: str) -> tuple[float, bool]:
        budget = max(run.budget, pair.budget) if horizon == "longest" else run.budget
        return censored(run.levels[name], budget)

    levels = {name: log_ratio_test([at(o, t, name) for o, t in zip(other, ticket)],
                                   [at(t, o, name) for o, t in zip(other, ticket)], confidence)
              for name in ENDPOINTS}

    def paired(key: str) -> PairedOverSeeds:
        return paired_over_seeds([getattr(t, key) for t in ticket],
                                 [getattr(o, key) for o in other], confidence)

    return Paired(endpoint=levels[endpoint], endpoints=levels,
                  reach=sign_test([t.levels[endpoint] is not None for t in ticket],
                                  [o.levels[endpoint] is not None for o in other]),
                  auc=paired("auc"), final_risk=paired("final_risk"),
                  test_risk=paired("test_risk"))


def testable(test: LogRatioTest) -> bool:
    """A comparison is a test when neither side is censored on every seed; else its ratio
    only bounds the speed-up by the budget — an outcome, kept out of Holm's family."""
    return test.censored_reference < test.n and test.censored_other < test.n


def verdict(test: LogRatioTest, p: float, alpha: float) -> str:
    """'faster' / 'slower' where the (Holm-adjusted) test rejects, 'indistinguishable' where
    it does not; where every run on one side is censored, what was reached."""
    n = test.n
    other_out, ticket_out = test.censored_reference == n, test.censored_other == n
    if other_out or ticket_out:
        return {(True, True): "neither reaches", (False, True): "never reaches",
                (True, False): "only the ticket reaches"}[(other_out, ticket_out)]
    if not p < alpha:
        return "indistinguishable"
    return "faster" if test.speedup > 1 else "slower"


def summary(rows: list[Run], confidence: float) -> KindSummary:
    """One kind over seeds: per level reached/n and the median steps (censored at the
    budget); means with Student-t intervals of AUC, final validation risk and test risk."""
    levels = {name: Reach(reached=sum(r.levels[name] is not None for r in rows),
                          median=statistics.median(censored(r.levels[name], r.budget)[0]
                                                   for r in rows))
              for name in ENDPOINTS}
    return KindSummary(n=len(rows), matches=sum(r.matches for r in rows), levels=levels,
                       **{key: seed_interval([getattr(r, key) for r in rows], confidence)
                          for key in ("auc", "final_risk", "test_risk")})


def margins(config: Config, dense_rows: list[dict]) -> Margin:
    """The matching margins: the registered one in test risk (or, when null, twice the dense
    networks' seed-to-seed SD), and twice their SD of final validation risk for a curve's own
    "matches" (descriptive)."""
    registered = config.registration.match_margin
    sd = statistics.stdev(r["test_risk"] for r in dense_rows)
    return Margin(margin=registered if registered is not None else 2 * sd, dense_sd=sd,
                  source="registered" if registered is not None else "2 × the dense networks' SD",
                  val_margin=2 * statistics.stdev(r["final_risk"] for r in dense_rows))


def confirmatory_study(config: Config, store: Store | None = None,
                       departures: list[str] | None = None) -> Study:
    """The registered study (module doc): every network trained or loaded, then the tests.
    ``departures``: how the config departs from the registered file (``registration``)."""
    store = store or open_store(config)
    r, m = config.registration, config.metrics
    seeds = registered_seeds(config)
    dense, cells = train(config, seeds, store)
    test = load_split(config, "test")
    budget = budget_steps(config, r.learning_rate)
    name, risk = floor(config)
    yard = "best" if r.rival_lr is not None else "constant"  # R_d and the margin's networks
    yardstick = [dense[(yard, seed)] for seed in seeds]
    provisional = reference_levels([run.history for run in yardstick], risk, floor_name=name,
                                   final_evals=m.final_evals)
    dense_risks = {key: dense_test_risk(config, run, test) for key, run in dense.items()}
    margin = margins(config, [{"test_risk": dense_risks[(yard, s)],
                               "final_risk": final_risk(run.history, m.final_evals)}
                              for s, run in zip(seeds, yardstick)])
    refs = References(provisional.dense, provisional.floor, margin.val_margin,
                      provisional.dense_sd, provisional.n_dense, name)

    def row(history: list[dict], test_risk: float, lr: float = r.learning_rate) -> Run:
        return describe(history, test_risk, refs, budget_steps(config, lr), config)

    floors = {sched: floor_rows(config, refs, budget, Plan(r.learning_rate, seeds[0],
                                                           data_order="fresh",
                                                           **warmup(config, sched)), store)
              for sched in r.schedules}
    failed = list(dict.fromkeys(e for f in floors.values() for e in floor_reached(
        f, [row(run.history, dense_risks[key]).auc for key, run in dense.items()
            if key[0] != "best"]
    )))
    rival = ([row(dense[("best", seed)].history, dense_risks[("best", seed)], r.rival_lr)
              for seed in seeds] if r.rival_lr is not None else None)
    out_cells = []
    for sched in r.schedules:
        for s in r.sparsities:
            rows = {kind: [row(cells[(sched, kind, s, seed)].history,
                               cells[(sched, kind, s, seed)].summary["test_risk"])
                           for seed in seeds] for kind in arms(config, sched)}
            rows["dense"] = [row(dense[(sched, seed)].history,
                                 dense_risks[(sched, seed)]) for seed in seeds]
            if rival is not None:
                rows["best_dense"] = rival
            comparisons = {kind: unadjusted(compare(rows["ticket"], rows[kind], r.endpoint,
                                                    m.confidence, r.horizon),
                                            "A" if kind in DENSE_KINDS else "B")
                           for kind in rows if kind != "ticket"}
            out_cells.append(StudyCell(
                schedule=sched, sparsity=s,
                warmup_steps=warmup(config, sched).get("warmup_steps", 0),
                rows={k: [replace(row, seed=seed) for seed, row in zip(seeds, v)]
                      for k, v in rows.items()},
                networks={k: summary(v, m.confidence) for k, v in rows.items()},
                comparisons=comparisons))
    if rival is not None:  # the rival's schedule does not depend on the ticket's: one
        # comparison per sparsity in family A, on the first schedule's cells
        out_cells = [cell if cell.schedule == r.schedules[0] else replace(
            cell, comparisons={k: c for k, c in cell.comparisons.items() if k != "best_dense"})
            for cell in out_cells]
    families, out_cells = adjust(out_cells, r.alpha, len(seeds), r.power, r.holm)
    out_cells = [replace(cell, verdict=cell_verdict(cell, r.endpoint in failed, margin.margin))
                 for cell in out_cells]
    return Study(registration=config.to_dict()["registration"], departures=departures,
                 seeds=seeds, endpoint=r.endpoint, references=refs, budget=budget,
                 margin=margin, floors=floors, floor_reached=failed, families=families,
                 cells=out_cells)


def unadjusted(paired: Paired, family: str) -> Comparison:
    """A comparison of ``family`` before Holm's correction (``adjust`` decides the rest)."""
    return Comparison(**vars(paired), family=family, tested=False, p_holm=None,
                      detectable=math.nan, verdict="")


def adjust(cells: list[StudyCell], alpha: float, n: int, power: float,
           holm_size: str = "testable") -> tuple[dict[str, Family], list[StudyCell]]:
    """Holm within each family: over its testable comparisons (``holm_size`` "testable"), or
    over all its members, fixed in advance ("fixed": an outcome — one side censored on every
    seed — keeps its place with p = 1); every comparison's verdict and the speed-up its family
    could detect with ``power`` at the strictest Holm level. Returns the families and the
    cells with their comparisons adjusted."""
    done: dict[int, Comparison] = {}  # id of a comparison → adjusted
    for c in (c for cell in cells for c in cell.comparisons.values()
              if c.family not in FAMILIES):  # exploratory: unadjusted, no verdict of power
        done[id(c)] = replace(c, tested=False, p_holm=None, detectable=math.nan,
                              verdict=verdict(c.endpoint, _p(c.endpoint.p), alpha))
    families = {}
    for family in FAMILIES:
        members = [c for cell in cells for c in cell.comparisons.values() if c.family == family]
        tested = [c for c in members if testable(c.endpoint)]
        ps = [_p(c.endpoint.p) for c in tested]
        size = len(members) if holm_size == "fixed" else len(tested)
        adjusted = holm(ps + [1.0] * (size - len(tested)))  # outcomes hold their places
        p_holm = {id(c): p for c, p in zip(tested, adjusted)}
        for c in members:
            p = p_holm.get(id(c))
            done[id(c)] = replace(
                c, tested=p is not None, p_holm=p,
                verdict=verdict(c.endpoint, p if p is not None else math.nan, alpha),
                detectable=detectable_speedup(c.endpoint.sd, n, alpha / max(size, 1), power))
        families[family] = Family(question=FAMILIES[family], size=size,
                                  members=len(members), alpha=alpha)
    return families, [replace(cell, comparisons={k: done[id(c)]
                                                 for k, c in cell.comparisons.items()})
                      for cell in cells]


def _p(p: float) -> float:
    """An undefined p-value (no spread at all) enters Holm's family as 1: it rejects nothing."""
    return p if math.isfinite(p) else 1.0


def cell_verdict(cell: StudyCell, floor_failed: bool, margin: float) -> CellVerdict:
    """Against each family-A rival: whether the ticket matches it (upper bound of ticket −
    rival test risk within ``margin``) and is a boosting ticket against it (also faster in
    family A, with an endpoint that passed its floor control); and whether it is faster than
    every control (family B)."""
    comparisons = cell.comparisons

    def matches(kind: str) -> bool:
        hi = comparisons[kind].test_risk.ci[1]
        return bool(math.isfinite(hi) and hi <= margin)

    def boosting(kind: str) -> bool:
        return matches(kind) and not floor_failed and comparisons[kind].verdict == "faster"

    controls = [c for k, c in comparisons.items() if k not in DENSE_KINDS]
    best = "best_dense" in comparisons
    return CellVerdict(
        primary_passes_floor=not floor_failed, matches_dense=matches("dense"),
        boosting=boosting("dense"),
        beats_controls=bool(controls) and not floor_failed and all(
            c.verdict in ("faster", "only the ticket reaches") for c in controls),
        matches_best_dense=matches("best_dense") if best else None,
        boosting_best_dense=boosting("best_dense") if best else None)
