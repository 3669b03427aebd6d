"""Shared helpers for the benchmark scripts: timing and the pfhedge default Heston setting."""

from __future__ import annotations

import time

import torch

# pfhedge's defaults: HestonStock(kappa=1, theta=0.04, sigma=0.2, rho=-0.7, dt=1/250),
# spot 1, variance θ; a call struck at 1; 30 steps.
PFHEDGE_HESTON = dict(S0=1.0, v0=0.04, kappa=1.0, theta=0.04, xi=0.2, rho=-0.7)
N_STEPS, DT = 30, 1 / 250


def best_time(fn, repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def header(title: str) -> None:
    print(f"== {title} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
