"""The hedging instruments and their prices along simulated paths: the stock, and a variance
swap (``hedging.instruments``).

Money is in time-0 units (see ``heston.get_or_generate_dataset``). The variance swap here is
the claim that pays at T the annualised realised variance on a notional of S0,

    VS_T = S0 · (1/T) ∫_0^T v_s ds,

the instrument of Buehler, Gonon, Teichmann and Wood (2019, Section 5), who trade
S²_t = E[∫_0^T v_s ds | F_t]: the same claim in units of T/S0, a unit that puts the
hedge's position near one instead of near S0/T. In the Heston model its value is

    VS_t = e^{−rT} (S0/T) (∫_0^t v_s ds + L(τ, v_t)),   L(τ, v) = θτ + (v − θ)(1 − e^{−κτ})/κ,

the realised variance so far plus the expected remaining variance (``pricing.
expected_integrated_variance``): a martingale that ends at the realised leg. A fixed strike
would shift every price by a constant (gains unchanged); proportional costs are charged on
this value, as in the paper. On the simulation grid ∫ v ds is the trapezoid rule, the
integral Andersen's QE spot step uses; the trapezoid error is a drift of order (κ dt)² / 12
of a step's variance (about 1e-6 relative at daily steps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..foundations.config import Config
from .pricing import expected_integrated_variance


def n_instruments(config: Config) -> int:
    return len(config.hedging.instruments)


def variance_swap_scale(config: Config) -> float:
    """e^{−rT} S0 / T: the money one unit of integrated variance is worth at time 0."""
    h, T = config.data.heston, config.data.T
    return math.exp(-h.r * T) * h.S0 / T


def realised_variance(v: torch.Tensor, T: float) -> torch.Tensor:
    """∫_0^{t_k} v_s ds at every grid date (trapezoid rule). Shape: (N, n_steps + 1), float64."""
    dt = T / (v.shape[-1] - 1)
    steps = 0.5 * dt * (v[..., 1:] + v[..., :-1]).double()
    return torch.cat([torch.zeros_like(steps[..., :1]), steps.cumsum(-1)], dim=-1)


def variance_swap_values(config: Config, v: torch.Tensor) -> torch.Tensor:
    """VS_t at every grid date of every path, in time-0 money (module docstring).

    Shape: v (N, n_steps + 1) → (N, n_steps + 1), float64; column 0 is the price at t = 0 and
    the last column the realised leg.
    """
    h, T = config.data.heston, config.data.T
    n_steps = v.shape[-1] - 1
    tau = T * (1 - torch.arange(n_steps + 1, dtype=torch.float64) / n_steps)
    remaining = expected_integrated_variance(v.double().clamp_min(0.0), tau, h.kappa, h.theta)
    return variance_swap_scale(config) * (realised_variance(v, T) + remaining)


def variance_swap_sensitivity(config: Config, tau: torch.Tensor) -> torch.Tensor:
    """How much the variance swap held from a date at time to maturity ``tau`` (any shape)
    gains per unit of variance at the next date: ∂VS_{t+1}/∂v_{t+1} = e^{−rT}(S0/T)(dt/2 +
    (1 − e^{−κ(τ − dt)})/κ), the trapezoid's half step of realised variance and the expected
    remaining variance (dt = T / n_steps; in continuous time (1 − e^{−κτ})/κ, which would
    under-size the model hedge's swaps by about dt / 2τ: half of it on the last date)."""
    kappa, dt = config.data.heston.kappa, config.data.T / config.data.n_steps
    remaining = (torch.as_tensor(tau, dtype=torch.float64) - dt).clamp_min(0.0)
    return variance_swap_scale(config) * (dt / 2 - torch.expm1(-kappa * remaining) / kappa)


@dataclass(frozen=True)
class Instrument:
    """A tradable instrument: its value along the paths, what a position in it counts, and
    the simulation schemes under which that value is right."""

    prices: Callable[[Config, torch.Tensor, torch.Tensor], torch.Tensor]  # (config, S, v)
    unit: str
    schemes: tuple[str, ...] = ("qe", "euler")
    why_schemes: str = ""


VARIANCE_SWAP = "variance_swap"  # traded beside the stock, the Heston market is complete
INSTRUMENTS = {  # the registry of ``hedging.instruments``, the stock first
    "stock": Instrument(lambda config, S, v: S, "shares"),
    VARIANCE_SWAP: Instrument(
        lambda config, S, v: variance_swap_values(config, v).to(S.dtype), "variance swaps",
        ("qe",), "its value uses the exact conditional mean of v, which QE matches and "
        "full-truncation Euler does not: there it would drift"),
}


def complete_market(config: Config) -> bool:
    """Whether the hedge trades the variance swap beside the stock (then the model hedge
    replicates the call in continuous time)."""
    return VARIANCE_SWAP in config.hedging.instruments


def instrument_prices(config: Config, S: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The prices the hedge trades, in time-0 money: the stock ``S`` (N, n_steps + 1) alone,
    or with several instruments a last axis of them, (N, n_steps + 1, I), ordered as
    ``hedging.instruments``. ``losses.compute_pnl`` reads either."""
    if n_instruments(config) == 1:
        return S
    return torch.stack([INSTRUMENTS[name].prices(config, S, v)
                        for name in config.hedging.instruments], dim=-1)


def with_instruments(config: Config, stock: torch.Tensor,
                     others: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Positions in every configured instrument: ``stock`` (..., n_steps) as given and the
    others from ``others`` (zero where absent) → (..., n_steps) with the stock alone, else
    (..., n_steps, I)."""
    if n_instruments(config) == 1:
        return stock
    others = others or {}
    return torch.stack([stock if name == "stock" else
                        others.get(name, torch.zeros_like(stock)).to(stock.dtype)
                        for name in config.hedging.instruments], dim=-1)
