"""The variance swap, the model hedge, and P&L with several instruments."""

import math
import warnings

import pytest
import torch

from lth_hedging import load_config
from lth_hedging.market.hedges import model_hedge, reference_deltas, strategies
from lth_hedging.market.heston import simulate_heston
from lth_hedging.market.instruments import (
    instrument_prices,
    realised_variance,
    variance_swap_scale,
    variance_swap_sensitivity,
    variance_swap_values,
)
from lth_hedging.market.pricing import heston_call
from lth_hedging.measures.anatomy import input_names
from lth_hedging.measures.metrics import paired_difference
from lth_hedging.nets.losses import compute_pnl, empirical_cvar
from lth_hedging.presentation.published import BUEHLER_2019, published_for
from lth_hedging.studies import references
from lth_hedging.studies import stages as ex
from lth_hedging.studies.tickets import Cell, cell_key, run_cells

TWO = {"hedging.instruments": ["stock", "variance_swap"]}
# the default calibration, and Buehler et al.'s Section 5 (ξ = 2: the variance sits at 0 often)
PARAMS = {"default": {},
          "buehler": {"data.heston": {"S0": 100.0, "K": 100.0, "r": 0.0, "v0": 0.04,
                                      "kappa": 1.0, "theta": 0.04, "xi": 2.0, "rho": -0.7},
                      "data.T": 30 / 365}}


@pytest.mark.parametrize("name", PARAMS)
def test_the_variance_swap_is_priced_as_monte_carlo_of_the_realised_variance(
        make_smoke_config, name):
    """Its price at 0 and its value at T/2 average to the Monte Carlo mean of the realised
    leg, on a grid four times finer than the hedging dates, within 3 standard errors."""
    config = make_smoke_config({**TWO, **PARAMS[name]})
    h, T = config.data.heston, config.data.T
    _, v = simulate_heston(40000, 120, T, S0=h.S0, v0=h.v0, kappa=h.kappa, theta=h.theta,
                           xi=h.xi, rho=h.rho, generator=torch.Generator().manual_seed(11))
    leg = variance_swap_scale(config) * realised_variance(v, T)[:, -1]
    mean, se = float(leg.mean()), float(leg.std()) / math.sqrt(len(leg))
    values = variance_swap_values(config, v)
    price = float(values[0, 0])
    assert (values[:, 0] == values[0, 0]).all()
    assert abs(price - mean) < 3 * se, (price, mean, se)
    halfway = values[:, 60]  # a martingale: its mean at any date is the price
    assert abs(float(halfway.mean()) - price) < 3 * float(halfway.std()) / math.sqrt(len(leg))
    assert se < 0.01 * price  # the test could see a 3 % error in the price


def test_the_variance_swap_ends_at_its_realised_leg_and_starts_at_its_closed_form(
        make_smoke_config):
    config = make_smoke_config(TWO)
    h, T = config.data.heston, config.data.T
    _, v = simulate_heston(50, 10, T, S0=h.S0, v0=h.v0, kappa=h.kappa, theta=h.theta, xi=h.xi,
                           rho=h.rho, generator=torch.Generator().manual_seed(0))
    values = variance_swap_values(config, v)
    dt = T / 10
    leg = dt * (v[:, 1:] + v[:, :-1]).sum(1) / 2
    torch.testing.assert_close(values[:, -1], variance_swap_scale(config) * leg)
    expected = h.theta * T + (h.v0 - h.theta) * (1 - math.exp(-h.kappa * T)) / h.kappa
    assert float(values[0, 0]) == pytest.approx(variance_swap_scale(config) * expected)
    # the sensitivity the model hedge divides by: of the value at date 4 to v_4, held from
    # date 3 (the trapezoid's dt/2 of realised variance and the closed form's slope)
    bumped = variance_swap_values(config, v + 1e-6 * torch.nn.functional.one_hot(
        torch.tensor(4), 11).double())
    tau_3 = torch.tensor(T * 7 / 10, dtype=torch.float64)
    slope = (bumped[:, 4] - values[:, 4]) / 1e-6
    torch.testing.assert_close(slope, variance_swap_sensitivity(config, tau_3).expand(50),
                               rtol=1e-5, atol=0)


def test_the_model_hedge_cancels_the_calls_first_order_risk(make_smoke_config):
    """Over a move (h dS, h dv) the call changes by δ_S dS + δ_VS dVS up to second order:
    the residual falls like h², where the Heston delta alone (no variance swap) leaves a
    first-order residual, falling like h."""
    config = make_smoke_config({**TWO, **PARAMS["buehler"]})
    h = config.data.heston
    S = torch.tensor([95.0, 100.0, 105.0], dtype=torch.float64)
    v, tau = torch.full_like(S, 0.05), torch.full_like(S, 10 / 365)

    def call(S, v):
        return heston_call(S, v, tau, K=h.K, kappa=h.kappa, theta=h.theta, xi=h.xi,
                           rho=h.rho)[0]

    stock, swaps = model_hedge(config, S, v, tau)
    assert (swaps > 0).all()  # a long call is long variance: the hedge holds variance swaps

    def residuals(step):
        dS, dv = 1.0 * step, 0.01 * step
        change = call(S + dS, v + dv) - call(S, v)
        both = change - stock * dS - swaps * variance_swap_sensitivity(config, tau) * dv
        return both.abs(), (change - stock * dS).abs()

    (both_1, stock_1), (both_2, stock_2) = residuals(0.1), residuals(0.01)
    assert (both_2 < both_1 / 50).all(), (both_1, both_2)  # second order: about / 100
    assert (stock_2 > stock_1 / 20).all(), (stock_1, stock_2)  # first order: about / 10
    assert (both_2 < stock_2 / 10).all()


def test_pnl_with_two_instruments_is_the_sum_of_their_pnls():
    g = torch.Generator().manual_seed(0)
    deltas = torch.randn(3, 8, 5, 2, generator=g, dtype=torch.float64)
    prices = 100 + torch.randn(8, 6, 2, generator=g, dtype=torch.float64)
    Z = torch.rand(8, generator=g, dtype=torch.float64)
    both = compute_pnl(deltas, prices, Z, 0.01)
    alone = [compute_pnl(deltas[..., i], prices[..., i], torch.zeros(8, dtype=torch.float64),
                         0.01) for i in range(2)]
    torch.testing.assert_close(both, alone[0] + alone[1] - Z)
    with pytest.raises(ValueError, match="do not match"):
        compute_pnl(deltas[..., 0], prices[..., :4, 0], Z)


def test_reference_strategies_trade_the_configured_instruments(make_smoke_config):
    one, two = make_smoke_config(), make_smoke_config(TWO)
    assert "model_hedge" not in strategies(one) and "model_hedge" in strategies(two)
    S, v, _ = ex.get_or_generate_dataset(two, "val")
    S, v = S[:50], v[:50]
    deltas = reference_deltas(two, S, v)
    single = reference_deltas(one, S, v)
    for name, positions in single.items():  # stock-only hedges hold no variance swap
        assert positions.shape == (50, 10)
        torch.testing.assert_close(deltas[name][..., 0], positions)
        assert (deltas[name][..., 1] == 0).all()
    assert deltas["model_hedge"].shape == (50, 10, 2)
    torch.testing.assert_close(deltas["model_hedge"][..., 0], single["heston_delta"])
    assert instrument_prices(two, S, v).shape == (50, 11, 2)


def test_the_stock_alone_cannot_pass_for_the_model_hedge(make_smoke_config):
    """The floor of "the deep hedge matches the model hedge": the best stock-only hedge
    (min-variance delta) is judged worse than the model hedge at zero cost, by the paired
    interval notebook 01 uses, on the Section-5 market at the smoke size (2000 paths)."""
    config = make_smoke_config({**TWO, **PARAMS["buehler"], "loss.alpha": 0.5})
    pnls = references.reference_pnls(config, "test", costs=(0.0,))[0.0]
    diff = paired_difference(pnls["min_variance_delta"], pnls["model_hedge"], "cvar_50",
                             n_bootstrap=200)
    assert diff.ci[0] > 0, diff
    assert float(empirical_cvar(pnls["model_hedge"], 0.5)) < float(
        empirical_cvar(pnls["no_hedge"], 0.5))


def test_bad_instruments_are_named(make_smoke_config):
    for bad in (["variance_swap"], ["stock", "stock"], ["stock", "bond"], "stock"):
        with pytest.raises(ValueError, match="hedging.instruments"):
            make_smoke_config({"hedging.instruments": bad})
    with pytest.raises(ValueError, match="data.scheme"):  # Euler's v drifts from the closed form
        make_smoke_config({**TWO, "data.scheme": "euler"})


def test_the_speed_floor_is_not_hedging_where_trading_costs_more(make_smoke_config):
    """At 1 % costs in Section 5, not trading beats the Black–Scholes delta: the floor of the
    speed measures is then not hedging, so that a network that merely stops trading cannot
    close most of the gap from the floor to the dense network."""
    costly = make_smoke_config({**TWO, **PARAMS["buehler"], "loss.alpha": 0.5,
                                "hedging.cost": 0.01})
    risks = references.trivial_risks(costly)
    assert risks["no_hedge"] < risks["bs_delta"]
    assert references.floor(costly) == ("no_hedge", risks["no_hedge"])
    default = make_smoke_config()
    name, risk = references.floor(default)
    assert name == "bs_delta" and risk == references.trivial_risks(default)["bs_delta"]


@pytest.fixture(autouse=False)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Feller fails by far in Section 5
        yield


def test_buehler_yaml_is_the_published_setting(quiet):
    config = load_config("configs/buehler.yaml")
    assert published_for(config) is BUEHLER_2019
    assert config.data.heston.xi == 2.0 and config.loss.alpha == 0.5
    assert config.hedging.instruments == ("stock", "variance_swap")
    assert published_for(load_config("configs/buehler.yaml", {"data.heston.xi": 0.2})) is None
    assert published_for(load_config(None)) is None


def test_a_two_instrument_ticket_prunes_retrains_and_reads_its_inputs(make_smoke_config):
    """The ticket pipeline (mask from θ*, retrain from θ0, test P&L, input anatomy) on the
    network with two outputs, by config alone; its stage keys differ from the stock-only
    network's."""
    config = make_smoke_config({**TWO, "training.epochs": 4})
    cell = Cell("ticket", 0.8, 0.01, 0, 0.01)
    ticket = run_cells(config, [cell])[0]
    assert ticket.mask["layers.0.weight"].shape[1] == 3 + 2  # features + 2 previous positions
    assert ticket.mask["layers.2.weight"].shape[0] == 2  # one output per instrument
    assert ticket.test_pnl.shape == (config.data.n_paths["test"],)
    assert torch.isfinite(ticket.test_pnl).all()
    assert input_names(ticket.mask)[-2:] == ["previous_position_stock",
                                              "previous_position_variance_swap"]
    one = make_smoke_config({"training.epochs": 4})
    assert cell_key(config, cell) != cell_key(one, cell)


def test_the_variance_swap_has_no_drift_on_the_hedging_grid_even_where_v_is_near_zero(
        make_smoke_config):
    """Its one-day gains average zero within 3 standard errors at every date, also over the
    paths whose variance is in its lowest quarter (where a state-dependent drift would show),
    on QE paths of Section 5 (ξ = 2) at the hedging dates. Full-truncation Euler paths fail
    this (their v is not the closed form's process), which is why a variance swap requires
    ``data.scheme: qe``."""
    config = make_smoke_config({**TWO, **PARAMS["buehler"]})
    h, T = config.data.heston, config.data.T

    def worst_z(scheme):
        _, v = simulate_heston(40000, 30, T, S0=h.S0, v0=h.v0, kappa=h.kappa, theta=h.theta,
                               xi=h.xi, rho=h.rho, scheme=scheme,
                               generator=torch.Generator().manual_seed(5))
        gains = variance_swap_values(config, v).diff(dim=1)
        z = []
        for t in range(30):
            low = v[:, t] <= v[:, t].quantile(0.25)
            for g in (gains[:, t], gains[low, t]):
                z.append(abs(float(g.mean())) / (float(g.std()) / math.sqrt(len(g)) + 1e-300))
        return max(z)

    assert worst_z("qe") < 4  # 60 tests: the largest |z| of independent normals is about 2.5
    assert worst_z("euler") > 10
