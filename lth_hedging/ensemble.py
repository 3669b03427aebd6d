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
from .train import TrainResult, record_epoch

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

    Shape: features (N, n_steps, F) shared by all models → deltas (M, N, n_steps), y (M,).
    """
    act = ACTIVATIONS[activation]()
    L = n_layers(params)
    W = [params[f"layers.{i}.weight"] for i in range(L)]  # (M, out, in)
    b = [params[f"layers.{i}.bias"] for i in range(L)]  # (M, out)
    N, T, F = features.shape
    M = W[0].shape[0]
    # the exogenous part of the first layer for every date at once, time-major so that the
    # slice of one date is contiguous: (M, T·N, H) = x (T·N, F) @ W_x^T
    x = features.transpose(0, 1).reshape(1, T * N, F)
    exo = torch.baddbmm(b[0][:, None, :], x.expand(M, -1, -1), W[0][:, :, :F].transpose(1, 2))

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
        for k, p in params.items():
            g = grads[k] + self.weight_decay * p if self.weight_decay else grads[k]
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
                 train: HedgingData, val: HedgingData, *, loss_fn: Callable, cost: float,
                 activation: str, batch_size: int, epochs: int, patience: int,
                 min_delta: float = 0.0, weight_decay: float = 0.0, shuffle_seed: int = 0,
                 snapshot_epoch: int | None = None,
                 on_done: Callable[[int, TrainResult], None] | None = None,
                 progress: bool = False) -> list[TrainResult]:
    """Train model i from ``inits[i]`` (a state dict) under ``masks[i]`` (None: dense) at
    ``learning_rates[i]``; results in the same order, as ``Trainer.fit`` returns them.

    ``loss_fn(pnl (M, N), y (M,)) -> (M,)``: ``create_loss_function`` losses reduce the last
    axis. With ``snapshot_epoch`` = k, each result's ``snapshot`` holds the weights after
    epoch k (a rewinding point for iterative pruning).
    """
    M = len(inits)
    if not (len(masks) == len(learning_rates) == M >= 1):
        raise ValueError(f"fit_ensemble needs as many masks and learning rates as inits "
                         f"(got {M} inits, {len(masks)} masks, {len(learning_rates)} rates)")
    recurrent = inits[0]["layers.0.weight"].shape[1] > train.features.shape[-1]
    params = stack(inits)
    names = prunable_names(params)
    keep_masks = stack([validate_mask(m, s) if m is not None else
                        {n: torch.ones_like(s[n], dtype=torch.bool) for n in names}
                        for m, s in zip(masks, inits)])
    lrs = torch.tensor(learning_rates, dtype=torch.float64)
    apply_stacked_mask(params, keep_masks)  # θ0 ⊙ m
    optimizer = StackedAdam(params, lrs, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(shuffle_seed)
    results = [TrainResult() for _ in range(M)]
    alive = torch.arange(M)  # original index of each row of the stack

    def losses(data: HedgingData) -> torch.Tensor:
        deltas, y = ensemble_forward(params, data.features, recurrent=recurrent,
                                     activation=activation)
        return loss_fn(compute_pnl(deltas, data.S, data.Z, cost), y)

    @torch.no_grad()
    def evaluate(data: HedgingData) -> torch.Tensor:
        # P&L in chunks of paths: the whole validation set at once would hold
        # M × n_steps × N × width activations
        pnl = torch.cat([ensemble_pnl(params, data.slice(s, s + EVAL_CHUNK), cost=cost,
                                      recurrent=recurrent, activation=activation)
                         for s in range(0, len(data), EVAL_CHUNK)], dim=-1)
        return loss_fn(pnl, params["y"])

    bar = tqdm(range(1, epochs + 1), disable=not progress, desc="epochs", leave=False)
    for epoch in bar:
        start = time.perf_counter()
        train_loss = train_epoch(params, keep_masks, optimizer, losses, train, batch_size,
                                 generator)
        val_loss = torch.where(torch.isfinite(train_loss), evaluate(val), math.nan)
        seconds = (time.perf_counter() - start) / len(alive)  # an equal share per model
        done = []
        for row, i in enumerate(alive.tolist()):
            entry = {"epoch": epoch, "train_loss": float(train_loss[row]),
                     "val_loss": float(val_loss[row]), "y": float(params["y"][row]),
                     "seconds": seconds}
            if epoch == snapshot_epoch:
                results[i].snapshot = unstack(params, row)
            if record_epoch(results[i], entry, lambda row=row: unstack(params, row),
                            patience=patience, min_delta=min_delta) or epoch == epochs:
                done.append(row)
        for row in done:
            if on_done is not None:
                on_done(int(alive[row]), results[int(alive[row])])
        if done:
            index = torch.tensor([r for r in range(len(alive)) if r not in done],
                                 dtype=torch.long)
            if len(index) == 0:
                break
            alive = alive[index]
            for store in (params, keep_masks):
                for k in store:
                    store[k] = store[k][index]
            optimizer.keep(index)
        bar.set_postfix(models=len(alive))
    return results


def train_epoch(params: Params, masks: Params, optimizer: StackedAdam,
                losses: Callable[[HedgingData], torch.Tensor], data: HedgingData,
                batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """One pass over shuffled minibatches; the mean training loss of each model (NaN for a
    model whose loss stopped being finite: its gradients are zeroed from then on)."""
    order = torch.randperm(len(data), generator=generator)
    shuffled = data.take(order)
    M = len(optimizer.lr)
    total = torch.zeros(M, dtype=torch.float64)
    finite = torch.ones(M, dtype=torch.bool)
    leaves = list(params)
    for start in range(0, len(data), batch_size):
        batch = shuffled.slice(start, start + batch_size)
        for k in leaves:
            params[k].requires_grad_(True)
        loss = losses(batch)
        finite &= torch.isfinite(loss).detach()
        grads = torch.autograd.grad(torch.where(finite, loss, 0.0).sum(),
                                    [params[k] for k in leaves])
        for k in leaves:
            params[k].requires_grad_(False)
        grads = {k: torch.where(finite.reshape(-1, *[1] * (g.dim() - 1)), g, 0.0)
                 for k, g in zip(leaves, grads)}
        apply_stacked_mask(grads, masks)  # no gradient reaches a pruned weight...
        optimizer.step(params, grads)
        apply_stacked_mask(params, masks)  # ...and nothing (eps, decay) moves it
        total += loss.detach().double() * len(batch)
    return torch.where(finite, total / len(data), math.nan)


@torch.no_grad()
def apply_stacked_mask(tensors: Params, masks: Params) -> None:
    """Zero the pruned entries of stacked weights (or of their gradients), in place."""
    for name, m in masks.items():
        tensors[name].mul_(m)
