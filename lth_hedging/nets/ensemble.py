"""Many networks as one: parameters stacked on a leading model axis, their forward pass,
their Adam, and their optimiser step (the loop that trains them is ``fitting``).

Every matmul serves all models at once (``baddbmm``), so a sweep pays the per-step overhead
of the Python loop over dates once instead of once per model. Models are independent: the
summed loss gives each model its own gradient, and a model's results do not depend on which
others share its stack (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..market.features import HedgingData
from .losses import compute_pnl
from .model import ACTIVATIONS
from .pruning import Mask, prunable_names
from .train import Schedule

Params = dict[str, torch.Tensor]  # name → tensor with a leading model axis
# paths per forward pass when evaluating, times the networks in the stack. The forward pass
# runs one date at a time, so a chunk's working set is rows × width per date: on the CPU
# about 8192 rows is best (measured 2026-12-04, 5000 paths of the default network, AMD EPYC:
# a stack of 8 in chunks of 1024 paths 394 ms vs 444 ms in 256; 4 in 2048 178 vs 201 ms in
# 1024; one network in 5000 47 ms vs 52 ms in 2048); a GPU wants large chunks. A path's P&L
# does not depend on the chunk it is computed in (tested).
EVAL_ROWS = {"cpu": 8192}
EVAL_CHUNK_MIN, EVAL_CHUNK_GPU = 256, 4096


def eval_chunk(device: torch.device, n_models: int) -> int:
    """Paths per evaluation forward pass for a stack of ``n_models`` on ``device``."""
    if device.type not in EVAL_ROWS:
        return EVAL_CHUNK_GPU
    return max(EVAL_CHUNK_MIN, EVAL_ROWS[device.type] // n_models)


def n_layers(params: Params) -> int:
    return len(prunable_names(params))


def ensemble_forward(params: Params, features: torch.Tensor, *, recurrent: bool,
                     activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``DeepHedgingNetwork.forward`` for every model of the stack.

    Shape: features (N, n_steps, F) shared by all models, or (M, N, n_steps, F) one set per
    model → deltas (M, N, n_steps), or (M, N, n_steps, I) for networks with I > 1 outputs
    (instruments), y (M,).
    """
    # ReLU in place: its backward needs only its result, the matmul's backward not its output,
    # and a max with 0 is exact; one pass and one tensor of M × rows × width fewer per layer
    # and date (measured: a training step of 8 networks 5–7 % faster, bit-identical)
    act = torch.relu_ if activation == "relu" else ACTIVATIONS[activation]()
    L = n_layers(params)
    W = [params[f"layers.{i}.weight"] for i in range(L)]  # (M, out, in)
    b = [params[f"layers.{i}.bias"] for i in range(L)]  # (M, out)
    M = W[0].shape[0]
    if features.dim() == 3:
        features = features.expand(M, -1, -1, -1)
    _, N, T, F = features.shape
    # transposed once, not at every date: (M, in, out)
    layers = [(Wl.transpose(1, 2).contiguous(), bl[:, None, :]) for Wl, bl in zip(W[:-1], b[:-1])]
    n_out = W[-1].shape[1]  # instruments

    def hidden(x: torch.Tensor) -> torch.Tensor:
        """Every layer but the output on inputs x (M, rows, in): its pre-activation."""
        h = torch.baddbmm(layers[0][1], x, layers[0][0])
        for Wt, bl in layers[1:]:
            h = torch.baddbmm(bl, act(h), Wt)
        return h

    def output(h: torch.Tensor) -> torch.Tensor:
        # the output units as a product and a sum: a batched matmul with one output column
        # rounds differently for a stack of one, and a model's result must not depend on
        # its stack (tested)
        if n_out == 1:
            return (act(h) * W[-1]).sum(-1) + b[-1]
        return (act(h)[..., None, :] * W[-1][:, None]).sum(-1) + b[-1][:, None]

    if not recurrent:  # every date at once, time-major: (M, T·N, F)
        shape = (M, T, N) if n_out == 1 else (M, T, N, n_out)
        x = features.transpose(1, 2).reshape(M, T * N, F)
        return output(hidden(x)).reshape(shape).transpose(1, 2), params["y"]
    # one date at a time, the position held before as the last inputs: a date's activations
    # stay in cache (measured: 25 % faster per step than the first layer's exogenous part
    # for every date at once, a tensor of M × T × N × H that the backward pass copies)
    prev = features.new_zeros(M, N, n_out)
    deltas = []
    for x_t in features.unbind(2):
        deltas.append(output(hidden(torch.cat([x_t, prev], dim=-1))))
        prev = deltas[-1].reshape(prev.shape)
    return torch.stack(deltas, dim=2), params["y"]


@torch.no_grad()
def ensemble_pnl(params: Params, data: HedgingData, *, cost: float, recurrent: bool,
                 activation: str) -> torch.Tensor:
    """Shape: (M, N), the P&L of every model on every path."""
    deltas, _ = ensemble_forward(params, data.features, recurrent=recurrent,
                                 activation=activation)
    return compute_pnl(deltas, data.S, data.Z, cost)


class StackedAdam:
    """``torch.optim.Adam`` (L2 weight decay, as there) for a stack: each row has its own
    learning rate, warmup (its ``Schedule``) and step count (rows join a stack at different
    times)."""

    def __init__(self, params: Params, *, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.weight_decay, self.betas, self.eps = weight_decay, betas, eps
        self.m = {k: torch.zeros_like(p) for k, p in params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in params.items()}
        self.rates: list[tuple[float, Schedule]] = []  # per row: its rate and schedule
        self.t: list[int] = []

    @torch.no_grad()
    def step(self, params: Params, grads: Params, rows: list[int] | None = None) -> None:
        """Update ``params`` (the stack's rows ``rows``, all when None) with ``grads``."""
        index = range(len(self.t)) if rows is None else rows
        for r in index:
            self.t[r] += 1
        b1, b2 = self.betas
        device = next(iter(params.values())).device
        at = None if rows is None else torch.tensor(rows, device=device)
        rates = [self.rates[r] for r in index]  # (rate, schedule) of each row
        lr = torch.tensor([s.learning_rate(rate, self.t[r]) for r, (rate, s) in zip(index, rates)],
                          dtype=torch.float64, device=device)
        # bias corrections as torch.optim.Adam computes them (Python floats), one per row
        bc1 = torch.tensor([1 - b1**self.t[r] for r in index], dtype=torch.float64,
                           device=device)
        bc2_sqrt = torch.tensor([math.sqrt(1 - b2**self.t[r]) for r in index],
                                dtype=torch.float64, device=device)
        for k, g in grads.items():
            p = params[k]
            m, v = (self.m[k], self.v[k]) if at is None else (self.m[k][at], self.v[k][at])
            if self.weight_decay:
                g = g + self.weight_decay * p
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            shape = (-1, *[1] * (p.dim() - 1))
            step = (lr / bc1).reshape(shape).to(p.dtype)
            denom = (v.sqrt() / bc2_sqrt.reshape(shape).to(p.dtype)).add_(self.eps)
            p.sub_(step * m / denom)
            if at is not None:
                self.m[k][at], self.v[k][at] = m, v

    def keep(self, index: torch.Tensor) -> None:
        """Drop the rows not in ``index`` (their optimiser state goes with them)."""
        self.m = {k: v[index] for k, v in self.m.items()}
        self.v = {k: v[index] for k, v in self.v.items()}
        self.rates = [self.rates[r] for r in index.tolist()]
        self.t = [self.t[r] for r in index.tolist()]

    def add(self, params: Params, learning_rate: float, schedule: Schedule) -> None:
        """A new row at the end of the stack: zero moments, step 0."""
        for state in (self.m, self.v):
            for k, p in params.items():
                state[k] = torch.cat([state[k], torch.zeros_like(p)[None]])
        self.rates.append((learning_rate, schedule))
        self.t.append(0)


class Stack:
    """The networks being trained together: stacked weights, masks and Adam state on
    ``device``, and per row the network's index, its step count, its epoch's data order and
    what it has run since its last evaluation. Rows join and leave at any step."""

    def __init__(self, like: dict, *, weight_decay: float, device: torch.device):
        empty = {k: v.new_empty((0, *v.shape), device=device) for k, v in like.items()}
        self.params = empty
        self.masks = {k: torch.empty(v.shape, dtype=torch.bool, device=device)
                      for k, v in empty.items() if k in prunable_names(like)}
        self.optimizer = StackedAdam(empty, weight_decay=weight_decay)
        self.index: list[int] = []  # the network of each row
        self.steps: list[int] = []
        self.orders: list[torch.Tensor | None] = []
        self.finite = torch.empty(0, dtype=torch.bool, device=device)  # loss stayed finite
        self.total = torch.empty(0, dtype=torch.float64, device=device)  # training loss and
        self.seen = torch.empty(0, dtype=torch.long, device=device)  # paths since last eval
        self.seconds: list[float] = []  # time spent on each row since its last evaluation
        self.device = device

    def __len__(self) -> int:
        return len(self.index)

    def add(self, i: int, init: dict, mask: Mask, learning_rate: float,
            schedule: Schedule) -> None:
        state = {k: v.to(self.device) for k, v in init.items()}
        for k, m in mask.items():
            self.masks[k] = torch.cat([self.masks[k], m.to(self.device)[None]])
            state[k] = state[k] * self.masks[k][-1]  # θ0 ⊙ m
        self.params = {k: torch.cat([p, state[k][None]]) for k, p in self.params.items()}
        self.optimizer.add(state, learning_rate, schedule)
        self.index.append(i)
        self.steps.append(0)
        self.orders.append(None)
        self.finite = torch.cat([self.finite, self.finite.new_ones(1)])
        self.total = torch.cat([self.total, self.total.new_zeros(1)])
        self.seen = torch.cat([self.seen, self.seen.new_zeros(1)])
        self.seconds.append(0.0)

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (in this order)."""
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        for tensors in (self.params, self.masks):
            for k in tensors:
                tensors[k] = tensors[k][index]
        self.optimizer.keep(index)
        self.finite, self.total, self.seen = self.finite[index], self.total[index], \
            self.seen[index]
        for name in ("index", "steps", "orders", "seconds"):
            setattr(self, name, [getattr(self, name)[r] for r in rows])

    def weights(self, row: int) -> dict:
        """The plain state dict of ``row``, on the CPU."""
        return {name: p[row].detach().to("cpu", copy=True) for name, p in self.params.items()}

    def rows(self, rows: list[int] | None) -> tuple[Params, Params, torch.Tensor]:
        """Weights, masks and finiteness of ``rows`` (all when None; else copies)."""
        if rows is None:
            return self.params, self.masks, self.finite
        at = torch.tensor(rows, device=self.device)
        return ({k: p[at] for k, p in self.params.items()},
                {k: m[at] for k, m in self.masks.items()}, self.finite[at])

    def train_step(self, rows: list[int] | None, batch: HedgingData,
                   losses: Callable[[Params, HedgingData], torch.Tensor]) -> None:
        """One optimiser step of ``rows`` (all when None), each on its own minibatch."""
        params, masks, finite = self.rows(rows)
        loss = train_step(params, masks, lambda grads, p=params: self.optimizer.step(
            p, grads, rows), lambda b: losses(params, b), batch, finite)
        at = slice(None) if rows is None else torch.tensor(rows, device=self.device)
        if rows is not None:  # the copies back into the stack
            for k, p in params.items():
                self.params[k][at] = p
            self.finite[at] = finite
        self.total[at] += loss * batch.S.shape[1]
        self.seen[at] += batch.S.shape[1]


def train_step(params: Params, masks: Params, optimizer_step: Callable[[Params], None],
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
    optimizer_step(grads)
    apply_stacked_mask(params, masks)  # ...and nothing (eps, decay) moves it
    return torch.where(finite, loss.detach().double(), 0.0)


@torch.no_grad()
def apply_stacked_mask(tensors: Params, masks: Params) -> None:
    """Zero the pruned entries of stacked weights (or of their gradients), in place."""
    for name, m in masks.items():
        tensors[name].mul_(m)
