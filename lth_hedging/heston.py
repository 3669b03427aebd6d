"""Heston paths: Andersen's QE scheme (default) or full-truncation Euler, and the cached datasets.

    dS_t = r S_t dt + √v_t S_t dW_t,   dv_t = κ(θ − v_t) dt + ξ √v_t dB_t,   d⟨W, B⟩ = ρ dt

Randomness comes only from an explicit ``torch.Generator``; each data split has its own seed.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch

from .config import Config, config_hash, resolve
from .store import decode, save_file

PSI_CRITICAL = 1.5  # Andersen's switching level between the two QE branches
DATASET_VERSION = 1  # bump when the generator changes what a seed produces


def simulate_heston(
    n_paths: int,
    n_steps: int,
    T: float,
    *,
    S0: float,
    v0: float,
    kappa: float,
    theta: float,
    xi: float,
    rho: float,
    r: float = 0.0,
    scheme: str = "qe",
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spot and variance paths on ``n_steps`` equal steps over ``[0, T]``.

    Shape: S (n_paths, n_steps + 1), v (n_paths, n_steps + 1); column 0 is (S0, v0).
    """
    if scheme not in ("qe", "euler"):
        raise ValueError(f"scheme = {scheme!r} is invalid: allowed 'qe' or 'euler'")
    dt = T / n_steps
    # One uniform and one normal per step and path, drawn up front: the variance uses the
    # uniform (through Φ⁻¹ where it needs a normal), the spot's independent part the normal.
    U = torch.rand(n_paths, n_steps, generator=generator, dtype=dtype)
    Zs = torch.randn(n_paths, n_steps, generator=generator, dtype=dtype)
    v = torch.empty(n_paths, n_steps + 1, dtype=dtype)
    log_s = torch.empty(n_paths, n_steps + 1, dtype=dtype)
    v[:, 0] = v0
    log_s[:, 0] = math.log(S0)
    step = _qe_step if scheme == "qe" else _euler_step
    for t in range(n_steps):
        v[:, t + 1], dlog = step(v[:, t], U[:, t], Zs[:, t], dt, kappa, theta, xi, rho)
        log_s[:, t + 1] = log_s[:, t] + r * dt + dlog
    if scheme == "euler":
        v = v.clamp_min(0.0)  # full truncation: the scheme's variance is max(v, 0)
    return log_s.exp(), v


def _qe_step(v, U, Zs, dt, kappa, theta, xi, rho):
    """Andersen (2008) QE for v with the martingale-corrected log-spot step (γ1 = γ2 = 1/2)."""
    E = math.exp(-kappa * dt)
    m = theta + (v - theta) * E
    s2 = v * xi**2 * E * (1 - E) / kappa + theta * xi**2 * (1 - E) ** 2 / (2 * kappa)
    psi = s2 / m**2
    quadratic = psi <= PSI_CRITICAL
    # Quadratic branch (ψ ≤ 1.5): v' = a (b + Z)², a non-central χ² with matched moments.
    psi_q = psi.clamp(max=PSI_CRITICAL)
    b2 = 2 / psi_q - 1 + torch.sqrt(2 / psi_q) * torch.sqrt(2 / psi_q - 1)
    a = m / (1 + b2)
    Zv = torch.special.ndtri(U)
    v_quad = a * (torch.sqrt(b2) + Zv) ** 2
    # Exponential branch (ψ > 1.5): a mass p at zero and an exponential tail.
    psi_e = psi.clamp(min=PSI_CRITICAL)
    p = (psi_e - 1) / (psi_e + 1)
    beta = (1 - p) / m
    tail = torch.log((1 - p) / (1 - U).clamp_min(1e-300)) / beta
    v_exp = torch.where(U <= p, torch.zeros_like(v), tail)
    v_next = torch.where(quadratic, v_quad, v_exp)

    k1 = 0.5 * dt * (kappa * rho / xi - 0.5) - rho / xi
    k2 = 0.5 * dt * (kappa * rho / xi - 0.5) + rho / xi
    k3 = 0.5 * dt * (1 - rho**2)  # = K4
    A = k2 + 0.5 * k3
    # Martingale correction: choose K0 so that E[exp(Δ log S)] = 1 exactly under the scheme.
    k0_quad = -A * b2 * a / (1 - 2 * A * a) + 0.5 * torch.log((1 - 2 * A * a).clamp_min(1e-300))
    k0_exp = -torch.log(p + beta * (1 - p) / (beta - A))
    valid = torch.where(quadratic, 2 * A * a < 1, beta > A)
    k0_plain = torch.full_like(v, -rho * kappa * theta * dt / xi)
    k0 = torch.where(valid, torch.where(quadratic, k0_quad, k0_exp) - (k1 + 0.5 * k3) * v, k0_plain)
    dlog = k0 + k1 * v + k2 * v_next + torch.sqrt((k3 * (v + v_next)).clamp_min(0)) * Zs
    return v_next, dlog


def _euler_step(v, U, Zs, dt, kappa, theta, xi, rho):
    """Full-truncation Euler (Lord, Koekkoek, van Dijk 2010): exact only as dt → 0."""
    vp = v.clamp_min(0.0)
    Zv = torch.special.ndtri(U)
    v_next = v + kappa * (theta - vp) * dt + xi * torch.sqrt(vp * dt) * Zv
    Z = rho * Zv + math.sqrt(1 - rho**2) * Zs
    dlog = -0.5 * vp * dt + torch.sqrt(vp * dt) * Z
    return v_next, dlog


def discounted_strike(config: Config) -> float:
    """K e^{−rT}: the strike of the discounted payoff, in time-0 money."""
    h = config.data.heston
    return h.K * math.exp(-h.r * config.data.T)


def generate_dataset(config: Config, split: str) -> dict[str, np.ndarray]:
    """Simulate one split. Money is in time-0 units (see ``get_or_generate_dataset``)."""
    d, h = config.data, config.data.heston
    generator = torch.Generator().manual_seed(d.seeds[split])
    # The discounted spot e^{-rt} S_t is Heston with r = 0: simulate it directly.
    S, v = simulate_heston(d.n_paths[split], d.n_steps, d.T, S0=h.S0, v0=h.v0, kappa=h.kappa,
                           theta=h.theta, xi=h.xi, rho=h.rho, r=0.0, scheme=d.scheme,
                           generator=generator)
    Z = (S[:, -1] - discounted_strike(config)).clamp_min(0.0)
    return {"S": S.float().numpy(), "v": v.float().numpy(), "Z": Z.float().numpy()}


def dataset_key(config: Config, split: str) -> str:
    d = config.data
    return config_hash(config, sections=(), extra={
        "version": DATASET_VERSION, "heston": config.to_dict()["data"]["heston"], "T": d.T,
        "n_steps": d.n_steps, "n_paths": d.n_paths[split], "seed": d.seeds[split],
        "scheme": d.scheme, "split": split})


def get_or_generate_dataset(config: Config, split: str, cache_dir: str | Path | None = None):
    """``(S, v, Z)`` for ``split`` from the cache, or simulated and cached.

    Money is in time-0 units: ``S`` is the discounted spot e^{−rt} S_t (a martingale) and
    ``Z = (S_T − K e^{−rT})^+`` the discounted call payoff, so P&L needs no further discounting.
    Shape: S (N, n_steps + 1), v (N, n_steps + 1), Z (N,); float32.
    A cache file that fails its CRC or cannot be read is rebuilt with a warning.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split = {split!r} is invalid: allowed 'train', 'val' or 'test'")
    folder = resolve(cache_dir if cache_dir is not None else config.caching["directory"])
    path = folder / f"heston_{split}_{dataset_key(config, split)}.npz"
    arrays = None
    if path.exists():
        try:
            arrays = decode(path.read_bytes(), ".npz")
            if set(arrays) != {"S", "v", "Z"}:
                raise ValueError(f"unexpected arrays {sorted(arrays)}")
        except Exception as err:  # noqa: BLE001 - any unreadable cache file is rebuilt
            warnings.warn(f"cache file {path} is unreadable ({err}); regenerating it",
                          stacklevel=2)
            arrays = None
    if arrays is None:
        arrays = generate_dataset(config, split)
        save_file(path, arrays)
    return tuple(torch.from_numpy(arrays[k]) for k in ("S", "v", "Z"))
