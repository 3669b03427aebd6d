"""The lottery-ticket experiments of notebook 02, as results (plain dicts, JSON-ready).

- ``lr_exploration``: one mask at the target sparsity, every retraining learning rate, the
  dense network from θ0 at the same rate beside it; then the grid mask LR × retraining LR.
- ``sparsity_ablation``: the ticket at the chosen learning rate over the sparsities.

"Reaches the baseline" is the sign-aware criterion of ``metrics.epochs_to_threshold``: the
validation loss stays within ``metrics.tolerance`` of the dense baseline's best for
``metrics.consecutive`` epochs. The dense baseline is notebook 01's network (the configured
learning rate and seed). A speed-up is dense epochs / ticket epochs at the same learning rate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from .config import Config, resolve
from .experiment import (
    DenseRun,
    deep_hedge_pnl,
    load_model,
    load_split,
    open_store,
    stage_key,
    train_dense,
    train_dense_runs,
)
from .experiment import dense_spec as make_dense_spec
from .losses import empirical_cvar
from .metrics import compute_all_metrics, epochs_to_threshold, paired_difference
from .metrics import within_tolerance_level as level
from .store import Store, atomic_write_bytes
from .tickets import Cell, CellResult, run_cells

REPORTED = ("cvar_05", "sharpe_ratio", "pnl_mean", "pnl_std")


class Baseline:
    """The dense baseline: its validation threshold, its test P&L and the premium.

    By default notebook 01's network; with ``seed``, the dense network from that seed's θ0
    (each seed's tickets are judged against their own dense network).
    """

    def __init__(self, config: Config, store: Store, seed: int | None = None):
        self.config, self.store = config, store
        self.run = train_dense(config, seed=seed, store=store)
        m = config.metrics
        self.threshold = level(self.run.summary["best_val_loss"], m.tolerance)
        self.test = load_split(config, "test")
        self.pnl = self.dense_pnl(self.run)
        self.premium = float(empirical_cvar(self.pnl, config.loss.alpha))
        self.metrics = self.test_metrics("dense", self.run.folder.name, self.pnl)

    def dense_pnl(self, run: DenseRun) -> torch.Tensor:
        model = load_model(self.config, run.theta_star, cost=run.cost)
        return deep_hedge_pnl(model, self.test, run.cost)

    def test_metrics(self, stage: str, name: str, pnl: torch.Tensor) -> dict:
        """Metrics with intervals and the paired CVaR difference to the baseline (stored)."""
        m = self.config.metrics
        boot = dict(n_bootstrap=m.n_bootstrap, confidence=m.confidence, seed=m.seed)
        key = stage_key(self.config, "test_metrics", ("metrics",), source=[stage, name],
                        premium=self.premium, baseline=self.run.folder.name)

        def compute() -> dict:
            metrics = compute_all_metrics(pnl, premium=self.premium, **boot)
            metrics["vs_baseline"] = paired_difference(pnl, self.pnl, "cvar_05", **boot)
            return {"metrics.json": metrics}

        return self.store.cached("test_metrics", key, compute)[0]["metrics.json"]

    def convergence(self, history: list[dict]) -> int | None:
        return epochs_to_threshold(history, self.threshold, self.config.metrics.consecutive)

    def describe(self, history: list[dict], summary: dict, pnl: torch.Tensor, stage: str,
                 name: str) -> dict:
        """One trained network as a JSON row: convergence, training and test metrics."""
        metrics = self.test_metrics(stage, name, pnl)
        return {"epochs_to_baseline": self.convergence(history),
                "best_val_loss": summary["best_val_loss"], "best_epoch": summary["best_epoch"],
                "epochs_run": summary["epochs_run"], "diverged": summary["diverged"],
                "val_curve": [row["val_loss"] for row in history],
                **{k: metrics[k] for k in REPORTED}, **{f"{k}_ci": metrics[f"{k}_ci"]
                                                      for k in REPORTED},
                "cvar_05_vs_baseline": metrics["vs_baseline"]}

    def describe_cell(self, result: CellResult) -> dict:
        return {**self.describe(result.history, result.summary, result.test_pnl, "ticket",
                                result.folder.name),
                "sparsity": result.summary["mask"]["total"],
                "effective_sparsity": result.summary["mask"]["effective"]}

    def describe_dense(self, run: DenseRun) -> dict:
        return self.describe(run.history, run.summary, self.dense_pnl(run), "dense",
                             run.folder.name)

    def header(self) -> dict:
        return {"baseline": {"learning_rate": self.run.summary["learning_rate"],
                             "best_val_loss": self.run.summary["best_val_loss"],
                             "threshold": self.threshold, "premium": self.premium,
                             "tolerance": self.config.metrics.tolerance,
                             "consecutive": self.config.metrics.consecutive,
                             **{k: self.metrics[k] for k in REPORTED}}}


def speedup(ticket: dict, dense: dict) -> float | None:
    """Dense epochs / ticket epochs to the baseline; None unless both reach it."""
    t, d = ticket["epochs_to_baseline"], dense["epochs_to_baseline"]
    return d / t if t is not None and d is not None else None


def lr_exploration(config: Config, store: Store | None = None) -> dict:
    """Section 2.1: tickets at ``pruning.target_sparsity`` for every candidate learning rate,
    with the dense network from θ0 at the same rate; then the mask-LR × retraining-LR grid."""
    store = store or open_store(config)
    base = Baseline(config, store)
    p, seed = config.pruning, config.model.init_seed
    lrs, mask_lr = list(p.pruning_lr_candidates), config.training.learning_rate
    mask_lrs = list(dict.fromkeys([mask_lr, *p.mask_lr_candidates]))
    cells = {(m, lr): Cell("ticket", p.target_sparsity, lr, seed, m) for m in mask_lrs
             for lr in lrs}
    tickets = dict(zip(cells, run_cells(config, list(cells.values()), store)))
    specs = [make_dense_spec(config, learning_rate=lr) for lr in lrs]
    dense = {lr: base.describe_dense(run)
             for lr, run in zip(lrs, train_dense_runs(config, specs, store))}
    rows = []
    for lr in lrs:
        ticket = base.describe_cell(tickets[(mask_lr, lr)])
        rows.append({"learning_rate": lr, "ticket": ticket, "dense": dense[lr],
                     "speedup": speedup(ticket, dense[lr])})
    grid = []
    for m in sorted(mask_lrs, reverse=True):
        for lr in lrs:
            ticket = base.describe_cell(tickets[(m, lr)])
            grid.append({"mask_lr": m, "learning_rate": lr,
                         "epochs_to_baseline": ticket["epochs_to_baseline"],
                         "dense_epochs_to_baseline": dense[lr]["epochs_to_baseline"],
                         "best_val_loss": ticket["best_val_loss"],
                         "speedup": speedup(ticket, dense[lr])})
    best, rule = choose_lr(rows)
    return {**base.header(), "sparsity": p.target_sparsity, "mask_lr": mask_lr, "seed": seed,
            "results": rows, "best_lr": best, "best_lr_rule": rule, "grid": grid}


def choose_lr(rows: list[dict]) -> tuple[float, str]:
    """The sketch's rule: fewest epochs to the baseline among the tickets that reach it (ties:
    lower validation loss); if none does, the lowest final validation loss."""
    reached = [r for r in rows if r["ticket"]["epochs_to_baseline"] is not None]
    if reached:
        best = min(reached, key=lambda r: (r["ticket"]["epochs_to_baseline"],
                                           r["ticket"]["best_val_loss"]))
        return best["learning_rate"], "fewest epochs to the baseline"
    finite = [r for r in rows if math.isfinite(r["ticket"]["best_val_loss"])]
    best = min(finite or rows, key=lambda r: r["ticket"]["best_val_loss"])
    return best["learning_rate"], "no ticket reached the baseline: lowest validation loss"


def sparsity_ablation(config: Config, learning_rate: float, store: Store | None = None) -> dict:
    """Section 2.2: the ticket over ``pruning.sparsities`` at ``learning_rate``, against the
    dense baseline; the largest sparsity kept by the risk and by the Sharpe criterion."""
    store = store or open_store(config)
    base = Baseline(config, store)
    p, seed, tol = config.pruning, config.model.init_seed, config.metrics.tolerance
    mask_lr = config.training.learning_rate
    cells = [Cell("ticket", s, learning_rate, seed, mask_lr) for s in p.sparsities]
    dense = base.describe_dense(train_dense(config, learning_rate=learning_rate, store=store))
    rows = []
    risk_level = level(base.metrics["cvar_05"], tol)
    b_sharpe = base.metrics["sharpe_ratio"]
    sharpe_level = b_sharpe - tol * abs(b_sharpe)
    for s, result in zip(p.sparsities, run_cells(config, cells, store)):
        row = {"target_sparsity": s, **base.describe_cell(result)}
        row["keeps_risk"] = row["cvar_05"] <= risk_level
        row["keeps_sharpe"] = row["sharpe_ratio"] >= sharpe_level
        row["speedup"] = speedup(row, dense)
        rows.append(row)
    largest = lambda flag: max((r["target_sparsity"] for r in rows if r[flag]),  # noqa: E731
                               default=None)
    return {**base.header(), "learning_rate": learning_rate, "mask_lr": mask_lr, "seed": seed,
            "dense_same_lr": dense, "risk_level": risk_level, "sharpe_level": sharpe_level,
            "results": rows, "max_sparsity_risk": largest("keeps_risk"),
            "max_sparsity_sharpe": largest("keeps_sharpe")}


def write_results(config: Config, name: str, results: dict) -> Path:
    """``<experiments>/results/<name>``: the JSON a reader (or a test) checks the notebook by."""
    path = resolve(config.experiments["directory"]) / "results" / name
    atomic_write_bytes(path, (json.dumps(results, indent=2) + "\n").encode())
    return path
