"""Pipeline stages the notebooks call: data splits, the dense baseline, reference hedges.

Each stage is a pure function of (config, arguments) whose result lands in the store under
a hash of exactly what determines it, so any notebook can run alone and a rerun is a
cache hit. Stage hashes cover only the config sections a stage reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import Config, config_hash, resolve
from .features import HedgingData, make_hedging_data
from .heston import get_or_generate_dataset
from .hedges import STRATEGIES, reference_deltas
from .losses import compute_pnl, create_loss_function
from .model import DeepHedgingNetwork, create_model
from .store import Store
from .train import Trainer

STAGE_VERSION = 1  # bump when a stage's code changes what it produces
BASE_SECTIONS = ("data", "model", "loss", "training")


def setup_runtime(config: Config) -> None:
    """Fixed thread count: the same config gives bit-identical results on a machine."""
    torch.set_num_threads(config.runtime.num_threads)


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


def dense_key(config: Config, *, cost: float, learning_rate: float, seed: int) -> str:
    return config_hash(config, BASE_SECTIONS, extra={
        "stage": "dense", "version": STAGE_VERSION, "cost": cost,
        "learning_rate": learning_rate, "seed": seed})


def train_dense(config: Config, *, cost: float | None = None, learning_rate: float | None = None,
                seed: int | None = None, store: Store | None = None,
                data: tuple[HedgingData, HedgingData] | None = None) -> DenseRun:
    """The dense network at ``cost`` trained from θ0 (seed ``model.init_seed`` by default).

    Stored files: ``theta0.pt`` (the initialisation, saved once and loaded thereafter),
    ``theta_star.pt`` (best validation weights), ``history.json``, ``summary.json``.
    """
    cost = config.hedging.cost if cost is None else cost
    lr = config.training.learning_rate if learning_rate is None else learning_rate
    seed = config.model.init_seed if seed is None else seed
    store = store or open_store(config)
    key = dense_key(config, cost=cost, learning_rate=lr, seed=seed)

    def compute() -> dict:
        train, val = data or (load_split(config, "train"), load_split(config, "val"))
        model = create_model(config, seed, cost=cost)
        theta0 = {k: v.clone() for k, v in model.state_dict().items()}
        t = config.training
        trainer = Trainer(model, create_loss_function(config), cost=cost, learning_rate=lr,
                          batch_size=t.batch_size, epochs=t.epochs, patience=t.patience,
                          min_delta=t.min_delta, weight_decay=t.weight_decay,
                          shuffle_seed=t.shuffle_seed, progress=config.runtime.progress)
        result = trainer.fit(train, val)
        summary = {**result.summary(), "cost": cost, "learning_rate": lr, "seed": seed}
        return {"theta0.pt": theta0, "theta_star.pt": model.state_dict(),
                "history.json": result.history, "summary.json": summary}

    files, cached = store.cached("dense", key, compute)
    return DenseRun(files["theta0.pt"], files["theta_star.pt"], files["history.json"],
                    files["summary.json"], cost, cached, store.stage_dir("dense", key))


def load_model(config: Config, state: dict, *, cost: float) -> DeepHedgingNetwork:
    model = create_model(config, cost=cost)
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def deep_hedge_pnl(model: DeepHedgingNetwork, data: HedgingData, cost: float) -> torch.Tensor:
    deltas, _ = model(data.features)
    return compute_pnl(deltas, data.S, data.Z, cost)


def reference_pnls(config: Config, split: str = "test", *, costs: tuple[float, ...],
                   store: Store | None = None) -> tuple[dict[float, dict[str, torch.Tensor]], bool]:
    """P&L of every classical strategy on ``split`` at each cost: ``{cost: {name: pnl}}``.

    The Heston deltas of every path and date are the expensive part; they are stored.
    """
    store = store or open_store(config)
    key = config_hash(config, ("data",), extra={"stage": "reference_hedges",
                                                "version": STAGE_VERSION, "split": split})

    def compute() -> dict:
        S, v, _ = get_or_generate_dataset(config, split)
        start = time.perf_counter()
        deltas = reference_deltas(config, S, v)
        return {"deltas.pt": deltas, "summary.json": {"seconds": time.perf_counter() - start}}

    files, cached = store.cached("reference_hedges", key, compute)
    S, _, Z = get_or_generate_dataset(config, split)
    deltas = files["deltas.pt"]
    return {c: {name: compute_pnl(deltas[name], S, Z, c) for name in STRATEGIES}
            for c in costs}, cached
