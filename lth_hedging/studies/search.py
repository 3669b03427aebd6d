"""Notebook 02's search over seeds (exploratory): where a boosting ticket could live, by the
rule the config's ``search`` section fixes before the search runs (successive halving).

A search cell is one point of the space: how the ticket is made (one-shot or IMP, and the
magnitude ranking), the rate that trained θ* (whose weights make the mask), the retraining
rate with its warmup and decay, the sparsity and the width. Every ticket is retrained from θ0
on a fresh data order (never replaying the run that made its mask) beside the dense network
from θ0 on exactly its schedule; both are timed against one yardstick per width: R_d, the
median final validation risk of the dense networks at ``training.learning_rate`` (constant)
on the first round's seeds, and R_BS, the floor (``references.floor``).

Per seed the ticket's speed-up is T_dense / T_ticket at ``search.endpoint`` (first
crossing, censored at the budget), its score the mean log speed-up over the seeds it ran on,
among cells whose ticket matches its dense network (mean ticket − dense test risk within the
matching margin). Round r trains the surviving cells on the first ``seeds[r]`` seeds; the best
``keep`` share of them by score (at least one) goes on. The dense network's own schedules
(the practitioner's rival) are searched the same way, scored against the dense network at
``training.learning_rate``, constant. Beside the score, two endpoints are reported: the
settling step (``speed.settle_step``: the level held ``settle_hold`` steps) and Frankle &
Carbin's early-stopping step (the best validation risk, where it matches R_d), each with the
floor control of ``speed``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
from dataclasses import dataclass

from ..foundations.config import Config
from ..foundations.records import Record
from ..foundations.store import Store
from ..measures.metrics import LogRatioTest, log_ratio_test
from ..measures.speed import ENDPOINTS, References, censored, reference_levels, settle_step
from ..nets.train import steps_per_epoch
from .confirmation import Paired, compare, dense_test_risk, describe
from .judging import Curve, Run, floor_reached, floor_rows
from .pilot import widened
from .references import floor
from .stages import DenseSpec, Plan, budget_steps, load_split, open_store, train_dense_runs
from .tickets import Cell, run_cells


@dataclass(frozen=True, kw_only=True)
class Point(Record):
    """One point of the search's space (a ticket cell, or a dense schedule: no construction,
    mask rate or sparsity)."""

    construction: str | None = None  # "<method>:<ranking>"
    mask_lr: float | None = None
    learning_rate: float
    warmup: str  # "none", "zero" (linear from 0) or "mask" (from θ*'s rate)
    decay: str
    sparsity: float | None = None
    width: float

    def dense(self) -> Point:
        """The dense network on this point's schedule (its rival; itself for a dense point)."""
        return Point(learning_rate=self.learning_rate, warmup=self.warmup, decay=self.decay,
                     width=self.width, mask_lr=self.mask_lr if self.warmup == "mask" else None)

    def schedule(self) -> str:
        start = (f"warmup from {self.mask_lr:g}" if self.warmup == "mask" else
                 {"none": "no warmup", "zero": "warmup from 0"}[self.warmup])
        return f"LR {self.learning_rate:g}, {start}, {self.decay}"

    def label(self) -> str:
        """'one-shot:layer 80%, θ* 0.005 → LR 0.01, warmup from 0.005, constant' (a dense
        point: 'dense: LR 0.01, …'); ', ×2' where the width is not 1."""
        width = "" if self.width == 1.0 else f", ×{self.width:g}"
        if self.construction is None:
            return f"dense: {self.schedule()}{width}"
        return (f"{self.construction} {self.sparsity:.0%}, θ* {self.mask_lr:g} → "
                f"{self.schedule()}{width}")


@dataclass(frozen=True, kw_only=True)
class Scored(Record):
    """A point after the last round it ran in: the ticket (or the dense schedule) against
    its rival over seeds, at the endpoint (``paired.endpoint``), settling and early stopping."""

    point: Point
    round: int  # the last round it ran in (0: the first)
    seeds: list[int]
    paired: Paired  # ticket − rival: speed at every level, AUC, final and test risk
    settle: LogRatioTest
    early_stop: LogRatioTest
    matches: bool  # mean test risk − the rival's within the margin
    score: float | None  # mean log speed-up at the endpoint; None: does not match
    budget: int
    network_epochs: float  # its cost: the epochs its networks trained over its seeds (θ* aside;
    # IMP's earlier rounds counted), times width² (a wider network's cost in width-1 epochs)
    rows: dict[str, list[Run]]  # "ticket"/"dense" (or "dense"/"reference") → one per seed


@dataclass(frozen=True, kw_only=True)
class Search(Record):
    rule: dict  # the config's search section, as run
    seeds: list[int]
    endpoint: str
    margin: float
    references: dict[str, References]  # by width
    floors: dict[str, dict[str, Curve]]  # by schedule → floor control
    floor_reached: list[str]
    tickets: list[Scored]  # every sampled cell, after its last round
    dense: list[Scored]  # every dense schedule, against the reference dense network
    survivors: list[str]  # the last round's matching cells, best first (labels)
    best_dense: str | None  # the best matching dense schedule (None: none matches)
    reference: str  # the dense schedule the others are scored against
    # each survivor against the practitioner's rivals on its seeds (computed after the rule,
    # from the stored networks): "best dense" (the dense search's winner) and "reference"
    rivals: dict[str, dict[str, Paired]]
    # each survivor on the seeds that did not select it (those of its last round only)
    fresh: dict[str, Paired]
    exploratory: bool = True


def space(config: Config) -> list[Point]:
    """Every point of the ticket space at the first width; a warmup from θ*'s rate is left
    out where that rate is above the retraining rate (it would not warm up). The further
    widths (×2 costs about 4× the compute, ×4 about 16×) are spent where the halving sends
    them: on the last round's survivors (``run_search``)."""
    s = config.search
    return [Point(construction=c, mask_lr=m, learning_rate=lr, warmup=w, decay=d, sparsity=sp,
                  width=s.widths[0])
            for c in s.constructions for m in s.mask_lrs for lr in s.learning_rates
            for w in s.warmups for d in s.decays for sp in s.sparsities
            if not (w == "mask" and m > lr)]


def sample(config: Config) -> list[Point]:
    """The first round's cells: ``search.cells`` points drawn uniformly without replacement
    (``search.sample_seed``), in the space's order."""
    points = space(config)
    chosen = set(random.Random(config.search.sample_seed).sample(
        range(len(points)), min(config.search.cells, len(points))))
    return [p for i, p in enumerate(points) if i in chosen]


def search_seeds(config: Config) -> list[int]:
    s = config.search
    return [s.first_seed + i for i in range(s.seeds[-1])]


def imp_rounds(sparsity: float, rate: float) -> int:
    """Rounds of ``rate`` that come nearest to ``sparsity`` (at least 2: one is one-shot)."""
    return max(2, round(math.log(1 - sparsity) / math.log(1 - rate)))


def plan(config: Config, p: Point, seed: int) -> Plan:
    s = config.search
    start = {"none": None, "zero": 0.0, "mask": p.mask_lr}[p.warmup]
    warm = {} if start is None else {"warmup_steps": s.warmup_steps, "warmup_from": start}
    return Plan(p.learning_rate, seed, data_order="fresh", decay=p.decay, **warm)


def ticket(config: Config, p: Point, seed: int) -> Cell:
    """The ticket of ``p`` on ``seed``: θ* at the mask rate on the seed's own order, the mask
    as the construction says, retrained from θ0 on a fresh order as ``plan`` says."""
    method, ranking = p.construction.split(":")
    rounds = imp_rounds(p.sparsity, config.search.imp_rate) if method == "imp" else 1
    q = plan(config, p, seed)
    return Cell("ticket", p.sparsity, p.learning_rate, seed, p.mask_lr, rounds,
                warmup_steps=q.warmup_steps, warmup_from=q.warmup_from,
                data_order=q.data_order, scope=ranking, decay=q.decay)


def reference_point(config: Config, width: float) -> Point:
    return Point(learning_rate=config.training.learning_rate, warmup="none", decay="constant",
                 width=width)


class Searcher:
    """Trains what the store lacks and measures it, one width's config per point."""

    def __init__(self, config: Config, store: Store):
        self.config, self.store = config, store
        self.test = load_split(config, "test")
        self.seeds = search_seeds(config)
        first = self.seeds[:config.search.seeds[0]]
        self.floor_name, self.floor_risk = floor(config)
        self.refs = {}
        self.risks: dict[str, float] = {}  # a dense network's test risk, by its stored folder
        self.reference_risks = []
        for width in config.search.widths:
            runs = self.dense(reference_point(config, width), first)
            self.refs[width] = reference_levels([r.history for r in runs], self.floor_risk,
                                                final_evals=config.metrics.final_evals,
                                                floor_name=self.floor_name)
            if width == config.search.widths[0]:
                self.reference_risks = [self.test_risk(config, r) for r in runs]
        m = config.search.match_margin
        self.margin = m if m is not None else 2 * statistics.stdev(self.reference_risks)

    def test_risk(self, config: Config, run) -> float:
        """A dense network's test risk, computed once: rounds and rivals share networks."""
        if run.folder.name not in self.risks:
            self.risks[run.folder.name] = dense_test_risk(config, run, self.test)
        return self.risks[run.folder.name]

    def dense(self, p: Point, seeds: list[int]):
        wide = widened(self.config, p.width)
        specs = [DenseSpec(self.config.hedging.cost, plan(self.config, p, s)) for s in seeds]
        return train_dense_runs(wide, specs, self.store)

    def train(self, points: list[Point], seeds: list[int]) -> None:
        """Every network ``points`` need on ``seeds``, the missing ones together per width
        (stacks stay full: ``fit_ensemble``); ``rows`` then loads them."""
        for width in dict.fromkeys(p.width for p in points):
            wide, here = widened(self.config, width), [p for p in points if p.width == width]
            dense = [p.dense() for p in here]
            dense += [reference_point(self.config, width)] if any(
                p.construction is None for p in here) else []
            specs = list(dict.fromkeys(DenseSpec(self.config.hedging.cost,
                                                 plan(self.config, p, s))
                                       for p in dense for s in seeds))
            train_dense_runs(wide, specs, self.store)
            cells = [ticket(self.config, p, s) for p in here if p.construction for s in seeds]
            if cells:
                run_cells(wide, cells, self.store)

    def rows(self, p: Point, seeds: list[int]) -> dict[str, list[Run]]:
        """The ticket and its dense rival (a dense point: it and the reference) per seed."""
        config, wide = self.config, widened(self.config, p.width)
        refs = self.refs[p.width]

        def row(history: list[dict], test_risk: float, seed: int, lr: float) -> Run:
            run = describe(history, test_risk, refs, budget_steps(config, lr), config)
            return dataclasses.replace(run, seed=seed)

        def dense(q: Point) -> list[Run]:
            return [row(d.history, self.test_risk(wide, d), s, q.learning_rate)
                    for s, d in zip(seeds, self.dense(q, seeds))]

        if p.construction is None:
            return {"dense": dense(p), "reference": dense(reference_point(config, p.width))}
        cells = run_cells(wide, [ticket(config, p, s) for s in seeds], self.store)
        return {"ticket": [row(c.history, c.summary["test_risk"], s, p.learning_rate)
                           for s, c in zip(seeds, cells)], "dense": dense(p)}

    def score(self, p: Point, round_: int, seeds: list[int]) -> Scored:
        s, config = self.config.search, self.config
        rows = self.rows(p, seeds)
        fast, rival = (rows["ticket"], rows["dense"]) if "ticket" in rows else \
            (rows["dense"], rows["reference"])
        paired = compare(fast, rival, s.endpoint, config.metrics.confidence)
        level = self.refs[p.width].level(ENDPOINTS[s.endpoint])

        def steps(runs: list[Run], what) -> list[tuple[int, bool]]:
            return [censored(what(r), r.budget) for r in runs]

        def settled(r: Run) -> int | None:
            return settle_step([{"step": a, "val_risk": b} for a, b in r.curve], level,
                               config.metrics.window, s.settle_hold)

        conf = config.metrics.confidence
        matches = paired.test_risk.mean <= self.margin
        return Scored(
            point=p, round=round_, seeds=seeds, paired=paired,
            settle=log_ratio_test(steps(rival, settled), steps(fast, settled), conf),
            early_stop=log_ratio_test(steps(rival, lambda r: r.best_step),
                                      steps(fast, lambda r: r.best_step), conf),
            matches=matches, score=statistics.mean(paired.endpoint.log_ratios) if matches
            else None, budget=fast[0].budget, network_epochs=self.cost(p, seeds), rows=rows)

    def cost(self, p: Point, seeds: list[int]) -> float:
        """``Scored.network_epochs`` of ``p`` on ``seeds``."""
        config = self.config
        steps = 2 * budget_steps(config, p.learning_rate)  # the network and its rival
        if p.construction is None:
            steps += budget_steps(config, config.training.learning_rate) - \
                budget_steps(config, p.learning_rate)  # the rival is the reference
        else:
            cell = ticket(config, p, seeds[0]).parent()
            while cell is not None:  # IMP: every earlier round trains at θ*'s rate
                steps += budget_steps(config, cell.learning_rate)
                cell = cell.parent()
        per_epoch = steps_per_epoch(config.data.n_paths["train"], config.training.batch_size)
        return len(seeds) * steps / per_epoch * p.width ** 2


def halve(config: Config, points: list[Point],
          searcher: Searcher) -> tuple[list[Scored], list[Point]]:
    """Successive halving (module doc): every point's result after its last round, and the
    last round's matching points, best first (none where nothing matches: the search stops)."""
    s = config.search
    seeds = search_seeds(config)
    last: dict[Point, Scored] = {}
    alive = list(points)
    for r, n in enumerate(s.seeds):
        searcher.train(alive, seeds[:n])
        for p in alive:
            last[p] = searcher.score(p, r, seeds[:n])
        ranked = sorted((p for p in alive if last[p].score is not None),
                        key=lambda p: -last[p].score)  # stable: ties keep the space's order
        alive = ranked if r == len(s.seeds) - 1 else \
            ranked[:max(1, math.ceil(s.keep * len(alive)))]
        if not alive:
            break
    return [last[p] for p in points if p in last], alive


def run_search(config: Config, store: Store | None = None) -> Search:
    """The search as the config's rule says (module doc)."""
    store = store or open_store(config)
    s = config.search
    searcher = Searcher(config, store)
    points = sample(config)
    tickets, survivors = halve(config, points, searcher)
    # capacity, where the halving sent the budget: the survivors at every further width, on
    # the seeds they were promoted on (a wider network costs about width² as much)
    r = max(len(s.seeds) - 2, 0)
    wider = [dataclasses.replace(p, width=w) for p in survivors for w in s.widths[1:]]
    searcher.train(wider, searcher.seeds[:s.seeds[r]])
    tickets += [searcher.score(p, r, searcher.seeds[:s.seeds[r]]) for p in wider]
    schedules = list(dict.fromkeys(p.dense() for p in points))
    dense, best = halve(config, schedules, searcher)
    floors = {}
    refs = searcher.refs[s.widths[0]]
    for p in points:  # a floor control per schedule: classical hedges frozen, only y trains
        if p.schedule() not in floors:
            floors[p.schedule()] = floor_rows(config, refs, budget_steps(config, p.learning_rate),
                                              plan(config, p, searcher.seeds[0]), store)
    aucs = [r.auc for x in tickets for r in x.rows["dense"]]
    failed = list(dict.fromkeys(e for f in floors.values() for e in floor_reached(f, aucs)))
    rivals, fresh = {}, {}
    scored = {x.point: x for x in tickets}
    best_rows = dense[[x.point for x in dense].index(best[0])].rows if best else None
    for p in survivors:
        x = scored[p]
        ticket = x.rows["ticket"]
        against = {"reference": best_rows["reference"]} if best_rows else {}
        if best_rows:
            against["best dense"] = best_rows["dense"]
        rivals[p.label()] = {name: compare(ticket, _on(rows, x.seeds), s.endpoint,
                                           config.metrics.confidence)
                             for name, rows in against.items() if _on(rows, x.seeds)}
        chose = searcher.seeds[:s.seeds[-2]] if len(s.seeds) > 1 else []
        new = [seed for seed in x.seeds if seed not in chose]
        if len(new) >= 2:
            fresh[p.label()] = compare(_on(ticket, new), _on(x.rows["dense"], new), s.endpoint,
                                       config.metrics.confidence)
    return Search(rule=config.to_dict()["search"], seeds=searcher.seeds, endpoint=s.endpoint,
                  margin=searcher.margin,
                  references={f"{w:g}": r for w, r in searcher.refs.items()}, floors=floors,
                  floor_reached=failed, tickets=tickets, dense=dense,
                  survivors=[p.label() for p in survivors],
                  best_dense=best[0].label() if best else None,
                  reference=reference_point(config, s.widths[0]).label(), rivals=rivals,
                  fresh=fresh)


def _on(rows: list[Run], seeds: list[int]) -> list[Run]:
    """The runs of ``seeds``, in their order (empty where one is missing)."""
    by_seed = {r.seed: r for r in rows}
    return [by_seed[s] for s in seeds] if all(s in by_seed for s in seeds) else []
