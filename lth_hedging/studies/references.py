"""Notebook 01's stages and the references every notebook measures against: the classical
hedges along the paths (stored), the hedges that learned nothing (the floor of every speed
measure) and their floor-control runs, the deep hedge's test P&L and metrics beside the
references, and hedge-ratio slices.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ..foundations import code as code_sets
from ..foundations.config import Config
from ..foundations.records import Record
from ..foundations.store import Store
from ..market.features import state_features
from ..market.hedges import (
    bs_positions,
    heston_deltas,
    heston_greeks,
    model_hedge,
    reference_deltas,
    strategies,
)
from ..market.heston import discounted_strike, get_or_generate_dataset
from ..market.instruments import VARIANCE_SWAP, instrument_prices, n_instruments, with_instruments
from ..measures.metrics import (
    Difference,
    compute_all_metrics,
    paired_difference,
    tail_key,
    tails_with,
)
from ..nets.losses import compute_pnl, create_loss_function, empirical_cvar, risk_measure
from ..nets.model import DeepHedgingNetwork, create_model, hedge_ratio
from ..nets.train import TrainResult, fit_level_only
from .stages import (
    BASE_SECTIONS,
    DenseRun,
    Plan,
    cost_label,
    data_order_seed,
    deep_hedge_pnl,
    load_model,
    load_split,
    open_store,
    plan_schedule,
    risk_function,
    stage_key,
)


def reference_positions(config: Config, split: str = "test",
                        store: Store | None = None) -> dict[str, torch.Tensor]:
    """Every classical strategy's position on each path and date of ``split`` (stored: the
    Heston deltas are the expensive part)."""
    store = store or open_store(config)
    key = stage_key(config, "reference_hedges", ("data",), code=code_sets.REFERENCE,
                    split=split)

    def compute() -> dict:
        S, v, _ = get_or_generate_dataset(config, split)
        start = time.perf_counter()
        deltas = reference_deltas(config, S, v)
        return {"deltas.pt": deltas, "summary.json": {"seconds": time.perf_counter() - start}}

    return store.cached("reference_hedges", key, compute)[0]["deltas.pt"]


def trivial_risks(config: Config, cost: float | None = None,
                  split: str = "val") -> dict[str, float]:
    """The risk on ``split`` (default: the study cost on the validation paths) of the two
    hedges that learned nothing: the Black–Scholes delta (no other instrument) and not
    hedging at all."""
    cost = config.hedging.cost if cost is None else cost
    S, v, Z = get_or_generate_dataset(config, split)
    bs = with_instruments(config, bs_positions(config, S, v))
    prices = instrument_prices(config, S, v)
    return {name: float(risk_measure(compute_pnl(positions, prices, Z, cost), config))
            for name, positions in (("bs_delta", bs), ("no_hedge", torch.zeros_like(bs)))}


def floor(config: Config, cost: float | None = None, split: str = "val") -> tuple[str, float]:
    """The floor of every speed measure: the better of the hedges that learned nothing
    (``trivial_risks``), as (name, risk). The Black–Scholes delta (R_BS) unless costs make
    not trading better (Buehler et al.'s setting at 1 %): then a network that only learned to
    stop trading must not look as if it closed most of the gap."""
    risks = trivial_risks(config, cost, split)
    name = min(risks, key=risks.get)
    return name, risks[name]



def floor_run(config: Config, strategy: str, plan: Plan,
              store: Store | None = None) -> TrainResult:
    """The floor control: the classical ``strategy``'s positions (a name of ``strategies``)
    frozen on the training and validation paths, only the OCE level y trained, exactly as a
    network trained as ``plan`` says would be (same start, minibatches, schedule)."""
    positions = tuple(reference_positions(config, split, store)[strategy]
                      for split in ("train", "val"))
    return fit_level_only(positions, load_split(config, "train"), load_split(config, "val"),
                          loss_fn=create_loss_function(config), risk_fn=risk_function(config),
                          cost=config.hedging.cost, learning_rate=plan.learning_rate,
                          batch_size=config.training.batch_size,
                          schedule=plan_schedule(config, plan),
                          y_init=float(create_model(config).y.detach()),
                          shuffle_seed=data_order_seed(config, plan.seed, plan.data_order))


def reference_pnls(config: Config, split: str = "test", *, costs: tuple[float, ...],
                   store: Store | None = None) -> dict[float, dict[str, torch.Tensor]]:
    """P&L of every classical strategy on ``split`` at each cost: ``{cost: {name: pnl}}``."""
    deltas = reference_positions(config, split, store)
    S, v, Z = get_or_generate_dataset(config, split)
    prices = instrument_prices(config, S, v)
    return {c: {name: compute_pnl(deltas[name], prices, Z, c) for name in strategies(config)}
            for c in costs}




def test_pnls(config: Config, runs: dict[float, DenseRun]) -> dict[float, dict[str, torch.Tensor]]:
    """Test P&L of every reference strategy and of the deep hedge trained at each cost."""
    test = load_split(config, "test")
    pnls = reference_pnls(config, "test", costs=tuple(runs))
    for cost, run in runs.items():
        model = load_model(config, run.theta_star, cost=cost)
        pnls[cost]["deep_hedge"] = deep_hedge_pnl(model, test, cost)
    return pnls


Statistics = dict[str, float | list[float]]  # ``compute_all_metrics``: a name → its value


@dataclass(frozen=True, kw_only=True)
class Baseline(Record):
    """Notebook 01's test metrics: by cost label ('5 bps'), by strategy, every statistic
    with its interval (``<name>_ci``); the deep hedge against each strategy in ``statistic``."""

    premium: float
    statistic: str
    metrics: dict[str, dict[str, Statistics]]
    comparisons: dict[str, dict[str, Difference]]


def baseline_metrics(config: Config, runs: dict[float, DenseRun],
                     pnls: dict[float, dict[str, torch.Tensor]],
                     store: Store | None = None) -> Baseline:
    """Metrics with bootstrap CIs for every strategy and cost, and paired comparisons of the
    deep hedge against each reference in the trained risk measure (``statistic``: CVaR at
    ``loss.alpha``); stored for notebooks 02 and 03.

    The premium charged for Sharpe is the study-cost deep hedge's indifference price
    (its test CVaR), the same for every strategy and cost.
    """
    store = store or open_store(config)
    key = stage_key(config, "baseline_metrics", (*BASE_SECTIONS, "metrics"),
                    code=code_sets.METRICS, dense=[run.folder.name for run in runs.values()],
                    costs=list(runs))

    def compute() -> dict:
        m = config.metrics
        boot = dict(n_bootstrap=m.n_bootstrap, confidence=m.confidence, seed=m.seed)
        premium = float(empirical_cvar(pnls[config.hedging.cost]["deep_hedge"],
                                       config.loss.alpha))
        statistic = risk_statistic(config)
        metrics, comparisons = {}, {}
        for cost, by_name in pnls.items():
            label = cost_label(cost)
            metrics[label] = {name: compute_all_metrics(pnl, premium=premium, **boot,
                                                        tails=tails_with(config.loss.alpha))
                              for name, pnl in by_name.items()}
            comparisons[label] = {name: paired_difference(by_name["deep_hedge"], pnl,
                                                          statistic, **boot).to_json()
                                  for name, pnl in by_name.items() if name != "deep_hedge"}
        return {"metrics.json": {"premium": premium, "statistic": statistic,
                                 "metrics": metrics, "comparisons": comparisons}}

    files, _ = store.cached("baseline_metrics", key, compute)
    return Baseline.from_json(files["metrics.json"])


def risk_statistic(config: Config) -> str:
    """The metric that compares strategies: the CVaR at ``loss.alpha`` (``cvar_05`` by
    default; the CVaR 5 % for an entropic loss)."""
    return f"cvar_{tail_key(config.loss.alpha)}" if config.loss.type == "cvar" else "cvar_05"


def hedge_ratio_slices(config: Config, model: DeepHedgingNetwork, *, days=(20, 10, 2),
                       vol_levels=(0.1, 0.2, 0.3), n_spot: int = 81,
                       instrument: str = "stock") -> dict:
    """The network's position in ``instrument`` across the spot, at a few dates and
    volatility levels, beside the references: for the stock the Heston and min-variance
    deltas, for the variance swap the model hedge's position. A semi-recurrent network is
    shown holding, before it trades, the min-variance delta (stock alone) or the model hedge
    (with the variance swap): its position then depends on what it held."""
    h, d = config.data.heston, config.data
    if instrument not in config.hedging.instruments:
        raise ValueError(f"instrument = {instrument!r} is not traded: allowed "
                         f"{list(config.hedging.instruments)} (hedging.instruments)")
    column = config.hedging.instruments.index(instrument)
    several = n_instruments(config) > 1
    K = discounted_strike(config)
    width = 3 * math.sqrt(h.theta * d.T)
    spot = K * torch.exp(torch.linspace(-width, width, n_spot, dtype=torch.float64))
    variances = [s**2 for s in vol_levels]
    names = ("heston_delta", "min_variance_delta") if instrument == "stock" else ("model_hedge",)
    out = {name: torch.empty(len(variances), len(days), n_spot) for name in (*names, "deep_hedge")}
    for i, var in enumerate(variances):
        for j, day in enumerate(days):
            tau = torch.full_like(spot, day / 365)
            var_t = torch.full_like(spot, var)
            greeks = heston_greeks(config, spot, var_t, tau)
            heston, min_var = heston_deltas(config, spot, var_t, tau, greeks)
            held = min_var.float()
            if several:
                stock, swaps = model_hedge(config, spot, var_t, tau, greeks)
                held = with_instruments(config, stock.float(), {VARIANCE_SWAP: swaps.float()})
                if instrument != "stock":
                    out["model_hedge"][i, j] = swaps
            if instrument == "stock":
                out["heston_delta"][i, j], out["min_variance_delta"][i, j] = heston, min_var
            x = state_features(spot.float(), torch.tensor(var), torch.tensor(day / 365), K=K,
                               T=d.T, vol_scale=math.sqrt(h.theta))
            position = hedge_ratio(model, x, held)
            out["deep_hedge"][i, j] = position[..., column] if several else position
    return {**{k: v.numpy() for k, v in out.items()}, "spot": spot.numpy(),
            "days_to_maturity": list(days), "variances": variances, "instrument": instrument}
