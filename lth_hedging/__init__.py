"""lth_hedging: do boosting tickets exist in deep hedging networks?

The package holds all logic; the notebooks in ``notebooks/`` orchestrate and plot.
"""

from .config import Config, config_hash, load_config, project_root
from .heston import get_or_generate_dataset, simulate_heston
from .losses import compute_pnl, create_loss_function
from .metrics import compute_all_metrics, epochs_to_threshold
from .model import DeepHedgingNetwork, create_model
from .train import Trainer

__all__ = [
    "Config", "DeepHedgingNetwork", "Trainer", "compute_all_metrics", "compute_pnl",
    "config_hash", "create_loss_function", "create_model", "epochs_to_threshold",
    "get_or_generate_dataset", "load_config", "project_root", "simulate_heston",
]
