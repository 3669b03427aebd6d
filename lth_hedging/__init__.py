"""lth_hedging: do boosting tickets exist in deep hedging networks?

The package holds all logic; the notebooks in ``notebooks/`` orchestrate and plot. Its folders
are its layers, each importing only those below it: ``foundations`` (config schema, store),
``market`` (Heston paths, prices, hedges, features), ``nets`` (model, losses, training,
masks), ``measures`` (speed, metrics), ``studies`` (the stored stages of every study),
``presentation`` (tables, sentences, figures); ``configure`` and ``notebook`` on top.

The path a notebook takes, from a config to a hedge and its metrics::

    config = load_config("configs/config.yaml")
    S, v, Z = get_or_generate_dataset(config, "train")
    run = train_dense(config)                        # stored; a rerun loads it
    model = load_model(config, run.theta_star, cost=run.cost)
    pnl = deep_hedge_pnl(model, load_split(config, "test"), run.cost)
    compute_all_metrics(pnl)
"""

import os

# Before torch loads OpenMP: a thread waiting for work sleeps instead of spinning, so that two
# training processes on one machine (two notebooks, make smoke beside a lab) share its cores
# instead of burning them (benchmarks/bench_cotenancy.py). Scheduling only: no number moves.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .configure import load_config  # noqa: E402
from .foundations.config import Config, project_root
from .market.heston import get_or_generate_dataset, simulate_heston
from .measures.metrics import compute_all_metrics
from .nets.losses import compute_pnl, create_loss_function
from .nets.model import DeepHedgingNetwork, create_model
from .studies.stages import deep_hedge_pnl, load_model, load_split, train_dense

__all__ = [
    "Config", "DeepHedgingNetwork", "compute_all_metrics", "compute_pnl",
    "create_loss_function", "create_model", "deep_hedge_pnl", "get_or_generate_dataset",
    "load_config", "load_model", "load_split", "project_root", "simulate_heston", "train_dense",
]
