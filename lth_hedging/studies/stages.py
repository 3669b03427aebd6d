"""The stage machinery: keys, seeds, training plans (rate, warmup, data order, budget),
schedules, the dense networks trained from θ0, and the results files a notebook writes.

Each stage is a pure function of (config, arguments) whose result lands in the store under
a hash of exactly what determines it, so any notebook can run alone and a rerun is a
cache hit. Stage hashes cover only the config sections a stage reads. Notebook 01's
helpers (classical hedges, the floor, the baseline's metrics) are in ``references``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..foundations import code as code_sets
from ..foundations.config import Config, HedgingConfig, config_hash, project_root, resolve
from ..foundations.store import Store, atomic_write_bytes
from ..market.features import HedgingData, make_hedging_data
from ..market.heston import DATASET_VERSION, get_or_generate_dataset
from ..nets.fitting import Job, Network
from ..nets.losses import compute_pnl, create_loss_function, risk_measure
from ..nets.model import DeepHedgingNetwork, create_model
from ..nets.pruning import Mask
from ..nets.runtime import device_key, fit_networks, provenance
from ..nets.train import DECAYS, Schedule, TrainResult, evaluation_steps, steps_per_epoch

STAGE_VERSION = 4  # bump when a stage's code changes what it produces
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


DATA_ORDERS = ("replay", "fresh")


@dataclass(frozen=True)
class Plan:
    """How one network trains: its learning rate, the seed that draws θ0 and the data order,
    a linear warmup and a decay after it (``Schedule``), which data order, and its budget in
    optimiser steps (None: ``budget_steps``). ``data_order`` "replay" is the seed's own
    order — the one its θ* trained on, so a ticket on it partly replays the run that made its
    mask; "fresh" is an order of the seed independent of it."""

    learning_rate: float
    seed: int
    warmup_steps: int = 0
    warmup_from: float = 0.0
    data_order: str = "replay"
    budget: int | None = None
    decay: str = "constant"

    def __post_init__(self):
        if self.data_order not in DATA_ORDERS:
            raise ValueError(f"data_order = {self.data_order!r} is invalid: allowed "
                             f"{DATA_ORDERS}")
        if self.warmup_steps < 0 or not 0 <= self.warmup_from <= self.learning_rate:
            raise ValueError(f"warmup_steps = {self.warmup_steps}, warmup_from = "
                             f"{self.warmup_from} are invalid: allowed warmup_steps >= 0 and "
                             f"0 <= warmup_from <= the learning rate ({self.learning_rate})")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget = {self.budget} is invalid: allowed >= 1 or None")
        if self.decay not in DECAYS:
            raise ValueError(f"decay = {self.decay!r} is invalid: allowed {tuple(DECAYS)}")

    def key_fields(self) -> dict:
        """The fields beyond rate and seed that differ from their defaults: a plan without
        warmup or decay, on the replay order, at the default budget keeps the key it always
        had."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)[2:]
                if getattr(self, f.name) != f.default}


def derived_seed(*parts) -> int:
    """A seed of its own for each purpose (``derived_seed("reinit", 0)``), so that no two
    random streams of a study coincide."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


def data_order_seed(config: Config, seed: int, data_order: str = "replay") -> int:
    """The minibatch order of a network of ``seed``: on the "replay" order a seed draws θ0
    *and* the data order, shared by every network of the seed trained on it; the "fresh"
    order of the same seed is a stream of its own."""
    if data_order == "replay":
        return derived_seed("data_order", config.training.shuffle_seed, seed)
    return derived_seed("fresh_order", config.training.shuffle_seed, seed)


def budget_steps(config: Config, learning_rate: float) -> int:
    """``training.epochs`` at ``training.learning_rate``; ceil(epochs · lr₀ / η) epochs at
    rate η (Adam moves a weight about η per step: every rate gets the same distance)."""
    t = config.training
    epochs = math.ceil(t.epochs * t.learning_rate / learning_rate - 1e-9)
    return epochs * steps_per_epoch(config.data.n_paths["train"], t.batch_size)


def schedule(config: Config, learning_rate: float, budget: int | None = None, *,
             warmup_steps: int = 0, warmup_from: float = 0.0,
             decay: str = "constant") -> Schedule:
    """Budget, evaluation steps, warmup and decay of a network trained at ``learning_rate``."""
    m = config.metrics
    budget = budget_steps(config, learning_rate) if budget is None else budget
    return Schedule(budget, evaluation_steps(budget, m.eval_every, m.eval_every_late,
                                             m.eval_late_from), warmup_steps, warmup_from, decay)


def plan_schedule(config: Config, plan: Plan) -> Schedule:
    return schedule(config, plan.learning_rate, plan.budget, warmup_steps=plan.warmup_steps,
                    warmup_from=plan.warmup_from, decay=plan.decay)


@dataclass(frozen=True)
class DenseSpec:
    """Which dense network: the cost it hedges at, and how it trains from θ0(seed)."""

    cost: float
    plan: Plan

    @property
    def learning_rate(self) -> float:
        return self.plan.learning_rate

    @property
    def seed(self) -> int:
        return self.plan.seed


def dense_key(config: Config, spec: DenseSpec) -> str:
    return training_key(config, "dense", cost=spec.cost, learning_rate=spec.learning_rate,
                        seed=spec.seed, **spec.plan.key_fields())


def dense_spec(config: Config, *, cost: float | None = None, learning_rate: float | None = None,
               seed: int | None = None) -> DenseSpec:
    """Defaults: ``hedging.cost``, ``training.learning_rate``, ``model.init_seed``."""
    return DenseSpec(config.hedging.cost if cost is None else cost,
                     Plan(config.training.learning_rate if learning_rate is None else learning_rate,
                          config.model.init_seed if seed is None else seed))


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
    keys = [dense_key(config, s) for s in specs]
    missing = [(spec, key) for spec, key in dict(zip(specs, keys)).items()
               if store.load("dense", key) is None]
    for cost in sorted({spec.cost for spec, _ in missing}):  # one stack per architecture
        group = [(spec, key) for spec, key in missing if spec.cost == cost]
        inits = [create_model(config, spec.seed, cost=cost).state_dict() for spec, _ in group]

        def save(i: int, result: TrainResult, group=group, inits=inits) -> None:
            spec, key = group[i]
            summary = {**result.summary(), "cost": spec.cost,
                       "learning_rate": spec.learning_rate, "seed": spec.seed,
                       **spec.plan.key_fields(), "provenance": provenance(config)}
            store.save("dense", key, {"theta0.pt": inits[i], "theta_star.pt": result.best_state
                                      if result.best_state is not None else inits[i],
                                      "history.json": result.history, "summary.json": summary})

        fit_stacks(config, [network(config, init, None, spec.plan)
                            for init, (spec, _) in zip(inits, group)], cost=cost, on_done=save)
    trained = {key for _, key in missing}
    runs = []
    for spec, key in zip(specs, keys):
        files = store.load("dense", key)
        runs.append(DenseRun(files["theta0.pt"], files["theta_star.pt"], files["history.json"],
                             files["summary.json"], spec.cost, key not in trained,
                             store.stage_dir("dense", key)))
    return runs


def network(config: Config, init: dict, mask: Mask | None, plan: Plan) -> Network:
    """What trains, as the stacked trainer takes it: ``init`` under ``mask`` (None: dense),
    at the plan's rate, on its schedule (budget, evaluations, warmup) and data order."""
    return Network(init, mask, plan.learning_rate, plan_schedule(config, plan),
                   data_order_seed(config, plan.seed, plan.data_order))


def fit_stacks(config: Config, networks: list[Network], *, cost: float,
               on_done: Callable[[int, TrainResult], None],
               snapshot_step: int | None = None) -> None:
    """Train ``networks`` with the config's training settings, in stacks that stay full,
    where ``runtime`` says (device, executor); ``on_done(i, result)`` gets the index into
    ``networks`` as each network finishes."""
    if not networks:
        return
    t = config.training
    job = Job(create_loss_function(config), risk_function(config), cost,
              config.model.activation, t.batch_size, patience=t.patience,
              min_delta=t.min_delta, weight_decay=t.weight_decay, snapshot_step=snapshot_step)
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


def write_results(config: Config, name: str, results: dict) -> Path:
    """``<experiments>/results/<name>``: the JSON a reader (or a test) checks the notebook by."""
    path = resolve(config.experiments["directory"]) / "results" / name
    results = {**results, "provenance": provenance(config)}
    try:
        atomic_write_bytes(path, (json.dumps(results, indent=2) + "\n").encode())
    except OSError as err:
        raise OSError(f"cannot write the results to {path} ({err}): set "
                      f"'experiments.directory' to a writable folder (a read-only store can "
                      f"be copied there; what it holds is reused)") from err
    return path
