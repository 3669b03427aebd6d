"""Many networks trained as one: parameters stacked on a leading model axis.

Each model of the ensemble is trained exactly as ``Trainer`` trains one network — the same
minibatches (one shuffle stream), Adam with L2 weight decay, its mask applied around each
optimiser step, its own learning rate, its own early stopping — but every matmul serves all
models at once (``baddbmm``), so a sweep pays the per-step overhead of the Python loop over
dates once instead of once per model. A model that stops early or diverges is handed to
``on_done`` at once (so that a sweep can store it) and removed from the stack.

Models are independent: the summed loss gives each model its own gradient, and a model's
results do not depend on which others share its stack (tested).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from tqdm import tqdm

from .features import HedgingData
from .losses import compute_pnl
from .model import ACTIVATIONS
from .pruning import Mask, prunable_names, validate_mask
from .train import Schedule, TrainResult, history_row, record_evaluation, steps_per_epoch

Params = dict[str, torch.Tensor]  # name → tensor with a leading model axis
EVAL_CHUNK = 4096  # paths per forward pass when evaluating


def stack(states: list[dict]) -> Params:
    """State dicts of identical networks → one dict of stacked tensors, shape (M, ...)."""
    return {name: torch.stack([s[name] for s in states]).detach() for name in states[0]}


def unstack(params: Params, i: int) -> dict:
    """The i-th model's plain state dict."""
    return {name: p[i].detach().clone() for name, p in params.items()}


def n_layers(params: Params) -> int:
    return len(prunable_names(params))


def ensemble_forward(params: Params, features: torch.Tensor, *, recurrent: bool,
                     activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``DeepHedgingNetwork.forward`` for every model of the stack.

    Shape: features (N, n_steps, F) shared by all models, or (M, N, n_steps, F) one set per
    model → deltas (M, N, n_steps), y (M,).
    """
    act = ACTIVATIONS[activation]()
    L = n_layers(params)
    W = [params[f"layers.{i}.weight"] for i in range(L)]  # (M, out, in)
    b = [params[f"layers.{i}.bias"] for i in range(L)]  # (M, out)
    M = W[0].shape[0]
    if features.dim() == 3:
        features = features.expand(M, -1, -1, -1)
    _, N, T, F = features.shape
    # the exogenous part of the first layer for every date at once, time-major so that the
    # slice of one date is contiguous: (M, T·N, H) = x (M, T·N, F) @ W_x^T
    x = features.transpose(1, 2).reshape(M, T * N, F)
    exo = torch.baddbmm(b[0][:, None, :], x, W[0][:, :, :F].transpose(1, 2))

    hidden = [(Wl.transpose(1, 2).contiguous(), bl[:, None, :]) for Wl, bl in
              zip(W[1:-1], b[1:-1])]  # transposed once, not at every date

    def tail(h: torch.Tensor) -> torch.Tensor:
        for Wt, bl in hidden:
            h = torch.baddbmm(bl, act(h), Wt)
        # the output unit as a product and a sum: a batched matmul with one output column
        # rounds differently for a stack of one, and a model's result must not depend on
        # its stack (tested)
        return (act(h) * W[-1]).sum(-1) + b[-1]

    if not recurrent:
        return tail(exo).reshape(M, T, N).transpose(1, 2), params["y"]
    exo = exo.reshape(M, T, N, -1)
    w_prev = W[0][:, None, :, F]  # (M, 1, H): the weight of the position held before
    prev = features.new_zeros(M, N)
    deltas = []
    for exo_t in exo.unbind(1):  # unbind: one backward for all dates (a slice per date
        prev = tail(torch.addcmul(exo_t, prev[..., None], w_prev))  # would zero-fill exo)
        deltas.append(prev)
    return torch.stack(deltas, dim=-1), params["y"]


@torch.no_grad()
def ensemble_pnl(params: Params, data: HedgingData, *, cost: float, recurrent: bool,
                 activation: str) -> torch.Tensor:
    """Shape: (M, N), the P&L of every model on every path."""
    deltas, _ = ensemble_forward(params, data.features, recurrent=recurrent,
                                 activation=activation)
    return compute_pnl(deltas, data.S, data.Z, cost)


class StackedAdam:
    """``torch.optim.Adam`` (L2 weight decay, as there) with one learning rate per model."""

    def __init__(self, params: Params, learning_rates: torch.Tensor, *, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.weight_decay, self.betas, self.eps = learning_rates, weight_decay, betas, eps
        self.m = {k: torch.zeros_like(p) for k, p in params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in params.items()}
        self.t = 0

    @torch.no_grad()
    def step(self, params: Params, grads: Params) -> None:
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2_sqrt = 1 - b1**self.t, math.sqrt(1 - b2**self.t)
        for k, g in grads.items():
            p = params[k]
            if self.weight_decay:
                g = g + self.weight_decay * p
            self.m[k].lerp_(g, 1 - b1)
            self.v[k].mul_(b2).addcmul_(g, g, value=1 - b2)
            step = (self.lr / bc1).reshape(-1, *[1] * (p.dim() - 1)).to(p.dtype)
            denom = (self.v[k].sqrt() / bc2_sqrt).add_(self.eps)
            p.sub_(step * self.m[k] / denom)

    def keep(self, index: torch.Tensor) -> None:
        """Drop the models not in ``index`` (their optimiser state goes with them)."""
        self.lr = self.lr[index]
        self.m = {k: v[index] for k, v in self.m.items()}
        self.v = {k: v[index] for k, v in self.v.items()}


def fit_ensemble(inits: list[dict], masks: list[Mask | None], learning_rates: list[float],
                 train: HedgingData, val: HedgingData, *, loss_fn: Callable, risk_fn: Callable,
                 cost: float, activation: str, batch_size: int, schedules: list[Schedule],
                 shuffle_seeds: list[int], patience: int | None = None, min_delta: float = 0.0,
                 weight_decay: float = 0.0, snapshot_step: int | None = None,
                 on_done: Callable[[int, TrainResult], None] | None = None,
                 progress: bool = False) -> list[TrainResult]:
    """Train model i from ``inits[i]`` (a state dict) under ``masks[i]`` (None: dense) at
    ``learning_rates[i]`` for ``schedules[i]``, its minibatches drawn in the order of
    ``shuffle_seeds[i]``; results in the same order, as ``Trainer.fit`` returns them.

    ``loss_fn(pnl (M, N), y (M,)) -> (M,)`` and ``risk_fn(pnl (M, N)) -> (M,)`` reduce the last
    axis. With ``snapshot_step`` = k, each result's ``snapshot`` holds the weights after step
    k (a rewinding point for iterative pruning).
    """
    M = len(inits)
    if not (len(masks) == len(learning_rates) == len(schedules) == len(shuffle_seeds) == M >= 1):
        raise ValueError(f"fit_ensemble needs as many masks, learning rates, schedules and "
                         f"shuffle seeds as inits (got {M} inits, {len(masks)} masks, "
                         f"{len(learning_rates)} rates, {len(schedules)} schedules, "
                         f"{len(shuffle_seeds)} seeds)")
    recurrent = inits[0]["layers.0.weight"].shape[1] > train.features.shape[-1]
    params = stack(inits)
    names = prunable_names(params)
    keep_masks = stack([validate_mask(m, s) if m is not None else
                        {n: torch.ones_like(s[n], dtype=torch.bool) for n in names}
                        for m, s in zip(masks, inits)])
    lrs = torch.tensor(learning_rates, dtype=torch.float64)
    apply_stacked_mask(params, keep_masks)  # θ0 ⊙ m
    optimizer = StackedAdam(params, lrs, weight_decay=weight_decay)
    generators = [torch.Generator().manual_seed(s) for s in shuffle_seeds]
    results = [TrainResult() for _ in range(M)]
    alive = list(range(M))  # original index of each row of the stack
    per_epoch = steps_per_epoch(len(train), batch_size)
    finite = torch.ones(M, dtype=torch.bool)  # rows whose training loss stayed finite
    total = torch.zeros(M, dtype=torch.float64)  # training loss since each row's last
    seen = torch.zeros(M, dtype=torch.long)  # evaluation, and the paths it summed
    step, clock = 0, time.perf_counter()

    def losses(batch: HedgingData) -> torch.Tensor:
        deltas, y = ensemble_forward(params, batch.features, recurrent=recurrent,
                                     activation=activation)
        return loss_fn(compute_pnl(deltas, batch.S, batch.Z, cost), y)

    @torch.no_grad()
    def evaluate() -> tuple[torch.Tensor, torch.Tensor]:
        # P&L in chunks of paths: the whole validation set at once would hold
        # M × n_steps × N × width activations
        pnl = torch.cat([ensemble_pnl(params, val.slice(s, s + EVAL_CHUNK), cost=cost,
                                      recurrent=recurrent, activation=activation)
                         for s in range(0, len(val), EVAL_CHUNK)], dim=-1)
        nan = torch.full((len(alive),), math.nan, dtype=torch.float64)
        return (torch.where(finite, loss_fn(pnl, params["y"]).double(), nan),
                torch.where(finite, risk_fn(pnl).double(), nan))

    def record() -> list[int]:
        """Evaluate, add a row for every model whose schedule has this step; the rows of the
        stack that are done."""
        nonlocal clock
        due = [row for row, i in enumerate(alive) if step in schedules[i].eval_steps
               or not finite[row]]
        if not due:
            return []
        val_loss, val_risk = evaluate()
        seconds = (time.perf_counter() - clock) / len(alive)  # an equal share per model
        done = []
        for row in due:
            i = alive[row]
            entry = history_row(step, per_epoch,
                                float(total[row] / seen[row]) if seen[row] else None,
                                float(val_loss[row]), float(val_risk[row]),
                                float(params["y"][row]), seconds)
            if record_evaluation(results[i], entry, lambda row=row: unstack(params, row),
                                 patience=patience, min_delta=min_delta) \
                    or step == schedules[i].budget:
                done.append(row)
        clock = time.perf_counter()
        total[due], seen[due] = 0.0, 0
        return done

    bar = tqdm(total=max(s.budget for s in schedules), disable=not progress, desc="steps",
               leave=False)
    done, orders = record(), None
    while True:
        if done:  # hand the finished models over and drop them from the stack
            for row in done:
                if on_done is not None:
                    on_done(alive[row], results[alive[row]])
            index = torch.tensor([r for r in range(len(alive)) if r not in done],
                                 dtype=torch.long)
            if len(index) == 0:
                break
            alive = [alive[r] for r in index.tolist()]
            for tensors in (params, keep_masks):
                for k in tensors:
                    tensors[k] = tensors[k][index]
            optimizer.keep(index)
            finite, total, seen = finite[index], total[index], seen[index]
            orders = orders[index] if orders is not None else None
            done = []
        if step % per_epoch == 0:  # a new epoch: each model draws its own order
            orders = torch.stack([torch.randperm(len(train), generator=generators[i])
                                  for i in alive])
        start = (step % per_epoch) * batch_size
        index_batch = orders[:, start:start + batch_size]
        loss = train_step(params, keep_masks, optimizer, losses, train.take(index_batch),
                          finite)
        total += loss * index_batch.shape[1]
        seen += index_batch.shape[1]
        step += 1
        bar.update(1)
        if step == snapshot_step:
            for row, i in enumerate(alive):
                results[i].snapshot = unstack(params, row)
        done = record()
    bar.close()
    return results


def train_step(params: Params, masks: Params, optimizer: StackedAdam,
               losses: Callable[[HedgingData], torch.Tensor], batch: HedgingData,
               finite: torch.Tensor) -> torch.Tensor:
    """One optimiser step of every model on its own minibatch; its training loss (0 for a
    model whose loss stopped being finite: ``finite`` is cleared and its gradients zeroed)."""
    leaves = list(params)
    for k in leaves:
        params[k].requires_grad_(True)
    loss = losses(batch)
    finite &= torch.isfinite(loss).detach()
    grads = torch.autograd.grad(torch.where(finite, loss, 0.0).sum(),
                                [params[k] for k in leaves], allow_unused=True)
    for k in leaves:
        params[k].requires_grad_(False)
    grads = {k: torch.where(finite.reshape(-1, *[1] * (g.dim() - 1)), g, 0.0)
             for k, g in zip(leaves, grads) if g is not None}  # y is unused at "batch" level
    apply_stacked_mask(grads, masks)  # no gradient reaches a pruned weight...
    optimizer.step(params, grads)
    apply_stacked_mask(params, masks)  # ...and nothing (eps, decay) moves it
    return torch.where(finite, loss.detach().double(), 0.0)


@torch.no_grad()
def apply_stacked_mask(tensors: Params, masks: Params) -> None:
    """Zero the pruned entries of stacked weights (or of their gradients), in place."""
    for name, m in masks.items():
        tensors[name].mul_(m)
