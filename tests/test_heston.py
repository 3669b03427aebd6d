import math
import os
import time
import warnings

import numpy as np
import pytest
import torch

from lth_hedging import simulate_heston
from lth_hedging.market.heston import dataset_key, get_or_generate_dataset
from lth_hedging.market.pricing import heston_call

PAPER = dict(S0=100.0, v0=0.0175, kappa=1.5768, theta=0.0398, xi=0.5751, rho=-0.5711)
FELLER = dict(S0=100.0, v0=0.04, kappa=2.0, theta=0.04, xi=0.3, rho=-0.7)  # 2κθ = 0.16 > 0.09


def paths(params, scheme="qe", n=200_000, n_steps=30, T=1 / 12, r=0.02, seed=0):
    g = torch.Generator().manual_seed(seed)
    return simulate_heston(n, n_steps, T, **params, r=r, scheme=scheme, generator=g)


def se(x):
    return x.std().item() / math.sqrt(x.numel())


@pytest.mark.parametrize("scheme", ["qe", "euler"])
def test_moments_within_three_standard_errors(scheme):
    # Euler is only tested where Feller holds: it is biased when v sticks at 0.
    params = PAPER if scheme == "qe" else FELLER
    S, v = paths(params, scheme)
    T, r = 1 / 12, 0.02
    assert S.shape == v.shape == (200_000, 31)
    for t in (10, 30):
        tt = T * t / 30
        ev = params["theta"] + (params["v0"] - params["theta"]) * math.exp(-params["kappa"] * tt)
        assert abs(v[:, t].mean().item() - ev) < 3 * se(v[:, t])
    assert abs(S[:, -1].mean().item() - params["S0"] * math.exp(r * T)) < 3 * se(S[:, -1])
    assert (v >= 0).all() and torch.isfinite(S).all()


@pytest.mark.parametrize("K", [90.0, 100.0, 110.0])
def test_monte_carlo_call_price_matches_semi_analytic(K):
    # QE has a small discretisation bias at 30 steps; 0.005 (0.3 % of the ATM price) bounds it.
    T, r = 1 / 12, 0.02
    S, v = paths(PAPER, n=400_000, T=T, r=r, seed=1)
    payoff = math.exp(-r * T) * (S[:, -1] - K).clamp_min(0)
    p = {k: PAPER[k] for k in ("kappa", "theta", "xi", "rho")}
    exact = heston_call(PAPER["S0"], PAPER["v0"], T, K=K, r=r, **p)[0].item()
    assert abs(payoff.mean().item() - exact) < 3 * se(payoff) + 0.005


def test_qe_and_euler_agree_where_feller_holds():
    Sq, vq = paths(FELLER, "qe", n=200_000, seed=3)
    Se, ve = paths(FELLER, "euler", n=200_000, seed=4)
    for a, b in ((vq[:, -1], ve[:, -1]), ((Sq[:, -1] - 100).clamp_min(0),
                                         (Se[:, -1] - 100).clamp_min(0))):
        tolerance = 3 * math.hypot(se(a), se(b)) + 0.01 * a.mean().item()
        assert abs(a.mean().item() - b.mean().item()) < tolerance


def test_martingale_holds_with_positive_correlation():
    # ρ > 0 makes A = K2 + K4/2 > 0, where the correction's existence is not automatic.
    params = dict(FELLER, rho=0.6, xi=0.9)
    S, _ = paths(params, n=200_000, seed=5)
    assert abs(S[:, -1].mean().item() - 100 * math.exp(0.02 / 12)) < 3 * se(S[:, -1])


def test_non_finite_paths_raise_a_clear_error():
    with pytest.raises(ValueError, match="not finite"):
        simulate_heston(10, 5, 1.0, **PAPER, r=1e4)


def test_generator_makes_paths_reproducible():
    a, _ = paths(PAPER, n=100, seed=7)
    b, _ = paths(PAPER, n=100, seed=7)
    c, _ = paths(PAPER, n=100, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_scheme_is_named():
    with pytest.raises(ValueError, match="scheme"):
        simulate_heston(10, 5, 1.0, **PAPER, scheme="milstein")


def test_dataset_is_cached_and_splits_differ(smoke_config, monkeypatch):
    S, v, Z = get_or_generate_dataset(smoke_config, "train")
    n, steps = smoke_config.data.n_paths["train"], smoke_config.data.n_steps
    assert S.shape == v.shape == (n, steps + 1) and Z.shape == (n,) and S.dtype == torch.float32
    import lth_hedging.market.heston as heston

    monkeypatch.setattr(heston, "generate_dataset", lambda *a: pytest.fail("not a cache hit"))
    S2, v2, Z2 = get_or_generate_dataset(smoke_config, "train")
    assert torch.equal(S, S2) and torch.equal(Z, Z2)
    assert dataset_key(smoke_config, "train") != dataset_key(smoke_config, "val")


def rewrite(path, change):
    """Replace the cache file by a valid .npz of ``change(arrays)``."""
    with np.load(path) as z:
        arrays = change({k: z[k] for k in z.files})
    path.unlink()
    np.savez(path.with_suffix(""), **arrays)  # savez appends .npz


def damage_file(path, damage):
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "shape":
        rewrite(path, lambda a: {**a, "S": a["S"][:-1]})
    elif damage == "dtype":
        rewrite(path, lambda a: {**a, "S": a["S"].astype(np.float64)})
    elif damage == "values":  # right shapes and checksum field, other paths
        rewrite(path, lambda a: {**a, "S": a["S"] * 1.01})
    elif damage == "no checksum":
        rewrite(path, lambda a: {k: v for k, v in a.items() if k != "checksum"})
    elif damage == "directory":
        path.unlink()
        path.mkdir()


@pytest.mark.parametrize("damage", ["truncate", "flip", "shape", "dtype", "values",
                                    "no checksum", "directory"])
def test_damaged_cache_file_is_rebuilt_with_a_warning(smoke_config, damage):
    S, _, _ = get_or_generate_dataset(smoke_config, "val")
    path = next(p for p in (smoke_config_dir(smoke_config)).glob("heston_val_*.npz"))
    damage_file(path, damage)
    with pytest.warns(UserWarning, match="regenerating"):
        S2, _, _ = get_or_generate_dataset(smoke_config, "val")
    assert torch.equal(S, S2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_or_generate_dataset(smoke_config, "val")  # rebuilt file is clean


def test_a_killed_writers_temporary_file_is_removed_when_old(smoke_config):
    folder = smoke_config_dir(smoke_config)
    folder.mkdir(parents=True)
    old, young = folder / ".heston_val_x.npz.abc.tmp", folder / ".heston_val_y.npz.def.tmp"
    for path in (old, young):
        path.write_bytes(b"half a file")
    os.utime(old, (time.time() - 2 * 3600,) * 2)
    get_or_generate_dataset(smoke_config, "val")
    assert not old.exists() and young.exists()


def smoke_config_dir(config):
    from lth_hedging.foundations.config import resolve

    return resolve(config.caching["directory"])


def test_payoff_is_discounted_call_on_discounted_spot(smoke_config):
    S, _, Z = get_or_generate_dataset(smoke_config, "test")
    h, T = smoke_config.data.heston, smoke_config.data.T
    # Z was computed in float64 before S was stored in float32.
    np.testing.assert_allclose(Z, (S[:, -1] - h.K * math.exp(-h.r * T)).clamp_min(0), atol=1e-4)
