"""Heston paths: Andersen's QE scheme (default) or full-truncation Euler, and the cached datasets.

    dS_t = r S_t dt + √v_t S_t dW_t,   dv_t = κ(θ − v_t) dt + ξ √v_t dB_t,   d⟨W, B⟩ = ρ dt

Randomness comes only from an explicit ``torch.Generator``; each data split has its own seed.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import torch

from ..foundations.code import DATA, fingerprint
from ..foundations.config import Config, config_hash, resolve
from ..foundations.store import decode, no_room, save_file, warn_damaged

PSI_CRITICAL = 1.5  # Andersen's switching level between the two QE branches
DATASET_VERSION = 2  # bump when the generator changes what a seed produces


SCHEMES = ("qe", "euler")  # Andersen's quadratic-exponential, full-truncation Euler


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
    if scheme not in SCHEMES:
        raise ValueError(f"scheme = {scheme!r} is invalid: allowed {SCHEMES}")
    dt = T / n_steps
    # Time-major storage: each step reads and writes contiguous rows (columns of a path-major
    # array are strided, which made every elementwise op several times slower). Each step
    # draws only what its branches use, in a fixed order, so a seed fixes the paths.
    v = torch.empty(n_steps + 1, n_paths, dtype=dtype)
    log_s = torch.empty(n_steps + 1, n_paths, dtype=dtype)
    v[0] = v0
    log_s[0] = math.log(S0)
    step = _qe_step if scheme == "qe" else _euler_step
    for t in range(n_steps):
        v[t + 1], dlog = step(v[t], generator, dt, kappa, theta, xi, rho)
        torch.add(log_s[t], dlog, alpha=1.0, out=log_s[t + 1]).add_(r * dt)
    if scheme == "euler":
        v.clamp_min_(0.0)  # full truncation: the scheme's variance is max(v, 0)
    S = log_s.exp_()
    if not torch.isfinite(S).all():
        raise ValueError(f"Heston paths are not finite (S0={S0}, r={r}, v0={v0}, κ={kappa}, "
                         f"θ={theta}, ξ={xi}, ρ={rho}, dt={dt}): parameters out of range")
    return S.T.contiguous(), v.T.contiguous()


def _qe_step(v, generator, dt, kappa, theta, xi, rho):
    """Andersen (2008) QE for v with the martingale-corrected log-spot step (γ1 = γ2 = 1/2).

    A branch is computed, and its random numbers drawn, only when some path takes it (with a
    small ξ, ψ ≤ 1.5 everywhere). Draws per step: Z_v if any ψ ≤ 1.5, U if any ψ > 1.5, Z_s.
    """
    E = math.exp(-kappa * dt)
    m = v.mul(E).add_(theta * (1 - E))
    s2 = v.mul(xi**2 * E * (1 - E) / kappa).add_(theta * xi**2 * (1 - E) ** 2 / (2 * kappa))
    psi = s2.div_(m * m)
    quadratic = psi <= PSI_CRITICAL
    any_quad, all_quad = bool(quadratic.any()), bool(quadratic.all())

    k2 = 0.5 * dt * (kappa * rho / xi - 0.5) + rho / xi
    k3 = 0.5 * dt * (1 - rho**2)  # = K4
    A = k2 + 0.5 * k3
    # Martingale correction: K0 such that E[exp(Δ log S)] = 1 exactly under the scheme. It
    # exists when 2Aa < 1 (quadratic) and β > A (exponential): always when A ≤ 0 (ρ < 0), and
    # in every setting probed with ρ > 0 (ξ ≤ 3, ρ ≤ 0.99, steps up to 10 years). Were it not
    # to exist, log would give NaN and simulate_heston raises on the non-finite paths.
    if any_quad:  # v' = a (b + Z)²: a non-central χ² with matched moments
        t = psi.reciprocal().mul_(2)
        tm1 = t - 1
        b2 = (t * tm1).sqrt_().add_(tm1)
        a = m / (b2 + 1)
        Zv = torch.randn(v.shape, generator=generator, dtype=v.dtype)
        v_quad = Zv.add_(b2.sqrt()).square_().mul_(a)
        x = a.mul(-2 * A).add_(1)  # 1 − 2Aa
        k0_quad = (b2 * a).div_(x).mul_(-A).add_(x.log().mul_(0.5))
    if not all_quad:  # a mass p at zero and an exponential tail
        U = torch.rand(v.shape, generator=generator, dtype=v.dtype)
        q = psi.add(1).reciprocal_()  # 1 − p = 2q
        p = 1 - 2 * q
        beta = (2 * q).div_(m)
        tail = torch.log(2 * q / (1 - U).clamp_min(1e-30)).div_(beta)
        v_exp = torch.where(U > p, tail, torch.zeros_like(v))
        k0_exp = torch.log(beta * (2 * q) / (beta - A) + p).neg_()
    if all_quad:
        v_next, k0 = v_quad, k0_quad
    elif not any_quad:
        v_next, k0 = v_exp, k0_exp
    else:
        v_next = torch.where(quadratic, v_quad, v_exp)
        k0 = torch.where(quadratic, k0_quad, k0_exp)
    # Δ log S = K0* + K1 v + K2 v' + √(K3 (v + v')) Zs with K0* = k0 − (K1 + K3/2) v
    Zs = torch.randn(v.shape, generator=generator, dtype=v.dtype)
    dlog = (v + v_next).mul_(k3).sqrt_().mul_(Zs)
    dlog.add_(k0).add_(v, alpha=-0.5 * k3).add_(v_next, alpha=k2)
    return v_next, dlog


def _euler_step(v, generator, dt, kappa, theta, xi, rho):
    """Full-truncation Euler (Lord, Koekkoek, van Dijk 2010): exact only as dt → 0."""
    vp = v.clamp_min(0.0)
    Zv = torch.randn(v.shape, generator=generator, dtype=v.dtype)
    Zs = torch.randn(v.shape, generator=generator, dtype=v.dtype)
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
    try:
        S, v = simulate_heston(d.n_paths[split], d.n_steps, d.T, S0=h.S0, v0=h.v0,
                               kappa=h.kappa, theta=h.theta, xi=h.xi, rho=h.rho, r=0.0,
                               scheme=d.scheme, generator=generator)
    except ValueError as err:  # in the config's terms (the discounted spot has r = 0)
        raise ValueError(f"config keys data.heston = {config.to_dict()['data']['heston']}, "
                         f"data.T = {d.T}, data.n_steps = {d.n_steps}, data.scheme = "
                         f"{d.scheme!r} give Heston paths that are not finite: allowed "
                         "parameters whose paths stay finite") from err
    Z = (S[:, -1] - discounted_strike(config)).clamp_min(0.0)
    return {"S": S.float().numpy(), "v": v.float().numpy(), "Z": Z.float().numpy()}


def dataset_key(config: Config, split: str) -> str:
    d = config.data
    return config_hash(config, sections=(), extra={
        "version": DATASET_VERSION, "code": fingerprint(DATA),
        "heston": config.to_dict()["data"]["heston"], "T": d.T,
        "n_steps": d.n_steps, "n_paths": d.n_paths[split], "seed": d.seeds[split],
        "scheme": d.scheme, "split": split})


def get_or_generate_dataset(config: Config, split: str, cache_dir: str | Path | None = None):
    """``(S, v, Z)`` for ``split`` from the cache, or simulated and cached.

    Money is in time-0 units: ``S`` is the discounted spot e^{−rt} S_t (a martingale) and
    ``Z = (S_T − K e^{−rT})^+`` the discounted call payoff, so P&L needs no further discounting.
    Shape: S (N, n_steps + 1), v (N, n_steps + 1), Z (N,); float32.
    The cache file holds a checksum of its arrays and of what they were simulated from: a file
    that cannot be read, or holds other arrays, shapes, types or values, is rebuilt with a
    warning that names it.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split = {split!r} is invalid: allowed 'train', 'val' or 'test'")
    folder = resolve(cache_dir if cache_dir is not None else config.caching["directory"])
    key = dataset_key(config, split)
    path = folder / f"heston_{split}_{key}.npz"
    arrays = None
    if path.exists() or path.is_symlink():
        try:
            arrays = decode(path.read_bytes(), ".npz")
            check_dataset(arrays, key, config.data.n_paths[split], config.data.n_steps)
        except Exception as err:  # noqa: BLE001 - any unreadable cache file is rebuilt
            warn_damaged(f"cache file {path} is invalid ({type(err).__name__}: {err}); "
                         f"regenerating it")
            arrays = None
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
    if arrays is None:
        arrays = generate_dataset(config, split)
        try:
            save_file(path, {**arrays, "checksum": np.array(dataset_checksum(arrays, key))})
        except OSError as err:
            raise no_room(err, path, "caching.directory") from err
    return tuple(torch.from_numpy(arrays[k]) for k in ("S", "v", "Z"))


def dataset_checksum(arrays: dict[str, np.ndarray], key: str) -> str:
    """SHA-256 of what a dataset was simulated from (its key) and of its arrays."""
    digest = hashlib.sha256(key.encode())
    for name in ("S", "v", "Z"):
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def check_dataset(arrays: dict[str, np.ndarray], key: str, n_paths: int, n_steps: int) -> None:
    """Raise ValueError unless ``arrays`` is the dataset of ``key``, checksum included."""
    if set(arrays) != {"S", "v", "Z", "checksum"}:
        raise ValueError(f"arrays {sorted(arrays)}, expected S, v, Z and checksum")
    shapes = {"S": (n_paths, n_steps + 1), "v": (n_paths, n_steps + 1), "Z": (n_paths,)}
    for name, shape in shapes.items():
        if arrays[name].shape != shape or arrays[name].dtype != np.float32:
            raise ValueError(f"{name} is {arrays[name].dtype} {arrays[name].shape}, expected "
                             f"float32 {shape}")
    if str(arrays["checksum"]) != dataset_checksum(arrays, key):
        raise ValueError("the checksum does not match (other values or another dataset)")
