"""Shared helpers for the benchmark scripts: timing, quick mode and the pfhedge default
Heston setting.

Every benchmark takes ``--quick``: tiny sizes, seconds, run by ``make test`` so that a
benchmark cannot break unnoticed (its figures then mean nothing).
"""

from __future__ import annotations

import sys
import time

import torch

from lth_hedging.nets.fitting import Job
from lth_hedging.nets.losses import create_loss_function
from lth_hedging.nets.runtime import blas, cpu_model
from lth_hedging.studies.stages import risk_function

# pfhedge's defaults: HestonStock(kappa=1, theta=0.04, sigma=0.2, rho=-0.7, dt=1/250),
# spot 1, variance θ; a call struck at 1; 30 steps.
PFHEDGE_HESTON = dict(S0=1.0, v0=0.04, kappa=1.0, theta=0.04, xi=0.2, rho=-0.7)
N_STEPS, DT = 30, 1 / 250
QUICK = "--quick" in sys.argv[1:]
NO_BFLOAT16 = ("bfloat16 matmuls: oneDNN does not compute them on this CPU (runtime.precision: "
               "bfloat16 is refused here)")


def best_time(fn, repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeat if not QUICK else 1):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_rate(n: int = 2048, repeat: int = 10, device: str = "cpu") -> float:
    """FLOP/s of a float32 n×n matmul on ``device``: the arithmetic limit a network's rate is
    measured against (same run, same machine)."""
    if QUICK:
        n, repeat = 256, 2
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def run():
        for _ in range(repeat):
            a @ b
        if device != "cpu":
            torch.cuda.synchronize()

    run()  # warm-up
    return 2 * n**3 * repeat / best_time(run)


def header(title: str) -> None:
    """The benchmark's title and where it runs: CPU model, BLAS, torch, threads."""
    mode = ", quick mode: tiny sizes, figures meaningless" if QUICK else ""
    print(f"== {title} ({cpu_model()}; {blas()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads{mode})")


def job(config) -> Job:
    """What a benchmark's networks share: the config's loss, risk, cost, activation, batch."""
    return Job(create_loss_function(config), risk_function(config), config.hedging.cost,
               config.model.activation, config.training.batch_size)
