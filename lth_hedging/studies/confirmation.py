"""Notebook 03's confirmatory study, as registered (``registration`` in the config,
``registration/REGISTRATION.md``) before any of its networks trained.

The condition under which boosting tickets were reported (Bai Li et al. 2020): the mask comes
from θ* trained from θ0 at a small learning rate (``mask_lr``, on the seed's own data order),
ranked per layer; the ticket is retrained from θ0 at a larger rate (``learning_rate``) on a
fresh data order — so that it does not replay the run that made its mask — under two
schedules: a linear warmup from ``mask_lr`` over ``warmup_steps`` (the published condition),
and the constant rate. Every comparator trains on the ticket's exact schedule and data order:

- family A, *boosting*: the ticket against the dense network from θ0, at both schedules and
  every sparsity;
- family B, *more than its density*: the ticket against each control (random re-init,
  rescaled random mask, magnitude at θ0) with warmup, at every sparsity.

Speed is the registered endpoint (``registration.endpoint``, a level of ``speed``) against
R_d — the median over the study's seeds of the constant-schedule dense networks' final
validation risk, one yardstick for both schedules — and the floor R_BS. Per seed the
speed-up is a log ratio (censored runs at the budget); over seeds a geometric mean, Student-t
interval and paired t-test; Holm within each family at ``alpha``. A *boosting ticket* in a
cell: family A rejects with a speed-up above 1, the ticket matches the dense network (test
risk at ``loss.alpha``: the upper bound of ticket − dense over seeds within
``match_margin``), and the endpoint passed its floor control there.
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

SCHEDULES = ("warmup", "constant")
FAMILIES = {"A": "boosting: the ticket against the dense network from θ0",
            "B": "more than its density: the ticket against each control, with warmup"}


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
    """The kinds trained beside the dense network at ``schedule``: the controls only with
    warmup (family B)."""
    return ("ticket", *config.registration.controls) if schedule == "warmup" else ("ticket",)


def train(config: Config, seeds: list[int], store: Store) -> tuple[dict, dict]:
    """Every network of the design on ``seeds`` (the store's, or trained now): the dense
    comparators by (schedule, seed), the cells by (schedule, kind, sparsity, seed)."""
    specs = {(sched, seed): dense_comparator(config, seed, sched) for sched in SCHEDULES
             for seed in seeds}
    dense = dict(zip(specs, train_dense_runs(config, list(specs.values()), store)))
    keys = [(sched, kind, s, seed) for sched in SCHEDULES for s in config.registration.sparsities
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


def compare(ticket: list[Run], other: list[Run], endpoint: str, confidence: float) -> Paired:
    """The ticket's speed-up over ``other`` at every level (log ratios, censored at the
    budget), which of them reaches the endpoint's level where only one does (a sign test: what
    an outcome reports), and ticket − other in AUC, final validation risk and test risk,
    paired by seed."""
    levels = {name: log_ratio_test([censored(o.levels[name], o.budget) for o in other],
                                   [censored(t.levels[name], t.budget) for t in ticket],
                                   confidence)
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


def confirmatory_study(config: Config, store: Store | None = None) -> Study:
    """The registered study (module doc): every network trained or loaded, then the tests."""
    store = store or open_store(config)
    r, m = config.registration, config.metrics
    seeds = registered_seeds(config)
    dense, cells = train(config, seeds, store)
    test = load_split(config, "test")
    budget = budget_steps(config, r.learning_rate)
    name, risk = floor(config)
    constant = [dense[("constant", seed)] for seed in seeds]
    provisional = reference_levels([run.history for run in constant], risk, floor_name=name,
                                   final_evals=m.final_evals)
    dense_risks = {key: dense_test_risk(config, run, test) for key, run in dense.items()}
    margin = margins(config, [{"test_risk": dense_risks[("constant", s)],
                               "final_risk": final_risk(run.history, m.final_evals)}
                              for s, run in zip(seeds, constant)])
    refs = References(provisional.dense, provisional.floor, margin.val_margin,
                      provisional.dense_sd, provisional.n_dense, name)

    def row(history: list[dict], test_risk: float) -> Run:
        return describe(history, test_risk, refs, budget, config)

    floors = {sched: floor_rows(config, refs, budget, Plan(r.learning_rate, seeds[0],
                                                           data_order="fresh",
                                                           **warmup(config, sched)), store)
              for sched in SCHEDULES}
    failed = list(dict.fromkeys(e for f in floors.values() for e in floor_reached(
        f, [row(run.history, dense_risks[key]).auc for key, run in dense.items()]
    )))
    out_cells = []
    for sched in SCHEDULES:
        for s in r.sparsities:
            rows = {kind: [row(cells[(sched, kind, s, seed)].history,
                                     cells[(sched, kind, s, seed)].summary["test_risk"])
                           for seed in seeds] for kind in arms(config, sched)}
            rows["dense"] = [row(dense[(sched, seed)].history,
                                       dense_risks[(sched, seed)]) for seed in seeds]
            comparisons = {kind: unadjusted(compare(rows["ticket"], rows[kind], r.endpoint,
                                                    m.confidence), "A" if kind == "dense" else "B")
                           for kind in rows if kind != "ticket"}
            out_cells.append(StudyCell(
                schedule=sched, sparsity=s,
                warmup_steps=warmup(config, sched).get("warmup_steps", 0),
                rows={k: [replace(row, seed=seed) for seed, row in zip(seeds, v)]
                      for k, v in rows.items()},
                networks={k: summary(v, m.confidence) for k, v in rows.items()},
                comparisons=comparisons))
    families, out_cells = adjust(out_cells, r.alpha, len(seeds), r.power)
    out_cells = [replace(cell, verdict=cell_verdict(cell, r.endpoint in failed, margin.margin))
                 for cell in out_cells]
    return Study(registration=config.to_dict()["registration"], seeds=seeds,
                 endpoint=r.endpoint, references=refs, budget=budget, margin=margin,
                 floors=floors, floor_reached=failed, families=families, cells=out_cells)


def unadjusted(paired: Paired, family: str) -> Comparison:
    """A comparison of ``family`` before Holm's correction (``adjust`` decides the rest)."""
    return Comparison(**vars(paired), family=family, tested=False, p_holm=None,
                      detectable=math.nan, verdict="")


def adjust(cells: list[StudyCell], alpha: float, n: int,
           power: float) -> tuple[dict[str, Family], list[StudyCell]]:
    """Holm within each family over its testable comparisons; every comparison's verdict and
    the speed-up its family could detect with ``power`` at the strictest Holm level. Returns
    the families and the cells with their comparisons adjusted."""
    done: dict[int, Comparison] = {}  # id of a comparison → adjusted
    for c in (c for cell in cells for c in cell.comparisons.values()
              if c.family not in FAMILIES):  # exploratory: unadjusted, no verdict of power
        done[id(c)] = replace(c, tested=False, p_holm=None, detectable=math.nan,
                              verdict=verdict(c.endpoint, _p(c.endpoint.p), alpha))
    families = {}
    for family in FAMILIES:
        members = [c for cell in cells for c in cell.comparisons.values() if c.family == family]
        tested = [c for c in members if testable(c.endpoint)]
        p_holm = {id(c): p for c, p in zip(tested, holm([_p(c.endpoint.p) for c in tested]))}
        for c in members:
            p = p_holm.get(id(c))
            done[id(c)] = replace(
                c, tested=p is not None, p_holm=p,
                verdict=verdict(c.endpoint, p if p is not None else math.nan, alpha),
                detectable=detectable_speedup(c.endpoint.sd, n, alpha / max(len(tested), 1),
                                              power))
        families[family] = Family(question=FAMILIES[family], size=len(tested),
                                  members=len(members), alpha=alpha)
    return families, [replace(cell, comparisons={k: done[id(c)]
                                                 for k, c in cell.comparisons.items()})
                      for cell in cells]


def _p(p: float) -> float:
    """An undefined p-value (no spread at all) enters Holm's family as 1: it rejects nothing."""
    return p if math.isfinite(p) else 1.0


def cell_verdict(cell: StudyCell, floor_failed: bool, margin: float) -> CellVerdict:
    """Whether the ticket matches the dense network (upper bound of ticket − dense test risk
    within ``margin``), is a boosting ticket (also faster than it in family A, with an
    endpoint that passed its floor control) and is faster than every control (family B)."""
    comparisons = cell.comparisons
    dense = comparisons.get("dense")
    hi = dense.test_risk.ci[1] if dense else math.nan
    matches = bool(math.isfinite(hi) and hi <= margin)
    controls = [c for k, c in comparisons.items() if k != "dense"]
    return CellVerdict(
        primary_passes_floor=not floor_failed, matches_dense=matches,
        boosting=matches and not floor_failed and dense.verdict == "faster",
        beats_controls=bool(controls) and not floor_failed and all(
            c.verdict in ("faster", "only the ticket reaches") for c in controls))
