"""Notebook 02's one-seed exploration (exploratory), as results (plain dicts, JSON-ready).

- ``lr_exploration``: one mask at the target sparsity, every retraining learning rate, the
  dense network from θ0 at the same rate beside it, and the floor controls (classical hedges
  frozen, only y free to train); then the grid mask LR × retraining LR.
- ``sparsity_ablation``: the ticket over the sparsities at one learning rate.

Each network is judged as ``judging`` describes (speed against R_d, test metrics, the paired
difference to the dense network of the same seed and rate).
"""

from __future__ import annotations

from ..foundations.config import Config
from ..foundations.store import Store
from .judging import Judge, dense_runs, floor_reached, floor_rows, speedups, study_references
from .stages import Plan, open_store
from .tickets import Cell, run_cells


def lr_exploration(config: Config, store: Store | None = None) -> dict:
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
        judge = Judge(config, store, refs, lr, margin["margin"])
        pair = (run.folder.name, judge.dense_pnl(run))
        dense = judge.describe_dense(run)
        described = {m: judge.describe_cell(tickets[(m, lr)], pair) for m in mask_lrs}
        ticket = described[mask_lr]
        floors = floor_rows(config, refs, judge.budget, Plan(lr, seed), store)
        rows.append({"learning_rate": lr, "references": refs.as_dict(), "margin": margin,
                     "ticket": ticket, "dense": dense, "speedup": speedups(ticket, dense),
                     "floors": floors, "floor_reached": floor_reached(floors, [dense["auc"]])})
        for m in mask_lrs:
            t = described[m]
            grid.append({"mask_lr": m, "learning_rate": lr, primary: t[primary],
                         f"dense_{primary}": dense[primary], "matches": t["matches"],
                         "auc": t["auc"], "dense_auc": dense["auc"],
                         "speedup": speedups(t, dense)[primary]})
    return {"sparsity": p.target_sparsity, "mask_lr": mask_lr, "seed": seed, "primary": primary,
            "margin": rows[0]["margin"], "exploratory": True, "results": rows, "grid": grid}


def sparsity_ablation(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """The ticket over ``pruning.sparsities`` at ``learning_rate`` (mask from θ* at the same
    rate), against the dense network from θ0 at that rate (one seed: exploratory)."""
    store = store or open_store(config)
    p, seed = config.pruning, config.model.init_seed
    primary = config.registration.endpoint
    refs, margin = study_references(config, learning_rate, store)
    run = dense_runs(config, learning_rate, [seed], store)[0]
    judge = Judge(config, store, refs, learning_rate, margin["margin"])
    pair = (run.folder.name, judge.dense_pnl(run))
    dense = judge.describe_dense(run)
    cells = [Cell("ticket", s, learning_rate, seed, learning_rate) for s in p.sparsities]
    rows = []
    for s, result in zip(p.sparsities, run_cells(config, cells, store)):
        row = {"target_sparsity": s, **judge.describe_cell(result, pair)}
        row["speedup"] = speedups(row, dense)[primary]
        rows.append(row)
    kept = [r["target_sparsity"] for r in rows if r["test_matches"]]
    return {"learning_rate": learning_rate, "mask_lr": learning_rate, "seed": seed,
            "primary": primary, "margin": margin, "references": refs.as_dict(),
            "exploratory": True, "dense": dense, "results": rows,
            "max_sparsity_matching": max(kept, default=None)}
