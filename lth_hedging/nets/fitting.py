"""Training many networks as stacks that stay full: what one network is (``Network``), what a
run's networks share (``Job``), and the loop (``fit_ensemble``, steps of ``StackTrainer``).

Each network is trained exactly as ``Trainer`` trains one — the same minibatches (its own
shuffle stream), Adam with L2 weight decay, its mask applied around each optimiser step, its
own learning rate and schedule, its own early stopping — while the stack
(``ensemble.Stack``) serves every matmul to all of them at once. A network that stops early
or diverges is handed to ``on_done`` at once (so that a sweep can store it) and the next
waiting one takes its place: results do not depend on stack-mates (tested).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..market.features import HedgingData
from .ensemble import Params, Stack, ensemble_forward, ensemble_pnl, eval_chunk
from .losses import compute_pnl
from .pruning import Mask, prunable_names, validate_mask
from .train import Schedule, TrainResult, history_row, record_evaluation, steps_per_epoch


@dataclass(frozen=True)
class Network:
    """One network to train: its initial weights (a state dict), its mask (None: dense), its
    learning rate and ``Schedule`` (budget, evaluations, warmup), and the seed of its data
    order. A study makes it from its own description (``studies.stages.network``)."""

    init: dict
    mask: Mask | None
    learning_rate: float
    schedule: Schedule
    shuffle_seed: int


@dataclass(frozen=True)
class Job:
    """What the networks of a run share. ``loss_fn(pnl (M, N), y (M,)) -> (M,)`` is trained
    on and ``risk_fn(pnl (M, N)) -> (M,)`` measured (both reduce the last axis); with
    ``snapshot_step`` = k each result's ``snapshot`` holds the weights after step k (a
    rewinding point for iterative pruning)."""

    loss_fn: Callable
    risk_fn: Callable
    cost: float
    activation: str
    batch_size: int
    patience: int | None = None
    min_delta: float = 0.0
    weight_decay: float = 0.0
    snapshot_step: int | None = None


def fit_ensemble(networks: list[Network], train: HedgingData, val: HedgingData, job: Job, *,
                 stack_size: int | None = None, device: str | torch.device = "cpu",
                 on_done: Callable[[int, TrainResult], None] | None = None,
                 progress: bool = False) -> list[TrainResult]:
    """Train every network of ``networks``; results in the same order, as ``Trainer.fit``
    returns them, on the CPU.

    At most ``stack_size`` networks (default: all) train at once on ``device``; when one
    stops, the next waiting one takes its place at once, so the stack stays full. Each keeps
    its own step count and data order: its results do not depend on which others share its
    stack or when it joined (tested). ``on_done(i, result)`` gets each as it finishes.
    """
    if stack_size is not None and stack_size < 1:
        raise ValueError(f"fit_ensemble: stack_size = {stack_size} is invalid: allowed >= 1")
    if not networks:
        raise ValueError("fit_ensemble needs at least one network")
    trainer = StackTrainer(networks, train, val, job, torch.device(device), on_done)
    return trainer.run(len(networks) if stack_size is None else stack_size, progress)


class StackTrainer:
    """``fit_ensemble``'s loop as named steps: fill the stack, draw each row's minibatch,
    take one optimiser step, evaluate the rows whose schedule says so, hand over the rows
    that are done."""

    def __init__(self, networks: list[Network], train: HedgingData, val: HedgingData,
                 job: Job, device: torch.device,
                 on_done: Callable[[int, TrainResult], None] | None):
        self.networks, self.job, self.device, self.on_done = networks, job, device, on_done
        self.train, self.val = train.to(device), val.to(device)
        first = networks[0].init
        self.recurrent = first["layers.0.weight"].shape[1] > self.train.features.shape[-1]
        names = prunable_names(first)
        self.masks = [validate_mask(n.mask, n.init) if n.mask is not None else
                      {name: torch.ones_like(n.init[name], dtype=torch.bool) for name in names}
                      for n in networks]
        self.stack = Stack(first, weight_decay=job.weight_decay, device=device)
        self.generators = [torch.Generator().manual_seed(n.shuffle_seed) for n in networks]
        self.results = [TrainResult() for _ in networks]
        self.waiting = list(range(len(networks)))[::-1]  # popped from the end: in order
        self.per_epoch = steps_per_epoch(len(self.train), job.batch_size)

    def run(self, size: int, progress: bool) -> list[TrainResult]:
        stack = self.stack
        bar = tqdm(total=sum(n.schedule.budget for n in self.networks), disable=not progress,
                   desc="network-steps", leave=False)
        while self.waiting or len(stack):
            if self.waiting and len(stack) < size:  # a newcomer is evaluated at step 0
                self.hand_over(self.record(self.fill(size)))
                continue
            self.step()
            bar.update(len(stack))
            self.hand_over(self.record(list(range(len(stack)))))
        bar.close()
        return self.results

    def fill(self, size: int) -> list[int]:
        """Waiting networks into the stack, up to ``size`` rows; the new rows."""
        first = len(self.stack)
        while self.waiting and len(self.stack) < size:
            i = self.waiting.pop()
            n = self.networks[i]
            self.stack.add(i, n.init, self.masks[i], n.learning_rate, n.schedule)
        return list(range(first, len(self.stack)))

    def step(self) -> None:
        """One optimiser step of every row, each on its own next minibatch."""
        stack, per_epoch, batch_size = self.stack, self.per_epoch, self.job.batch_size
        clock = synchronized_clock(self.device)
        groups = self.batches()
        for length, rows in groups.items():
            index = torch.stack([
                stack.orders[r][(stack.steps[r] % per_epoch) * batch_size:][:length]
                for r in rows])
            stack.train_step(None if len(groups) == 1 else rows, self.train.take(index),
                             self.losses)
        share = (synchronized_clock(self.device) - clock) / len(stack)
        for row, i in enumerate(stack.index):
            stack.steps[row] += 1
            stack.seconds[row] += share
            if stack.steps[row] == self.job.snapshot_step:
                self.results[i].snapshot = stack.weights(row)

    def batches(self) -> dict[int, list[int]]:
        """The rows by the length of their next minibatch (an epoch's last can be short),
        drawing a new data order for each row that starts an epoch."""
        stack, n_train = self.stack, len(self.train)
        groups: dict[int, list[int]] = {}
        for row, (i, step) in enumerate(zip(stack.index, stack.steps)):
            if step % self.per_epoch == 0:
                stack.orders[row] = torch.randperm(n_train, generator=self.generators[i]) \
                    .to(self.device)
            start = (step % self.per_epoch) * self.job.batch_size
            groups.setdefault(min(self.job.batch_size, n_train - start), []).append(row)
        return groups

    def losses(self, params: Params, batch: HedgingData) -> torch.Tensor:
        deltas, y = ensemble_forward(params, batch.features, recurrent=self.recurrent,
                                     activation=self.job.activation)
        return self.job.loss_fn(compute_pnl(deltas, batch.S, batch.Z, self.job.cost), y)

    @torch.no_grad()
    def evaluate(self, rows: list[int]) -> tuple[list[float], list[float]]:
        """Validation loss and risk of ``rows`` (NaN where the loss stopped being finite)."""
        # P&L in chunks of paths: the whole validation set at once would hold
        # M × n_steps × N × width activations, far out of cache
        params, _, finite = self.stack.rows(rows)
        chunk, val, job = eval_chunk(self.device, len(rows)), self.val, self.job
        pnl = torch.cat([ensemble_pnl(params, val.slice(s, s + chunk), cost=job.cost,
                                      recurrent=self.recurrent, activation=job.activation)
                         for s in range(0, len(val), chunk)], dim=-1)
        nan = torch.full((len(rows),), math.nan, dtype=torch.float64, device=self.device)
        return (torch.where(finite, job.loss_fn(pnl, params["y"]).double(), nan).tolist(),
                torch.where(finite, job.risk_fn(pnl).double(), nan).tolist())

    def record(self, candidates: list[int]) -> list[int]:
        """Evaluate the ``candidates`` rows whose schedule has their step (or whose loss
        stopped being finite), add a history row to each; the rows that are done."""
        stack = self.stack
        finite = stack.finite.tolist()  # one read (a sync on a GPU), not one per row
        due = [r for r in candidates
               if stack.steps[r] in self.networks[stack.index[r]].schedule.eval_steps
               or not finite[r]]
        if not due:
            return []
        clock = synchronized_clock(self.device)
        val_loss, val_risk = self.evaluate(due)
        share = (synchronized_clock(self.device) - clock) / len(due)
        done = []
        for row, loss, risk in zip(due, val_loss, val_risk):
            i, step = stack.index[row], stack.steps[row]
            seen = int(stack.seen[row])
            entry = history_row(step, self.per_epoch,
                                float(stack.total[row]) / seen if seen else None,
                                loss, risk, float(stack.params["y"][row]),
                                stack.seconds[row] + share)
            if record_evaluation(self.results[i], entry, lambda row=row: stack.weights(row),
                                 patience=self.job.patience, min_delta=self.job.min_delta) \
                    or step == self.networks[i].schedule.budget:
                done.append(row)
            stack.total[row], stack.seen[row], stack.seconds[row] = 0.0, 0, 0.0
        return done

    def hand_over(self, done: list[int]) -> None:
        """Give the finished rows' results to ``on_done`` and drop them from the stack."""
        stack = self.stack
        for row in done:
            if self.on_done is not None:
                self.on_done(stack.index[row], self.results[stack.index[row]])
        if done:
            stack.keep([r for r in range(len(stack)) if r not in done])


def synchronized_clock(device: torch.device) -> float:
    """``time.perf_counter()`` once the device's queued work is done (a GPU runs ahead)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
