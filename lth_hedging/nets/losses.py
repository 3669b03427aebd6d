"""Hedging P&L and the risk measures it is trained on.

Sign convention (the only place it is written): we are short one call and hold δ_t shares
over (t, t+1]. In time-0 money, premium excluded,

    PnL = Σ_t δ_t (S_{t+1} − S_t) − Z − c Σ_t |δ_t − δ_{t−1}| S_t,   δ_{−1} = 0,

(each term summed over the instruments when the hedge trades several: the stock and a
variance swap), so a larger PnL is better and a risk measure ρ(PnL) is the capital (premium)
that makes the position acceptable: the indifference price. The terminal position is not liquidated.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..foundations.config import Config, LossConfig


def compute_pnl(deltas: torch.Tensor, S: torch.Tensor, Z: torch.Tensor,
                cost: float = 0.0) -> torch.Tensor:
    """Shape: deltas (..., N, n_steps), S (..., N, n_steps + 1), Z (..., N) → PnL (..., N);
    S and Z broadcast (one path set for many models, or one per model).

    Several instruments (``instruments.instrument_prices``): a last axis of them on both,
    deltas (..., N, n_steps, I) and S (..., N, n_steps + 1, I); the gains and costs above
    are summed over instruments, each trade paying ``cost`` times its instrument's price.
    """
    several = deltas.shape[-1] == S.shape[-1] and deltas.dim() >= 3
    dates = -2 if several else -1
    if deltas.shape[dates] != S.shape[dates] - 1:
        raise ValueError(f"compute_pnl: deltas {tuple(deltas.shape)} and prices "
                         f"{tuple(S.shape)} do not match (n_steps vs n_steps + 1 dates, "
                         f"then instruments last when there are several)")
    if several:  # instruments ahead of paths and dates: the sums below run over dates
        deltas, S = deltas.movedim(-1, -3), S.movedim(-1, -3)
    gains = (deltas * (S[..., 1:] - S[..., :-1])).sum(-1)
    pnl = (gains.sum(-2) if several else gains) - Z
    if cost > 0:
        trades = torch.diff(deltas, dim=-1, prepend=torch.zeros_like(deltas[..., :1]))
        paid = (trades.abs() * S[..., :-1]).sum(-1)
        pnl = pnl - cost * (paid.sum(-2) if several else paid)
    return pnl


def cvar_loss(pnl: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """OCE form of CVaR_α of the loss −PnL: y + E[(−PnL − y)^+] / α; y has shape pnl[..., 0].

    Minimal over y at the α-VaR of −PnL, where it equals the CVaR (Rockafellar–Uryasev).
    """
    return y + torch.relu(-pnl - y[..., None]).mean(-1) / alpha


def entropic_loss(pnl: torch.Tensor, risk_aversion: float) -> torch.Tensor:
    """Entropic risk (1/λ) log E[exp(−λ PnL)], computed stably."""
    n = pnl.shape[-1]
    return (torch.logsumexp(-risk_aversion * pnl, dim=-1) - math.log(n)) / risk_aversion


def worst_losses(pnl: torch.Tensor, alpha: float) -> torch.Tensor:
    """The floor(α n) + 1 largest losses −PnL, largest first: all a tail statistic needs."""
    n = pnl.shape[-1]
    return torch.topk(-pnl, min(math.floor(alpha * n) + 1, n), dim=-1).values


def cvar_from_worst(worst: torch.Tensor, alpha: float, n: int) -> torch.Tensor:
    """CVaR_α from ``worst_losses`` (of at least α n + 1 entries) of a sample of size n."""
    k = math.floor(alpha * n)
    head = worst[..., :k].sum(-1)
    frac = alpha * n - k  # the partial weight of the (k+1)-th worst loss
    tail = worst[..., k] * frac if k < n else 0.0
    return (head + tail) / (alpha * n)


def empirical_cvar(pnl: torch.Tensor, alpha: float) -> torch.Tensor:
    """CVaR_α of −PnL on a sample: the OCE minimum, with the exact α-tail weighting."""
    return cvar_from_worst(worst_losses(pnl, alpha), alpha, pnl.shape[-1])


class RiskMeasure:
    """A risk measure of the loss −PnL, as pfhedge keeps them (one class each, one
    interface): ``risk`` of a P&L sample at the level's optimum, in money (the indifference
    price), and ``oce``, the loss a network trains on at its own level y (Shape: pnl
    (..., N), y (...) → (...))."""

    def __init__(self, spec: LossConfig):
        self.spec = spec

    def risk(self, pnl: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def oce(self, pnl: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class CVaR(RiskMeasure):
    """CVaR at ``loss.alpha``: the empirical tail mean; trained in OCE form at level y."""

    def risk(self, pnl: torch.Tensor) -> torch.Tensor:
        return empirical_cvar(pnl, self.spec.alpha)

    def oce(self, pnl: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cvar_loss(pnl, y, self.spec.alpha)


class Entropic(RiskMeasure):
    """Entropic risk at ``loss.risk_aversion``; it has no level: y is not used."""

    def risk(self, pnl: torch.Tensor) -> torch.Tensor:
        return entropic_loss(pnl, self.spec.risk_aversion)

    def oce(self, pnl: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return entropic_loss(pnl, self.spec.risk_aversion)


# the registry of ``loss.type``: a new risk measure is one class above and one line here
RISK_MEASURES: dict[str, type[RiskMeasure]] = {"cvar": CVaR, "entropic": Entropic}
OCE_LEVELS = ("batch", "learned")  # CVaR's level y: at each batch's optimum, or learned


def measure_of(config: Config) -> RiskMeasure:
    """The configured risk measure; an unknown ``loss.type`` is an error, never another."""
    if config.loss.type not in RISK_MEASURES:
        raise ValueError(f"config key 'loss.type' = {config.loss.type!r} is invalid: allowed "
                         f"one of {tuple(RISK_MEASURES)}")
    return RISK_MEASURES[config.loss.type](config.loss)


def create_loss_function(config: Config) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(pnl (..., N), y (...)) -> (...)`` for ``loss.type``.

    CVaR with ``loss.oce_level`` "learned": the OCE loss at the network's level y;
    "batch": y at its exact optimum on the sample (the empirical CVaR: y is not used, as in
    pfhedge's expected shortfall). The entropic risk has no level.
    """
    measure = measure_of(config)
    if config.loss.oce_level == "batch":
        return lambda pnl, y: measure.risk(pnl)
    return measure.oce


def risk_measure(pnl: torch.Tensor, config: Config) -> torch.Tensor:
    """The trained risk measure of a P&L sample, in money (the indifference price)."""
    return measure_of(config).risk(pnl)
