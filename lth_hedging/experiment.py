"""Pipeline stages the notebooks call: data splits, the dense baseline, reference hedges.

Each stage is a pure function of (config, arguments) whose result lands in the store under
a hash of exactly what determines it, so any notebook can run alone and a rerun is a
cache hit. Stage hashes cover only the config sections a stage reads.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from . import code as code_sets
from .config import Config, HedgingConfig, config_hash, load_config, project_root, resolve
from .features import HedgingData, make_hedging_data, state_features
from .hedges import (
    bs_positions,
    heston_deltas,
    heston_greeks,
    model_hedge,
    reference_deltas,
    strategies,
)
from .heston import DATASET_VERSION, discounted_strike, get_or_generate_dataset
from .instruments import instrument_prices, n_instruments, with_instruments
from .losses import compute_pnl, create_loss_function, empirical_cvar, risk_measure
from .metrics import compute_all_metrics, paired_difference, tail_key, tails_with
from .model import DeepHedgingNetwork, create_model, hedge_ratio
from .runtime import device_key, fit_networks, setup
from .store import Store
from .train import Schedule, TrainResult, evaluation_steps, fit_level_only, steps_per_epoch

STAGE_VERSION = 3  # bump when a stage's code changes what it produces
BASE_SECTIONS = ("data", "model", "loss", "training")


def progress_enabled(config: Config) -> bool:
    """Progress bars (``runtime.progress``); ``LTH_PROGRESS=0`` (set by ``make smoke`` and
    nbval) turns them off where outputs must be stable."""
    return config.runtime.progress and os.environ.get("LTH_PROGRESS", "1") != "0"


def open_store(config: Config) -> Store:
    return Store(resolve(config.experiments["directory"]))


def load_split(config: Config, split: str) -> HedgingData:
    """Paths of ``split`` (cached) turned into network inputs."""
    return make_hedging_data(config, *get_or_generate_dataset(config, split))


@dataclass
class DenseRun:
    """A dense network trained from θ0: weights, history and where it is stored."""

    theta0: dict
    theta_star: dict
    history: list[dict]
    summary: dict
    cost: float
    cached: bool
    folder: Path


def stage_key(config: Config, stage: str, sections: tuple[str, ...], *,
              code: tuple[str, ...] = code_sets.TRAINING, **extra) -> str:
    """Hash of the config sections a stage reads (what differs from the defaults), its
    arguments, and the code that computes it: the versions and a fingerprint of the package
    modules ``code`` (an edited loss, model or trainer retrains). The instruments traded
    count in every stage, like config values only where they differ from the default."""
    instruments = config.hedging.instruments
    market = {} if instruments == HedgingConfig().instruments else {
        "instruments": list(instruments)}
    return config_hash(config, sections, extra={
        "stage": stage, "version": STAGE_VERSION, "data_version": DATASET_VERSION,
        "code": code_sets.fingerprint(code), **market, **extra})


def training_key(config: Config, stage: str, **extra) -> str:
    """``stage_key`` of a stage that trains: the training sections, the evaluation
    schedule (which decides the reported weights) and the device where it is not the CPU."""
    m = config.metrics
    return stage_key(config, stage, BASE_SECTIONS, evaluation=[
        m.eval_every, m.eval_every_late, m.eval_late_from], **device_key(config), **extra)


def dense_key(config: Config, *, cost: float, learning_rate: float, seed: int) -> str:
    return training_key(config, "dense", cost=cost, learning_rate=learning_rate, seed=seed)


def derived_seed(*parts) -> int:
    """A seed of its own for each purpose (``derived_seed("reinit", 0)``), so that no two
    random streams of a study coincide."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


def data_order_seed(config: Config, seed: int) -> int:
    """The minibatch order of every network of ``seed``: a seed draws θ0 *and* the data
    order, and the networks compared on one seed (ticket, controls, dense) share both."""
    return derived_seed("data_order", config.training.shuffle_seed, seed)


def budget_steps(config: Config, learning_rate: float) -> int:
    """``training.epochs`` at ``training.learning_rate``; ceil(epochs · lr₀ / η) epochs at
    rate η (Adam moves a weight about η per step: every rate gets the same distance)."""
    t = config.training
    epochs = math.ceil(t.epochs * t.learning_rate / learning_rate - 1e-9)
    return epochs * steps_per_epoch(config.data.n_paths["train"], t.batch_size)


def schedule(config: Config, learning_rate: float, budget: int | None = None) -> Schedule:
    """Budget and evaluation steps of a network trained at ``learning_rate``."""
    m = config.metrics
    budget = budget_steps(config, learning_rate) if budget is None else budget
    return Schedule(budget, evaluation_steps(budget, m.eval_every, m.eval_every_late,
                                             m.eval_late_from))


@dataclass(frozen=True)
class DenseSpec:
    """Which dense network: the cost it hedges at, its learning rate, the seed of θ0."""

    cost: float
    learning_rate: float
    seed: int


def dense_spec(config: Config, *, cost: float | None = None, learning_rate: float | None = None,
               seed: int | None = None) -> DenseSpec:
    """Defaults: ``hedging.cost``, ``training.learning_rate``, ``model.init_seed``."""
    return DenseSpec(config.hedging.cost if cost is None else cost,
                     config.training.learning_rate if learning_rate is None else learning_rate,
                     config.model.init_seed if seed is None else seed)


def train_dense(config: Config, *, cost: float | None = None, learning_rate: float | None = None,
                seed: int | None = None, store: Store | None = None) -> DenseRun:
    """The dense network at ``cost`` trained from θ0 (defaults as ``dense_spec``)."""
    spec = dense_spec(config, cost=cost, learning_rate=learning_rate, seed=seed)
    return train_dense_runs(config, [spec], store=store)[0]


def train_dense_runs(config: Config, specs: list[DenseSpec],
                     store: Store | None = None) -> list[DenseRun]:
    """Dense networks trained from θ0, the missing ones together (``fit_ensemble``).

    Stored per network: ``theta0.pt`` (the initialisation, saved once and loaded
    thereafter), ``theta_star.pt`` (best validation weights), ``history.json``,
    ``summary.json``. Each is saved as soon as it stops, so an interrupted sweep keeps it.
    """
    store = store or open_store(config)
    keys = [dense_key(config, cost=s.cost, learning_rate=s.learning_rate, seed=s.seed)
            for s in specs]
    missing = [(spec, key) for spec, key in dict(zip(specs, keys)).items()
               if store.load("dense", key) is None]
    for cost in sorted({spec.cost for spec, _ in missing}):  # one stack per architecture
        group = [(spec, key) for spec, key in missing if spec.cost == cost]
        inits = [create_model(config, spec.seed, cost=cost).state_dict() for spec, _ in group]

        def save(i: int, result: TrainResult, group=group, inits=inits) -> None:
            spec, key = group[i]
            summary = {**result.summary(), "cost": spec.cost,
                       "learning_rate": spec.learning_rate, "seed": spec.seed}
            store.save("dense", key, {"theta0.pt": inits[i], "theta_star.pt": result.best_state
                                      if result.best_state is not None else inits[i],
                                      "history.json": result.history, "summary.json": summary})

        fit_stacks(config, inits, [None] * len(group), [s.learning_rate for s, _ in group],
                   [s.seed for s, _ in group], cost=cost, on_done=save)
    trained = {key for _, key in missing}
    runs = []
    for spec, key in zip(specs, keys):
        files = store.load("dense", key)
        runs.append(DenseRun(files["theta0.pt"], files["theta_star.pt"], files["history.json"],
                             files["summary.json"], spec.cost, key not in trained,
                             store.stage_dir("dense", key)))
    return runs


def fit_stacks(config: Config, inits: list[dict], masks: list, learning_rates: list[float],
               seeds: list[int], *, cost: float, on_done: Callable[[int, TrainResult], None],
               budgets: list[int] | None = None, snapshot_step: int | None = None) -> None:
    """Train networks with the config's training settings, in stacks that stay full, where
    ``runtime`` says (device, executor): network i trains from ``inits[i]`` under
    ``masks[i]`` at ``learning_rates[i]`` for its budget (``budget_steps`` unless ``budgets``
    says), in the data order of ``seeds[i]``; ``on_done(i, result)`` gets the index into
    ``inits`` as each network finishes."""
    if not inits:
        return
    t = config.training
    budgets = budgets or [None] * len(inits)
    networks = dict(inits=inits, masks=masks, learning_rates=learning_rates,
                    schedules=[schedule(config, lr, b) for lr, b in zip(learning_rates, budgets)],
                    shuffle_seeds=[data_order_seed(config, s) for s in seeds])
    job = dict(loss_fn=create_loss_function(config), risk_fn=risk_function(config), cost=cost,
               activation=config.model.activation, batch_size=t.batch_size,
               patience=t.patience, min_delta=t.min_delta, weight_decay=t.weight_decay,
               snapshot_step=snapshot_step)
    fit_networks(config, load_split(config, "train"), load_split(config, "val"), networks, job,
                 on_done, progress=progress_enabled(config))


def risk_function(config: Config) -> Callable[[torch.Tensor], torch.Tensor]:
    """``risk(pnl (..., N)) -> (...)``: the configured risk measure, y at its optimum."""
    return lambda pnl: risk_measure(pnl, config)


def load_model(config: Config, state: dict, *, cost: float) -> DeepHedgingNetwork:
    model = create_model(config, cost=cost)
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def deep_hedge_positions(model: DeepHedgingNetwork, data: HedgingData) -> torch.Tensor:
    return model(data.features)[0]


def deep_hedge_pnl(model: DeepHedgingNetwork, data: HedgingData, cost: float) -> torch.Tensor:
    return compute_pnl(deep_hedge_positions(model, data), data.S, data.Z, cost)


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



def floor_run(config: Config, strategy: str, learning_rate: float, seed: int | None = None,
              store: Store | None = None) -> TrainResult:
    """The floor control: the classical ``strategy``'s positions (a name of ``strategies``)
    frozen on the training and validation paths, only the OCE level y trained, exactly as a
    network of ``seed`` at ``learning_rate`` would be (same start, minibatches, schedule)."""
    seed = config.model.init_seed if seed is None else seed
    positions = tuple(reference_positions(config, split, store)[strategy]
                      for split in ("train", "val"))
    return fit_level_only(positions, load_split(config, "train"), load_split(config, "val"),
                          loss_fn=create_loss_function(config), risk_fn=risk_function(config),
                          cost=config.hedging.cost, learning_rate=learning_rate,
                          batch_size=config.training.batch_size,
                          schedule=schedule(config, learning_rate),
                          y_init=float(create_model(config).y.detach()),
                          shuffle_seed=data_order_seed(config, seed))


def reference_pnls(config: Config, split: str = "test", *, costs: tuple[float, ...],
                   store: Store | None = None) -> dict[float, dict[str, torch.Tensor]]:
    """P&L of every classical strategy on ``split`` at each cost: ``{cost: {name: pnl}}``."""
    deltas = reference_positions(config, split, store)
    S, v, Z = get_or_generate_dataset(config, split)
    prices = instrument_prices(config, S, v)
    return {c: {name: compute_pnl(deltas[name], prices, Z, c) for name in strategies(config)}
            for c in costs}


def start(config_path: str, overrides: dict | None = None) -> Config:
    """Load the notebook's config (path from the project root), print any warnings as plain
    lines (stable output for nbval), fix the thread count."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config(config_path, overrides)
    for w in caught:
        print(f"warning: {w.message}")
    setup(config)
    return config


def relative(path: Path) -> str:
    """A path as printed by notebooks: from the project root when inside it (stable output)."""
    try:
        return str(Path(path).relative_to(project_root()))
    except ValueError:
        return str(path)


def cost_levels(config: Config) -> tuple[float, ...]:
    """The study's cost first, then the further reference levels (no repeats)."""
    levels = [config.hedging.cost]
    levels += [c for c in config.hedging.reference_costs if c not in levels]
    return tuple(levels)


def cost_label(cost: float) -> str:
    return f"{cost * 1e4:g} bps"


def test_pnls(config: Config, runs: dict[float, DenseRun]) -> dict[float, dict[str, torch.Tensor]]:
    """Test P&L of every reference strategy and of the deep hedge trained at each cost."""
    test = load_split(config, "test")
    pnls = reference_pnls(config, "test", costs=tuple(runs))
    for cost, run in runs.items():
        model = load_model(config, run.theta_star, cost=cost)
        pnls[cost]["deep_hedge"] = deep_hedge_pnl(model, test, cost)
    return pnls


def baseline_metrics(config: Config, runs: dict[float, DenseRun],
                     pnls: dict[float, dict[str, torch.Tensor]],
                     store: Store | None = None) -> dict:
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
                                                          statistic, **boot)
                                  for name, pnl in by_name.items() if name != "deep_hedge"}
        return {"metrics.json": {"premium": premium, "statistic": statistic,
                                 "metrics": metrics, "comparisons": comparisons}}

    files, _ = store.cached("baseline_metrics", key, compute)
    return files["metrics.json"]


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
                held = with_instruments(config, stock.float(), {"variance_swap": swaps.float()})
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
