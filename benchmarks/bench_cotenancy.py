"""Two training processes at once on one machine: how much slower each gets.

Each process trains the same stack of networks (the default widths, synthetic data of the
default shapes, 2 threads as ``runtime.num_threads`` sets) for a fixed number of steps. The
ratio printed is the wall time of two such processes started together over one alone, under
each OpenMP wait setting: libgomp's default lets a thread that waits for work spin for a while
before it sleeps, so two processes of 2 threads on 2 cores burn each other's cores; with
``OMP_WAIT_POLICY=PASSIVE`` a waiting thread sleeps at once (``GOMP_SPINCOUNT`` shortens the
spin instead). Ideal co-tenancy on C cores for two processes that each want all C: 2×.

Usage: python benchmarks/bench_cotenancy.py [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from common import QUICK, header

# torch (and with it OpenMP, which reads its settings once) loads before lth_hedging, whose
# default of OMP_WAIT_POLICY=PASSIVE would otherwise apply to every setting
WORKER = """
import time, torch
from lth_hedging import create_model, load_config
from lth_hedging.market.features import HedgingData
from lth_hedging.nets.fitting import Network, fit_ensemble
from lth_hedging.nets.pruning import magnitude_mask
from lth_hedging.studies.stages import schedule
import common
torch.set_num_threads(2)
config = load_config(None, {{"training.batch_size": 1024}})
steps, n = {steps}, 4
g = torch.Generator().manual_seed(0)
inputs = create_model(config).state_dict()["layers.0.weight"].shape[1] - 1
data = HedgingData(torch.randn(4096, 30, inputs, generator=g),
                   100 + torch.randn(4096, 31, generator=g).cumsum(1), torch.rand(4096))
inits = [create_model(config, seed).state_dict() for seed in range(n)]
nets = [Network(s, magnitude_mask(s, 0.8), 0.01, schedule(config, 0.01, steps), seed)
        for seed, s in enumerate(inits)]
start = time.perf_counter()
fit_ensemble(nets, data, data.slice(0, 1024), common.job(config))
print(time.perf_counter() - start)
"""
SETTINGS = {"libgomp's default": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
            "OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
            "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
            "GOMP_SPINCOUNT=100": {"GOMP_SPINCOUNT": "100"}}


def run(setting: dict, copies: int, steps: int) -> float:
    """Wall time of ``copies`` worker processes started together (the slowest's)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env.update(setting, PYTHONWARNINGS="ignore")
    code = WORKER.format(steps=steps)
    here = os.path.dirname(os.path.abspath(__file__))
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=here, env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    outputs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed under {setting or 'the default'}")
    return max(float(out.split()[-1]) for out in outputs)


def main() -> None:
    steps = 5 if QUICK else 60
    header(f"co-tenancy: 1 vs 2 processes of a stack of 4 networks, {steps} steps, 2 threads "
           f"each, on {os.cpu_count()} cores")
    default = None
    for name, setting in list(SETTINGS.items())[:2 if QUICK else None]:
        alone = min(run(setting, 1, steps) for _ in range(1 if QUICK else 2))
        together = run(setting, 2, steps)
        default = default or alone
        print(f"{name:<24} alone {alone:6.2f} s ({alone / default:4.2f}× the default alone), "
              f"two at once {together:6.2f} s each: {together / alone:5.2f}× its own alone, "
              f"{together / default:5.2f}× the default alone (ideal 2×)")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
