"""One training loop: tensors in memory, seeded shuffles, minibatches by slicing, Adam, a
fixed budget of optimiser steps, and the validation risk measured every few steps.

Quality over training is the *validation risk*: the configured risk measure of the
validation P&L at the network's positions, with the OCE level y at its exact optimum (for
CVaR the empirical CVaR). Unlike the OCE loss at the network's current y, it says nothing
about how far y has climbed: it measures the hedge. The OCE loss is recorded beside it
(``val_loss``). The reported weights are those of the best validation risk; with
``patience`` a run stops after that many evaluations without improvement.

With a mask, the pruned weights are held at exactly zero (``pruning.apply_mask``).
A non-finite loss stops the run and marks it diverged (the best weights so far are kept):
a sweep never crashes on one bad cell.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..market.features import HedgingData
from .losses import compute_pnl
from .pruning import Mask, apply_mask, validate_mask


def _cosine(progress: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * progress))


# the registry of learning-rate decays after the warmup (a fraction of the network's rate by
# the progress from the end of the warmup, 0, to the budget, 1); a new one is one line
DECAYS: dict[str, Callable[[float], float] | None] = {"constant": None, "cosine": _cosine}


@dataclass(frozen=True)
class Schedule:
    """How long a network trains, when it is evaluated (optimiser steps; 0 = θ0) and how its
    learning rate moves: with ``warmup_steps`` W > 0 it rises linearly from ``warmup_from``
    at the first step to the network's rate at step W + 1 (Bai Li et al. 2020 retrain
    boosting tickets with such a warmup, from the rate that made the mask); then it stays
    there ("constant") or decays as ``decay`` says (``DECAYS``: "cosine" reaches 0 at the
    budget)."""

    budget: int
    eval_steps: frozenset[int]
    warmup_steps: int = 0
    warmup_from: float = 0.0
    decay: str = "constant"

    def __post_init__(self):
        if self.budget < 1 or 0 not in self.eval_steps or self.budget not in self.eval_steps \
                or max(self.eval_steps) > self.budget:
            raise ValueError(f"schedule: budget {self.budget} >= 1 must be evaluated, and so "
                             f"must step 0, and nothing after the budget")
        if self.warmup_steps < 0 or self.warmup_from < 0:
            raise ValueError(f"schedule: warmup_steps = {self.warmup_steps} and warmup_from = "
                             f"{self.warmup_from} must be >= 0")
        if self.decay not in DECAYS:
            raise ValueError(f"schedule: decay = {self.decay!r} is invalid: allowed "
                             f"{tuple(DECAYS)}")

    def learning_rate(self, rate: float, step: int) -> float:
        """The learning rate of optimiser step ``step`` (1 is the first) for a network whose
        rate is ``rate``."""
        if step <= self.warmup_steps:
            return self.warmup_from + (rate - self.warmup_from) * (step - 1) / self.warmup_steps
        decay = DECAYS[self.decay]
        if decay is None:
            return rate
        span = max(self.budget - self.warmup_steps - 1, 1)
        return rate * decay((step - self.warmup_steps - 1) / span)


def evaluation_steps(budget: int, every: int, every_late: int, late_from: int) -> frozenset:
    """Step 0, every ``every`` steps up to ``late_from``, every ``every_late`` steps after
    it, and the budget itself."""
    early = range(0, min(late_from, budget) + 1, every)
    late = range(late_from, budget + 1, every_late)
    return frozenset([*early, *late, budget])


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # one row per evaluation
    best_state: dict | None = None
    best_step: int = 0  # optimiser steps; 0 is the initialisation itself
    best_val_risk: float = math.inf
    best_index: int = 0  # the best evaluation's row in ``history``
    diverged: bool = False
    stopped_early: bool = False
    snapshot: dict | None = None  # weights after a chosen step (``snapshot_step``)

    def summary(self) -> dict:
        return {"best_step": self.best_step, "best_val_risk": self.best_val_risk,
                "diverged": self.diverged, "stopped_early": self.stopped_early,
                "steps_run": self.history[-1]["step"] if self.history else 0,
                "evaluations": len(self.history),
                "seconds": sum(row["seconds"] for row in self.history)}


def history_row(step: int, steps_per_epoch: int, train_loss: float | None, val_loss: float,
                val_risk: float, y: float, seconds: float) -> dict:
    return {"step": step, "epoch": step / steps_per_epoch, "train_loss": train_loss,
            "val_loss": val_loss, "val_risk": val_risk, "y": y, "seconds": seconds}


def steps_per_epoch(n_paths: int, batch_size: int) -> int:
    return -(-n_paths // batch_size)


class Trainer:
    """Trains one ``model`` on ``train``, evaluated on ``val`` as ``schedule`` says.

    ``loss_fn(pnl, y)`` is what is minimised, ``risk_fn(pnl)`` the y-free validation risk.
    The reference path: ``ensemble.fit_ensemble`` trains many networks at once and is tested
    to give the same results.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, risk_fn: Callable, *,
                 cost: float, learning_rate: float, batch_size: int, schedule: Schedule,
                 patience: int | None = None, min_delta: float = 0.0,
                 weight_decay: float = 0.0, shuffle_seed: int = 0, mask: Mask | None = None,
                 snapshot_step: int | None = None, progress: bool = False):
        self.model, self.loss_fn, self.risk_fn, self.cost = model, loss_fn, risk_fn, cost
        self.batch_size, self.schedule, self.patience = batch_size, schedule, patience
        self.min_delta, self.snapshot_step, self.progress = min_delta, snapshot_step, progress
        self.learning_rate, self.steps_taken = learning_rate, 0
        self.optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate,
                                          weight_decay=weight_decay)
        self.generator = torch.Generator().manual_seed(shuffle_seed)
        self.mask = validate_mask(mask, model) if mask is not None else None
        if self.mask is not None:
            apply_mask(model, self.mask)  # θ0 ⊙ m

    def loss(self, data: HedgingData) -> torch.Tensor:
        deltas, y = self.model(data.features)
        return self.loss_fn(compute_pnl(deltas, data.S, data.Z, self.cost), y)

    @torch.no_grad()
    def evaluate(self, data: HedgingData) -> tuple[float, float]:
        """(OCE loss at the current y, validation risk) on ``data``."""
        self.model.eval()
        deltas, y = self.model(data.features)
        pnl = compute_pnl(deltas, data.S, data.Z, self.cost)
        return float(self.loss_fn(pnl, y)), float(self.risk_fn(pnl))

    def train_step(self, batch: HedgingData) -> float:
        self.model.train()
        loss = self.loss(batch)
        if not torch.isfinite(loss):
            return math.nan
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.mask is not None:
            apply_mask(self.model, self.mask)  # no gradient reaches a pruned weight...
        self.steps_taken += 1
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule.learning_rate(self.learning_rate, self.steps_taken)
        self.optimizer.step()
        if self.mask is not None:
            apply_mask(self.model, self.mask)  # ...and nothing (eps, decay) moves it
        return loss.item()

    def train_epoch(self, data: HedgingData) -> float:
        """One pass over shuffled minibatches, no evaluation (benchmarks): the mean loss."""
        order = torch.randperm(len(data), generator=self.generator)
        losses = [self.train_step(data.take(order[start:start + self.batch_size]))
                  for start in range(0, len(data), self.batch_size)]
        return sum(losses) / len(losses)

    def fit(self, train: HedgingData, val: HedgingData) -> TrainResult:
        result, budget = TrainResult(), self.schedule.budget
        per_epoch = steps_per_epoch(len(train), self.batch_size)
        bar = tqdm(total=budget, disable=not self.progress, desc="steps", leave=False)
        step, total, seen, clock = 0, 0.0, 0, time.perf_counter()

        def record(train_loss: float | None) -> bool:
            nonlocal clock
            val_loss, val_risk = self.evaluate(val) if train_loss is None or \
                math.isfinite(train_loss) else (math.nan, math.nan)
            row = history_row(step, per_epoch, train_loss, val_loss, val_risk,
                              self.model.y.item(), time.perf_counter() - clock)
            clock = time.perf_counter()
            return record_evaluation(result, row, lambda: self.model.state_dict(),
                                     patience=self.patience, min_delta=self.min_delta)

        stop = record(None)
        while not stop and step < budget:
            order = torch.randperm(len(train), generator=self.generator)
            for start in range(0, len(train), self.batch_size):
                batch = train.take(order[start:start + self.batch_size])
                loss = self.train_step(batch)
                step += 1
                total, seen = total + loss * len(batch), seen + len(batch)
                bar.update(1)
                if step == self.snapshot_step:
                    result.snapshot = copy.deepcopy(self.model.state_dict())
                if step in self.schedule.eval_steps or not math.isfinite(loss):
                    stop = record(total / seen)
                    total, seen = 0.0, 0
                if stop or step == budget:
                    break
        bar.close()
        if result.best_state is not None:
            self.model.load_state_dict(result.best_state)
        return result


def record_evaluation(result: TrainResult, row: dict, state: Callable[[], dict], *,
                      patience: int | None, min_delta: float) -> bool:
    """Add an evaluation's row to ``result``; keep a copy of ``state()`` when the validation
    risk improves (below best − min_delta·|best|, whatever its sign).

    Returns True when training should stop: the risk is not finite (diverged), or
    ``patience`` evaluations have passed without an improvement (stopped early).
    """
    result.history.append(row)
    val_risk = row["val_risk"]
    if not math.isfinite(val_risk):
        result.diverged = True
        return True
    margin = min_delta * abs(result.best_val_risk) if result.best_state is not None else 0.0
    if val_risk < result.best_val_risk - margin:
        result.best_val_risk, result.best_step = val_risk, row["step"]
        result.best_state = copy.deepcopy(state())
        result.best_index = len(result.history) - 1
    elif patience is not None and len(result.history) - 1 - result.best_index >= patience:
        result.stopped_early = True
        return True
    return False


def fit_level_only(positions: tuple[torch.Tensor, torch.Tensor], train: HedgingData,
                   val: HedgingData, *, loss_fn: Callable, risk_fn: Callable, cost: float,
                   learning_rate: float, batch_size: int, schedule: Schedule, y_init: float,
                   shuffle_seed: int = 0) -> TrainResult:
    """The floor control: positions frozen (``positions`` = (train, val), each (N, n_steps),
    e.g. a classical hedge) and only the OCE level y trained — the same Adam, minibatches,
    start and evaluations as a network. A measure that judges this model as good as, or as
    fast as, a trained network measures y, not the hedge."""
    y = torch.nn.Parameter(torch.tensor(float(y_init)))
    optimizer = torch.optim.Adam([y], lr=learning_rate)
    generator = torch.Generator().manual_seed(shuffle_seed)
    pnl_train = compute_pnl(positions[0], train.S, train.Z, cost)
    pnl_val = compute_pnl(positions[1], val.S, val.Z, cost)
    val_risk = float(risk_fn(pnl_val))
    result, per_epoch = TrainResult(), steps_per_epoch(len(train), batch_size)
    step, total, seen = 0, 0.0, 0

    def record(train_loss: float | None) -> None:
        with torch.no_grad():
            row = history_row(step, per_epoch, train_loss, float(loss_fn(pnl_val, y)), val_risk,
                              y.item(), 0.0)
        record_evaluation(result, row, lambda: {"y": y.detach()}, patience=None, min_delta=0.0)

    record(None)
    while step < schedule.budget:
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), batch_size):
            loss = loss_fn(pnl_train[order[start:start + batch_size]], y)
            optimizer.zero_grad(set_to_none=True)
            if loss.requires_grad:  # at the "batch" level the loss does not depend on y
                loss.backward()
                optimizer.param_groups[0]["lr"] = schedule.learning_rate(learning_rate, step + 1)
                optimizer.step()
            step += 1
            total, seen = total + loss.item(), seen + 1
            if step in schedule.eval_steps:
                record(total / seen)
                total, seen = 0.0, 0
            if step == schedule.budget:
                break
    return result
