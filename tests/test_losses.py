import math

import pytest
import torch

from lth_hedging.nets.losses import compute_pnl, cvar_loss, empirical_cvar, entropic_loss


def test_pnl_by_hand():
    S = torch.tensor([[100.0, 102.0, 101.0]])
    deltas = torch.tensor([[0.5, 0.8]])
    Z = torch.tensor([1.0])
    # gains 0.5·2 + 0.8·(−1) = 0.2; minus payoff 1; costs 0.01·(0.5·100 + 0.3·102)
    assert compute_pnl(deltas, S, Z).item() == pytest.approx(0.2 - 1.0)
    assert compute_pnl(deltas, S, Z, 0.01).item() == pytest.approx(0.2 - 1.0 - 0.01 * 80.6)


def test_pnl_broadcasts_over_a_leading_model_axis():
    S = torch.rand(5, 4) + 1
    deltas = torch.rand(3, 5, 3)
    Z = torch.rand(5)
    stacked = compute_pnl(deltas, S, Z, 0.01)
    assert stacked.shape == (3, 5)
    torch.testing.assert_close(stacked[1], compute_pnl(deltas[1], S, Z, 0.01))


def sample(seed=0, n=4000):
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_oce_minimum_is_the_empirical_cvar():
    pnl = sample()  # α n = 200 is an integer: the OCE minimum is exactly the tail mean
    losses = torch.sort(-pnl, descending=True).values
    var = losses[199]
    cvar = empirical_cvar(pnl, 0.05).item()
    assert cvar_loss(pnl, var, 0.05).item() == pytest.approx(cvar, abs=1e-12)
    grid = torch.linspace(-1, 4, 5001, dtype=torch.float64)
    assert cvar_loss(pnl, grid, 0.05).min().item() >= cvar - 1e-12
    # and, for a large normal sample, close to the analytic CVaR φ(z)/α of N(0, 1)
    z = 1.6448536269514722
    analytic = math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / 0.05
    assert empirical_cvar(sample(n=400_000), 0.05).item() == pytest.approx(analytic, abs=0.02)


RISKS = {
    "cvar": lambda x: empirical_cvar(x, 0.05),
    "oce": lambda x: cvar_loss(x, torch.tensor(1.0, dtype=torch.float64), 0.05),
    "entropic": lambda x: entropic_loss(x, 1.5),
}


@pytest.mark.parametrize("name", RISKS)
def test_risk_measure_axioms(name):
    rho = RISKS[name]
    x, y = sample(1), sample(2)
    # monotone: a P&L that is larger path by path carries less risk
    assert rho(x + x.abs() * 0.1 + 0.01) < rho(x)
    # cash-invariant: adding cash c lowers the risk by exactly c (OCE at fixed y: by the
    # expectation term only, so check the measures, not the objective)
    if name != "oce":
        assert rho(x + 0.7).item() == pytest.approx(rho(x).item() - 0.7, abs=1e-9)
    # convex
    for lam in (0.25, 0.5, 0.75):
        assert rho(lam * x + (1 - lam) * y) <= lam * rho(x) + (1 - lam) * rho(y) + 1e-12


def test_cvar_weights_the_partial_tail_observation():
    pnl = torch.tensor([-4.0, -2.0, 0.0, 1.0], dtype=torch.float64)
    # α n = 0.5·4 = 2 worst: mean of (4, 2) = 3; α = 0.375 → 1.5 obs: (4 + 0.5·2)/1.5
    assert empirical_cvar(pnl, 0.5).item() == pytest.approx(3.0)
    assert empirical_cvar(pnl, 0.375).item() == pytest.approx(5.0 / 1.5)
