"""Where a full stack's training time goes: matmul kernels against everything else —
elementwise work of the per-date loop, the optimiser, the CVaR's sort and top-k, copies and
allocations — and what that means on a CPU whose matmul is faster.

The stack is bench_ensemble's tickets (``runtime.ensemble_size`` of them at 80 %, LR 0.01 /
0.005) for ``STEPS`` optimiser steps each, with the study's evaluation schedule, timed without
the profiler. The torch profiler then records every operator with its input shapes. Its own
cost inflates the operators that write fresh memory (elementwise work, copies) far more than
the matmuls, so its shares are printed for orientation only. The split itself is measured:
the matmul kernels' time K is that of the same matmuls (shapes and call counts from the
profile) replayed alone, unprofiled; the rest is the run's time minus K.

The projection is arithmetic, not a measurement: on a CPU whose matmul is r× faster and whose
other work is as fast as here, K shrinks to K/r, the time at the limit L to L/r, and the
fraction of the limit becomes (L/r) / (K/r + O), O the rest's time. It says how much of O
must go for a stack to reach 50 % of the limit there.
"""

from collections import defaultdict
from dataclasses import replace

import torch
from bench_ensemble import bench_config, flops_per_network_epoch, sweep
from common import QUICK, best_time, header, job, matmul_rate
from torch.profiler import ProfilerActivity, profile

from lth_hedging.nets.fitting import fit_ensemble
from lth_hedging.studies.stages import load_split, schedule

CATEGORIES = {  # operator → category (the rest: "other")
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"),
    "sort / top-k (CVaR)": ("aten::sort", "aten::topk", "aten::kthvalue", "aten::argsort"),
    "copies, allocation": ("aten::copy_", "aten::empty", "aten::empty_strided", "aten::zeros",
                           "aten::zero_", "aten::fill_", "aten::cat", "aten::stack",
                           "aten::index", "aten::index_select", "aten::gather",
                           "aten::scatter_", "aten::clone", "aten::contiguous",
                           "aten::resize_", "aten::as_strided_", "aten::_to_copy"),
    "elementwise": ("aten::add", "aten::add_", "aten::sub", "aten::mul", "aten::mul_",
                    "aten::div", "aten::div_", "aten::relu", "aten::threshold_backward",
                    "aten::clamp", "aten::clamp_min", "aten::abs", "aten::sign",
                    "aten::sqrt", "aten::addcmul_", "aten::addcdiv_", "aten::lerp_",
                    "aten::neg", "aten::where", "aten::maximum", "aten::exp", "aten::log",
                    "aten::pow", "aten::_foreach_add_", "aten::_foreach_mul_",
                    "aten::_foreach_addcmul_", "aten::_foreach_addcdiv_",
                    "aten::_foreach_sqrt", "aten::_foreach_div_", "aten::_foreach_lerp_"),
    "reductions": ("aten::sum", "aten::mean", "aten::max", "aten::min", "aten::amax",
                   "aten::cumsum", "aten::norm"),
}
STEPS = 10 if QUICK else 25  # the profiler keeps every event: memory grows with steps


def category(name: str) -> str:
    return next((c for c, names in CATEGORIES.items() if name in names), "other")


def replay_matmuls(events) -> float:
    """Seconds that the profiled matmuls take alone: each (operator, input shapes) run as
    many times as it was called, on random operands of those shapes."""
    total = 0.0
    for event in events:
        if category(event.key) != "matmul":
            continue
        # the tensors, contiguous (a transposed operand measured as fast here); the scalars,
        # alpha = beta = 1 in this code, left at their defaults
        operands = [torch.randn(shape) for shape in event.input_shapes if shape]
        op = getattr(torch, event.key.removeprefix("aten::"))
        op(*operands)  # warm-up

        def run(op=op, operands=operands, n=event.count):
            for _ in range(n):  # each result dropped at once, as the run frees its own
                op(*operands)

        total += best_time(run)
    return total


def main():
    config, size = bench_config()
    header(f"profile of a full stack of {size} tickets (80 %), {STEPS} steps each")
    train, val = load_split(config, "train"), load_split(config, "val")
    networks = sweep(config, size)
    networks = [replace(n, schedule=schedule(config, n.learning_rate, STEPS)) for n in networks]
    shared = job(config)
    flops, network_epochs = flops_per_network_epoch(config, networks)
    peak = matmul_rate()
    fit_ensemble(networks[:2], train.slice(0, 2048), val, shared)  # warm-up
    wall = best_time(lambda: fit_ensemble(networks, train, val, shared, stack_size=size),
                     repeat=2)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        fit_ensemble(networks, train, val, shared, stack_size=size)
    times = defaultdict(float)
    for event in prof.key_averages():
        times[category(event.key)] += event.self_cpu_time_total / 1e6
    total = sum(times.values())
    print("shares of the profiled time (the profiler inflates all but the matmuls):")
    for name, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"{name:>22}: {seconds / total:6.1%}")
    at_limit = network_epochs * flops / peak  # the run's time were every FLOP at the matmul rate
    kernels = replay_matmuls(prof.key_averages(group_by_input_shape=True))
    rest = wall - kernels
    print(f"unprofiled: {wall:.2f} s = {at_limit / wall:.0%} of the limit ({peak / 1e9:.1f} "
          f"GFLOP/s); its matmuls replayed alone {kernels:.2f} s ({kernels / wall:.0%} of the "
          f"run; they run at {at_limit / kernels:.0%} of the limit), the rest {rest:.2f} s")
    for r in (2.0, 2.2, 4.0):
        share = (at_limit / r) / (kernels / r + rest)
        room = (2 * at_limit - kernels) / r  # the rest's time that still allows 50 %
        if room <= 0:
            need = "out of reach: the kernels alone are too slow"
        elif room >= rest:
            need = "reached as it is"
        else:
            need = f"needs the rest cut by {1 - room / rest:.0%}"
        print(f"projection, matmul {r:g}x as fast and the rest as here: {share:.0%} of the limit;"
              f" 50 % {need}")


if __name__ == "__main__":
    main()
