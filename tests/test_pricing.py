import math

import pytest
import torch

from lth_hedging.market.pricing import bs_delta, bs_price, heston_call

QL = pytest.importorskip("QuantLib")

P = dict(kappa=1.5768, theta=0.0398, xi=0.5751, rho=-0.5711)
R = 0.02
# (S, v, days, K): at the money, in and out of the money, one day left, variance near 0.
POINTS = [(100, 0.0175, 30, 100), (100, 0.0175, 30, 90), (100, 0.0175, 30, 110),
          (97, 0.05, 1, 100), (103, 0.001, 1, 100), (100, 0.0398, 10, 100),
          (100, 0.2, 365, 100), (110, 0.01, 5, 100), (92, 0.03, 20, 100)]


def ql_price(S, v, days, K):
    """QuantLib's AnalyticHestonEngine with a tight tolerance (its default is too loose)."""
    today = QL.Date(2, 1, 2025)
    QL.Settings.instance().evaluationDate = today
    dc = QL.Actual365Fixed()
    maturity = today + days
    rates = QL.YieldTermStructureHandle(QL.FlatForward(today, R, dc))
    divs = QL.YieldTermStructureHandle(QL.FlatForward(today, 0.0, dc))
    process = QL.HestonProcess(rates, divs, QL.QuoteHandle(QL.SimpleQuote(S)), v, P["kappa"],
                               P["theta"], P["xi"], P["rho"])
    engine = QL.AnalyticHestonEngine(QL.HestonModel(process), 1e-13, 1_000_000)
    option = QL.EuropeanOption(QL.PlainVanillaPayoff(QL.Option.Call, K),
                               QL.EuropeanExercise(maturity))
    option.setPricingEngine(engine)
    return option.NPV(), dc.yearFraction(today, maturity)


@pytest.mark.parametrize("S, v, days, K", POINTS)
def test_heston_matches_quantlib(S, v, days, K):
    price_ql, tau = ql_price(S, v, days, K)
    h_s, h_v = 1e-3, 1e-5
    delta_ql = (ql_price(S + h_s, v, days, K)[0] - ql_price(S - h_s, v, days, K)[0]) / (2 * h_s)
    vega_ql = (ql_price(S, v + h_v, days, K)[0] - ql_price(S, v - h_v, days, K)[0]) / (2 * h_v)
    price, delta, vega = heston_call(S, v, tau, K=K, r=R, **P)
    assert price.item() == pytest.approx(price_ql, abs=1e-6)
    assert delta.item() == pytest.approx(delta_ql, abs=2e-5)
    assert vega.item() == pytest.approx(vega_ql, abs=5e-3 * max(1.0, abs(vega_ql)))


def test_heston_vectorises_and_broadcasts():
    S = torch.tensor([[90.0], [100.0], [110.0]], dtype=torch.float64)
    v = torch.tensor([0.01, 0.04], dtype=torch.float64)
    price, delta, vega = heston_call(S, v, 0.1, K=100.0, r=R, **P)
    assert price.shape == delta.shape == vega.shape == (3, 2)
    one = heston_call(100.0, 0.04, 0.1, K=100.0, r=R, **P)
    assert price[1, 1].item() == pytest.approx(one[0].item(), abs=1e-12)
    assert (delta[1:] >= delta[:-1]).all()  # delta increases with the spot


def test_heston_tends_to_black_scholes_as_vol_of_vol_vanishes():
    # ξ → 0 with v0 = θ and ρ = 0: constant variance, Black–Scholes at √θ (with ρ ≠ 0 the
    # skew is first order in ρξ).
    p = dict(P, xi=1e-4, theta=0.04, rho=0.0)
    S = torch.tensor([85.0, 100.0, 115.0])
    price, delta, _ = heston_call(S, 0.04, 0.25, K=100.0, r=R, **p)
    torch.testing.assert_close(price, bs_price(S, 100.0, 0.25, 0.2, R), atol=1e-5, rtol=0)
    torch.testing.assert_close(delta, bs_delta(S, 100.0, 0.25, 0.2, R), atol=1e-5, rtol=0)


def test_expired_option_is_its_payoff():
    price, delta, vega = heston_call(torch.tensor([95.0, 105.0]), 0.04, 0.0, K=100.0, **P)
    assert price.tolist() == [0.0, 5.0] and delta.tolist() == [0.0, 1.0]
    assert vega.tolist() == [0.0, 0.0]


def test_black_scholes_put_call_parity_and_delta():
    S, K, tau, sigma = 100.0, 95.0, 0.5, 0.25
    call = bs_price(S, K, tau, sigma, R).item()
    put = call - S + K * math.exp(-R * tau)
    assert put > 0
    h = 1e-4
    fd = (bs_price(S + h, K, tau, sigma, R) - bs_price(S - h, K, tau, sigma, R)).item() / (2 * h)
    assert bs_delta(S, K, tau, sigma, R).item() == pytest.approx(fd, abs=1e-7)
