"""One training loop: tensors in memory, seeded shuffles, minibatches by slicing, Adam,
early stopping on the validation loss, a history row per epoch, best weights kept.

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
from tqdm import tqdm

from .features import HedgingData
from .losses import compute_pnl
from .pruning import Mask, apply_mask, validate_mask


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # one row per epoch
    best_state: dict | None = None
    best_epoch: int = 0  # 1-based; 0 when no epoch finished
    best_val_loss: float = math.inf
    diverged: bool = False
    stopped_early: bool = False
    snapshot: dict | None = None  # weights after a chosen epoch (``fit_ensemble``)

    def summary(self) -> dict:
        return {"best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "diverged": self.diverged, "stopped_early": self.stopped_early,
                "epochs_run": len(self.history),
                "seconds": sum(row["seconds"] for row in self.history)}


class Trainer:
    """Trains one ``model`` on ``train`` with early stopping on ``val`` (``record_epoch``).

    The reference path: ``ensemble.fit_ensemble`` trains many networks at once and is tested
    to give the same results.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, *, cost: float,
                 learning_rate: float, batch_size: int, epochs: int, patience: int,
                 min_delta: float = 0.0, weight_decay: float = 0.0, shuffle_seed: int = 0,
                 mask: Mask | None = None, progress: bool = False):
        self.model, self.loss_fn, self.cost = model, loss_fn, cost
        self.batch_size, self.epochs, self.patience = batch_size, epochs, patience
        self.min_delta, self.progress = min_delta, progress
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
    def evaluate(self, data: HedgingData) -> float:
        self.model.eval()
        return float(self.loss(data))

    def train_epoch(self, data: HedgingData) -> float:
        self.model.train()
        order = torch.randperm(len(data), generator=self.generator)
        shuffled = data.take(order)
        total, n = 0.0, 0
        for start in range(0, len(data), self.batch_size):
            batch = shuffled.slice(start, start + self.batch_size)
            loss = self.loss(batch)
            if not torch.isfinite(loss):
                return math.nan
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.mask is not None:
                apply_mask(self.model, self.mask)  # no gradient reaches a pruned weight...
            self.optimizer.step()
            if self.mask is not None:
                apply_mask(self.model, self.mask)  # ...and nothing (eps, decay) moves it
            total += loss.item() * len(batch)
            n += len(batch)
        return total / n

    def fit(self, train: HedgingData, val: HedgingData) -> TrainResult:
        result = TrainResult()
        bar = tqdm(range(1, self.epochs + 1), disable=not self.progress, desc="epochs",
                   leave=False)
        for epoch in bar:
            start = time.perf_counter()
            train_loss = self.train_epoch(train)
            val_loss = self.evaluate(val) if math.isfinite(train_loss) else math.nan
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                   "y": self.model.y.item(), "seconds": time.perf_counter() - start}
            if record_epoch(result, row, lambda: self.model.state_dict(),
                            patience=self.patience, min_delta=self.min_delta):
                break
            bar.set_postfix(val=f"{val_loss:.4f}", best=f"{result.best_val_loss:.4f}")
        if result.best_state is not None:
            self.model.load_state_dict(result.best_state)
        return result


def record_epoch(result: TrainResult, row: dict, state: Callable[[], dict], *, patience: int,
                 min_delta: float) -> bool:
    """Add an epoch's row to ``result``; keep a copy of ``state()`` when it improves.

    Returns True when training should stop: the loss is not finite (diverged), or
    ``patience`` epochs have passed without an improvement (stopped early). An epoch improves
    when its validation loss is below best − min_delta·|best|, whatever the loss's sign.
    """
    result.history.append(row)
    val_loss, epoch = row["val_loss"], row["epoch"]
    if not math.isfinite(val_loss):
        result.diverged = True
        return True
    margin = min_delta * abs(result.best_val_loss) if result.best_epoch else 0.0
    if val_loss < result.best_val_loss - margin:
        result.best_val_loss, result.best_epoch = val_loss, epoch
        result.best_state = copy.deepcopy(state())
    elif epoch - result.best_epoch >= patience:
        result.stopped_early = True
        return True
    return False
