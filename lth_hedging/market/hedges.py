"""Classical reference hedges evaluated along simulated paths.

Money is in time-0 units (discounted spot S̃, strike K̃ = K e^{−rT}); a price in these units
is e^{−rt} times the usual one and every delta ∂C/∂S is unchanged, so the Heston formulas
are used with r = 0 and strike K̃.
"""

from __future__ import annotations

import torch

from ..foundations.config import Config
from .features import time_to_maturity
from .heston import discounted_strike
from .instruments import VARIANCE_SWAP, complete_market, variance_swap_sensitivity, with_instruments
from .pricing import bs_delta, heston_call

STRATEGIES = ("no_hedge", "bs_delta", "heston_delta", "min_variance_delta")
MODEL_HEDGE = "model_hedge"  # with the stock and a variance swap: the complete market's hedge
LABELS = {"no_hedge": "No hedge", "bs_delta": "Black–Scholes delta",
          "heston_delta": "Heston delta", "min_variance_delta": "Heston min-variance delta",
          MODEL_HEDGE: "Model hedge (stock + variance swap)", "deep_hedge": "Deep hedge"}


def strategies(config: Config) -> tuple[str, ...]:
    """The reference strategies of ``config``: the stock-only hedges, and the model hedge
    when the variance swap is traded."""
    return (*STRATEGIES, MODEL_HEDGE) if complete_market(config) \
        else STRATEGIES


Greeks = tuple[torch.Tensor, torch.Tensor]  # (∂C/∂S, ∂C/∂v) at some states


def heston_greeks(config: Config, S: torch.Tensor, v: torch.Tensor, tau: torch.Tensor) -> Greeks:
    """The call's delta ∂C/∂S and vega ∂C/∂v (Heston, time-0 money), float64: what every
    Heston reference hedge is made of (computed once for all of them)."""
    h = config.data.heston
    _, delta, vega = heston_call(S, v, tau, K=discounted_strike(config), kappa=h.kappa,
                                 theta=h.theta, xi=h.xi, rho=h.rho, r=0.0)
    return delta, vega


def heston_deltas(config: Config, S: torch.Tensor, v: torch.Tensor, tau: torch.Tensor,
                  greeks: Greeks | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Heston delta ∂C/∂S and minimum-variance delta ∂C/∂S + (ρξ/S) ∂C/∂v.

    The second minimises the instantaneous variance of the hedged position over stock-only
    hedges: the best classical hedge here, the one a deep hedge must reach at zero cost.
    Shape: S, v, tau broadcast together (``greeks``: ``heston_greeks`` there, if at hand).
    """
    h = config.data.heston
    delta, vega = greeks if greeks is not None else heston_greeks(config, S, v, tau)
    return delta, delta + h.rho * h.xi / torch.as_tensor(S, dtype=torch.float64) * vega


def bs_positions(config: Config, S: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The Black–Scholes delta at the current volatility √v_t (the floor of every speed
    measure: a hedge that learned nothing). Shape: S, v (N, n_steps + 1) → (N, n_steps)."""
    tau = time_to_maturity(S.shape[1] - 1, config.data.T)[None, :]
    v_t = v[:, :-1].double()
    return bs_delta(S[:, :-1].double(), discounted_strike(config), tau,
                    v_t.clamp_min(0).sqrt()).float()


def model_hedge(config: Config, S: torch.Tensor, v: torch.Tensor, tau: torch.Tensor,
                greeks: Greeks | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The Heston model hedge with the stock and the variance swap: ∂C/∂S shares and
    ∂C/∂v ÷ ∂VS/∂v variance swaps, which cancel both of the call's risks (the market is
    complete). Shape: S, v, tau broadcast together → (stock, variance swap), float64."""
    delta, vega = greeks if greeks is not None else heston_greeks(config, S, v, tau)
    return delta, vega / variance_swap_sensitivity(config, tau)


def reference_deltas(config: Config, S: torch.Tensor, v: torch.Tensor) -> dict[str, torch.Tensor]:
    """Positions of every reference strategy (``strategies``) at the hedging dates.

    Shape: S, v (N, n_steps + 1) → each (N, n_steps) with the stock alone, float32; with
    several instruments (N, n_steps, I), the stock-only hedges holding none of the others.
    """
    n_steps = S.shape[1] - 1
    tau = time_to_maturity(n_steps, config.data.T)[None, :]
    S_t, v_t = S[:, :-1].double(), v[:, :-1].double()
    greeks = heston_greeks(config, S_t, v_t, tau)  # the expensive part, once
    heston, min_var = heston_deltas(config, S_t, v_t, tau, greeks)
    out = {"no_hedge": torch.zeros_like(S_t), "heston_delta": heston,
           "min_variance_delta": min_var}
    out = {"bs_delta": bs_positions(config, S, v),
           **{name: value.float() for name, value in out.items()}}
    out = {name: with_instruments(config, value) for name, value in out.items()}
    if MODEL_HEDGE in strategies(config):
        stock, swaps = model_hedge(config, S_t, v_t, tau, greeks)
        out[MODEL_HEDGE] = with_instruments(config, stock.float(),
                                            {VARIANCE_SWAP: swaps.float()})
    return out

