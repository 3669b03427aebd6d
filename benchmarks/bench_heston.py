"""Heston QE simulation, 100k paths × 30 steps: ours vs pfhedge's generate_heston.

Both in float32 on the same machine, best of 7. Target: ours ≥ 2× faster.
"""

import torch
from common import DT, N_STEPS, PFHEDGE_HESTON, QUICK, best_time, header
from pfhedge.stochastic import generate_heston

from lth_hedging import simulate_heston

N_PATHS = 2_000 if QUICK else 100_000
p = PFHEDGE_HESTON


def ours():
    g = torch.Generator().manual_seed(0)
    simulate_heston(N_PATHS, N_STEPS, N_STEPS * DT, **p, generator=g, dtype=torch.float32)


def theirs():
    torch.manual_seed(0)
    generate_heston(N_PATHS, N_STEPS + 1, init_state=(p["S0"], p["v0"]), kappa=p["kappa"],
                    theta=p["theta"], sigma=p["xi"], rho=p["rho"], dt=DT)


if __name__ == "__main__":
    torch.set_num_threads(2)
    header(f"Heston QE, {N_PATHS} paths x 30 steps, float32")
    t_ours, t_theirs = best_time(ours, 7), best_time(theirs, 7)
    print(f"ours {t_ours * 1e3:.0f} ms, pfhedge {t_theirs * 1e3:.0f} ms, "
          f"speed-up {t_theirs / t_ours:.2f}x (target >= 2x)")
