"""Exogenous network inputs, computed once per dataset (never per batch).

Money is in time-0 units (see ``heston.get_or_generate_dataset``), so log(S̃_t / K̃) with
K̃ = K e^{−rT} is the log forward moneyness. Each feature is scaled to order one with
constants of the model (maturity and long-run volatility), not statistics of the data, so
the same network reads every split and every config alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..foundations.config import Config
from .heston import discounted_strike
from .instruments import instrument_prices

FEATURE_NAMES = ("log_moneyness", "time_to_maturity", "volatility")


def state_features(S: torch.Tensor, v: torch.Tensor, tau: torch.Tensor, *, K: float, T: float,
                   vol_scale: float) -> torch.Tensor:
    """Features of single states (broadcast shapes ...) → (..., 3), ordered as FEATURE_NAMES:
    log(S/K) / (vol_scale √T), τ / T, √v / vol_scale."""
    S, v, tau = torch.broadcast_tensors(S, v, torch.as_tensor(tau, dtype=S.dtype))
    log_m = torch.log(S / K) / (vol_scale * math.sqrt(T))
    return torch.stack([log_m, tau / T, v.clamp_min(0).sqrt() / vol_scale], dim=-1)


def compute_features(S: torch.Tensor, v: torch.Tensor, *, K: float, T: float,
                     vol_scale: float) -> torch.Tensor:
    """Features at the hedging dates t = 0 … n_steps − 1.

    Shape: S, v (N, n_steps + 1) → (N, n_steps, 3).
    """
    tau = time_to_maturity(S.shape[1] - 1, T).to(S.dtype)
    return state_features(S[:, :-1], v[:, :-1], tau, K=K, T=T, vol_scale=vol_scale)


def time_to_maturity(n_steps: int, T: float) -> torch.Tensor:
    """τ at the hedging dates, shape (n_steps,)."""
    return T * (1 - torch.arange(n_steps, dtype=torch.float64) / n_steps)


@dataclass(frozen=True)
class HedgingData:
    """What training and evaluation read: features (N, n_steps, F), the traded prices S
    (N, n_steps + 1) — the stock — or (N, n_steps + 1, I) with several instruments
    (``instruments.instrument_prices``), and the payoff Z (N,)."""

    features: torch.Tensor
    S: torch.Tensor
    Z: torch.Tensor

    def __len__(self) -> int:
        return self.S.shape[0]

    def take(self, index: torch.Tensor) -> HedgingData:
        return HedgingData(self.features[index], self.S[index], self.Z[index])

    def to(self, device: torch.device) -> HedgingData:
        return HedgingData(self.features.to(device), self.S.to(device), self.Z.to(device))

    def slice(self, start: int, stop: int) -> HedgingData:
        return HedgingData(self.features[start:stop], self.S[start:stop], self.Z[start:stop])


def make_hedging_data(config: Config, S: torch.Tensor, v: torch.Tensor,
                      Z: torch.Tensor) -> HedgingData:
    """The network's inputs and the prices of ``hedging.instruments`` on the paths (S, v, Z)."""
    features = compute_features(S, v, K=discounted_strike(config), T=config.data.T,
                                vol_scale=math.sqrt(config.data.heston.theta))
    return HedgingData(features, instrument_prices(config, S, v), Z)
