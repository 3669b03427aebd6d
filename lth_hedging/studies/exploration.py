"""Notebook 02's one-seed exploration (exploratory), as typed results.

- ``lr_exploration``: one mask at the target sparsity, every retraining learning rate, the
  dense network from θ0 at the same rate beside it, and the floor controls (classical hedges
  frozen, only y free to train); then the grid mask LR × retraining LR.
- ``sparsity_ablation``: the ticket over the sparsities at one learning rate.

Each network is judged as ``judging`` describes (speed against R_d, test metrics, the paired
difference to the dense network of the same seed and rate).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..foundations.config import Config
from ..foundations.records import Record, entry
from ..foundations.store import Store
from ..measures.speed import References
from .judging import (
    Curve,
    Judge,
    Margin,
    NetworkRow,
    Speedup,
    dense_runs,
    floor_reached,
    floor_rows,
    speedups,
    study_references,
)
from .stages import Plan, open_store
from .tickets import Cell, run_cells


@dataclass(frozen=True, kw_only=True)
class RateRow(Record):
    """One retraining rate: the ticket beside the dense network from θ0 and the floors."""

    learning_rate: float
    references: References
    margin: Margin
    ticket: NetworkRow
    dense: NetworkRow
    speedup: dict[str, Speedup]  # by endpoint
    floors: dict[str, Curve]
    floor_reached: list[str]


def _primary(key: str) -> bool:
    return not key.startswith("dense_")


@dataclass(frozen=True, kw_only=True)
class GridRow(Record):
    """One (mask LR, retraining LR) pair; its steps stored as ``<endpoint>`` and
    ``dense_<endpoint>``."""

    mask_lr: float
    learning_rate: float
    ticket_steps: dict[str, int | None] = entry(flat=True, keys=_primary)
    dense_steps: dict[str, int | None] = entry(flat=True, prefix="dense_")
    matches: bool
    auc: float
    dense_auc: float
    speedup: Speedup


@dataclass(frozen=True, kw_only=True)
class LrExploration(Record):
    sparsity: float
    mask_lr: float
    seed: int
    primary: str
    margin: Margin
    exploratory: bool
    results: list[RateRow]
    grid: list[GridRow]


@dataclass(frozen=True, kw_only=True)
class SparsityAblation(Record):
    learning_rate: float
    mask_lr: float
    seed: int
    primary: str
    margin: Margin
    references: References
    exploratory: bool
    dense: NetworkRow
    results: list[NetworkRow]
    max_sparsity_matching: float | None


def lr_exploration(config: Config, store: Store | None = None) -> LrExploration:
    """Tickets at ``pruning.target_sparsity`` for every ``pruning.pruning_lr_candidates``
    rate (mask from θ* at ``training.learning_rate``), each beside the dense network from θ0
    at the same rate and the floor controls; then the mask-LR × retraining-LR grid. One seed:
    exploratory. R_d at each rate: ``study_references``."""
    store = store or open_store(config)
    p, seed = config.pruning, config.model.init_seed
    primary = config.registration.endpoint
    lrs, mask_lr = list(p.pruning_lr_candidates), config.training.learning_rate
    mask_lrs = list(dict.fromkeys([mask_lr, *p.mask_lr_candidates]))
    cells = {(m, lr): Cell("ticket", p.target_sparsity, lr, seed, m) for m in mask_lrs
             for lr in lrs}
    tickets = dict(zip(cells, run_cells(config, list(cells.values()), store)))
    rows, grid = [], []
    for lr in lrs:
        run = dense_runs(config, lr, [seed], store)[0]
        refs, margin = study_references(config, lr, store)
        judge = Judge(config, store, refs, lr, margin.margin)
        pair = (run.folder.name, judge.dense_pnl(run))
        dense = judge.describe_dense(run)
        described = {m: judge.describe_cell(tickets[(m, lr)], pair) for m in mask_lrs}
        ticket = described[mask_lr]
        floors = floor_rows(config, refs, judge.budget, Plan(lr, seed), store)
        rows.append(RateRow(learning_rate=lr, references=refs, margin=margin, ticket=ticket,
                            dense=dense, speedup=speedups(ticket, dense), floors=floors,
                            floor_reached=floor_reached(floors, [dense.auc])))
        for m in mask_lrs:
            t = described[m]
            grid.append(GridRow(mask_lr=m, learning_rate=lr,
                                ticket_steps={primary: t.levels[primary]},
                                dense_steps={primary: dense.levels[primary]},
                                matches=t.matches, auc=t.auc, dense_auc=dense.auc,
                                speedup=speedups(t, dense)[primary]))
    return LrExploration(sparsity=p.target_sparsity, mask_lr=mask_lr, seed=seed, primary=primary,
                         margin=rows[0].margin, exploratory=True, results=rows, grid=grid)


def sparsity_ablation(config: Config, learning_rate: float,
                      store: Store | None = None) -> SparsityAblation:
    """The ticket over ``pruning.sparsities`` at ``learning_rate`` (mask from θ* at the same
    rate), against the dense network from θ0 at that rate (one seed: exploratory)."""
    store = store or open_store(config)
    p, seed = config.pruning, config.model.init_seed
    primary = config.registration.endpoint
    refs, margin = study_references(config, learning_rate, store)
    run = dense_runs(config, learning_rate, [seed], store)[0]
    judge = Judge(config, store, refs, learning_rate, margin.margin)
    pair = (run.folder.name, judge.dense_pnl(run))
    dense = judge.describe_dense(run)
    cells = [Cell("ticket", s, learning_rate, seed, learning_rate) for s in p.sparsities]
    rows = []
    for s, result in zip(p.sparsities, run_cells(config, cells, store)):
        row = judge.describe_cell(result, pair)
        rows.append(replace(row, target_sparsity=s, speedup=speedups(row, dense)[primary]))
    kept = [r.target_sparsity for r in rows if r.test_matches]
    return SparsityAblation(learning_rate=learning_rate, mask_lr=learning_rate, seed=seed,
                            primary=primary, margin=margin, references=refs, exploratory=True,
                            dense=dense, results=rows,
                            max_sparsity_matching=max(kept, default=None))
