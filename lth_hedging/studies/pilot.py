"""The pilot: the controlled study on the grid's diagonal, which was notebook 03's until the
registered study replaced it (``confirmation``). Its stored histories chose the registered
endpoint and number of seeds (``registration``); ``tools/register.py`` reruns it.

At every ``pilot`` width × learning rate × sparsity, over ``n_seeds`` seeds (each
drawing θ0 and one data order shared by all its networks), the ticket beside its comparators
— the dense network from θ0 at the same rate (which is also the θ* that made the mask: mask
LR = retraining LR, so the ticket replays its data order), random re-init, random mask (plain
or rescaled), a small dense network with as many weights as the ticket keeps. Paired per
seed, speed-ups as log ratios with censoring, Holm over one family (width 1, every rate ×
sparsity × comparator, at ``pilot.primary``), as ``confirmation`` tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace

from ..foundations.config import Config
from ..foundations.records import Record, entry
from ..foundations.store import Store
from ..measures.speed import References
from .confirmation import (
    CellVerdict,
    Comparison,
    KindSummary,
    adjust,
    cell_verdict,
    compare,
    summary,
    unadjusted,
)
from .judging import (
    Curve,
    Judge,
    Margin,
    NetworkRow,
    dense_runs,
    floor_reached,
    floor_rows,
    references,
    study_margin,
    study_seeds,
)
from .stages import Plan, open_store
from .tickets import KINDS, Cell, run_cells

ALPHA = 0.05  # family-wise error rate of the pilot's family


@dataclass(frozen=True, kw_only=True)
class PilotCell(Record):
    """One width × rate × sparsity of the pilot."""

    width: float
    hidden: list[int]
    learning_rate: float
    sparsity: float
    confirmatory: bool
    references: References
    budget: int
    floors: dict[str, Curve]
    floor_reached: list[str]
    rows: dict[str, list[NetworkRow]]  # kind → one row per seed
    networks: dict[str, KindSummary]
    comparisons: dict[str, Comparison]
    verdict: CellVerdict | None = entry(optional=True)


@dataclass(frozen=True, kw_only=True)
class Pilot(Record):
    seeds: list[int]
    primary: str
    alpha: float
    confidence: float
    margin: Margin
    comparators: list[str]
    family_size: int
    cells: list[PilotCell]


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


def controls_over_seeds(config: Config, store: Store | None = None) -> Pilot:
    """The pilot study (module doc); one entry per width × rate × sparsity."""
    store = store or open_store(config)
    ch, confidence = config.pilot, config.metrics.confidence
    seeds, margin = study_seeds(config), study_margin(config, store=store)
    kinds = ["ticket", *[c for c in ch.comparators if c in KINDS]]
    cells = []
    for width in ch.widths:
        wide = widened(config, width)
        for lr in ch.learning_rates:
            runs = dense_runs(wide, lr, seeds, store)
            judge = Judge(wide, store, references(wide, runs, margin.val_margin), lr,
                          margin.margin)
            pairs = {seed: (run.folder.name, judge.dense_pnl(run))
                     for seed, run in zip(seeds, runs)}
            dense = [replace(judge.describe_dense(run), seed=seed)
                     for seed, run in zip(seeds, runs)]
            floors = floor_rows(wide, judge.refs, judge.budget, Plan(lr, seeds[0]), store)
            failed = floor_reached(floors, [r.auc for r in dense])
            todo = [Cell(kind, s, lr, seed, lr) for s in ch.sparsities for kind in kinds
                    for seed in seeds]
            trained = dict(zip(todo, run_cells(wide, todo, store)))
            for s in ch.sparsities:
                rows = {kind: [replace(judge.describe_cell(
                    trained[Cell(kind, s, lr, seed, lr)], pairs[seed]), seed=seed)
                    for seed in seeds] for kind in kinds}
                rows["dense"] = dense
                if "small_dense" in ch.comparators:
                    small = small_dense_config(wide, s)
                    rows["small_dense"] = [
                        replace(judge.describe_dense(run, small, pairs[seed]), seed=seed)
                        for seed, run in zip(seeds, dense_runs(small, lr, seeds, store))]
                family = "A" if width == 1.0 else "exploratory"
                cells.append(PilotCell(
                    width=width, hidden=list(wide.model.hidden), learning_rate=lr,
                    sparsity=s, confirmatory=width == 1.0, references=judge.refs,
                    budget=judge.budget, floors=floors, floor_reached=failed, rows=rows,
                    networks={who: summary(r, confidence) for who, r in rows.items()},
                    comparisons={c: unadjusted(compare(rows["ticket"], rows[c], ch.primary,
                                                       confidence), family)
                                 for c in ch.comparators}))
    families, cells = adjust(cells, ALPHA, len(seeds), 0.8)
    cells = [replace(cell, verdict=cell_verdict(cell, ch.primary in cell.floor_reached,
                                                margin.margin)) for cell in cells]
    return Pilot(seeds=seeds, primary=ch.primary, alpha=ALPHA, confidence=confidence,
                 margin=margin, comparators=list(ch.comparators),
                 family_size=families["A"].size, cells=cells)
