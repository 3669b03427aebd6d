"""Classical reference hedges evaluated along simulated paths.

Money is in time-0 units (discounted spot S̃, strike K̃ = K e^{−rT}); a price in these units
is e^{−rt} times the usual one and every delta ∂C/∂S is unchanged, so the Heston formulas
are used with r = 0 and strike K̃.
"""

from __future__ import annotations

import torch

from .config import Config
from .features import time_to_maturity
from .heston import discounted_strike
from .pricing import bs_delta, heston_call

STRATEGIES = ("no_hedge", "bs_delta", "heston_delta", "min_variance_delta")
LABELS = {"no_hedge": "No hedge", "bs_delta": "Black–Scholes delta",
          "heston_delta": "Heston delta", "min_variance_delta": "Heston min-variance delta",
          "deep_hedge": "Deep hedge"}


def heston_deltas(config: Config, S: torch.Tensor, v: torch.Tensor,
                  tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heston delta ∂C/∂S and minimum-variance delta ∂C/∂S + (ρξ/S) ∂C/∂v.

    The second minimises the instantaneous variance of the hedged position over stock-only
    hedges: the best classical hedge here, the one a deep hedge must reach at zero cost.
    Shape: S, v, tau broadcast together.
    """
    h = config.data.heston
    _, delta, vega = heston_call(S, v, tau, K=discounted_strike(config), kappa=h.kappa,
                                 theta=h.theta, xi=h.xi, rho=h.rho, r=0.0)
    return delta, delta + h.rho * h.xi / torch.as_tensor(S, dtype=torch.float64) * vega


def bs_positions(config: Config, S: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The Black–Scholes delta at the current volatility √v_t (the floor of every speed
    measure: a hedge that learned nothing). Shape: S, v (N, n_steps + 1) → (N, n_steps)."""
    tau = time_to_maturity(S.shape[1] - 1, config.data.T)[None, :]
    v_t = v[:, :-1].double()
    return bs_delta(S[:, :-1].double(), discounted_strike(config), tau,
                    v_t.clamp_min(0).sqrt()).float()


def reference_deltas(config: Config, S: torch.Tensor, v: torch.Tensor) -> dict[str, torch.Tensor]:
    """Positions of every reference strategy at the hedging dates.

    Shape: S, v (N, n_steps + 1) → each (N, n_steps), float32.
    """
    n_steps = S.shape[1] - 1
    tau = time_to_maturity(n_steps, config.data.T)[None, :]
    S_t, v_t = S[:, :-1].double(), v[:, :-1].double()
    heston, min_var = heston_deltas(config, S_t, v_t, tau)
    out = {"no_hedge": torch.zeros_like(S_t), "heston_delta": heston,
           "min_variance_delta": min_var}
    return {"bs_delta": bs_positions(config, S, v),
            **{name: value.float() for name, value in out.items()}}

