"""The compute of notebook 03's registered study, the pilot's design and notebook 02's
search for a config:
network-epochs and FLOPs, and the time it takes at a given sustained FLOP rate. An estimate,
not a measurement: the rate is yours to give (measure it with benchmarks/bench_ensemble.py or
bench_gpu.py).

Counted: every network for its step budget, with its evaluations (the exploratory arms of
notebook 03 are not counted; which of the search's cells go on is what the search finds: the
estimate promotes the first in the space's order). FLOPs: 2·rows·Σ in·out per forward pass, 3× for
training.

Usage: python tools/study_cost.py CONFIG [GFLOP/s ...]
"""

import dataclasses
import math
import sys
import warnings

from lth_hedging import create_model, load_config
from lth_hedging.nets.train import steps_per_epoch
from lth_hedging.studies import search
from lth_hedging.studies.pilot import small_dense_config, widened
from lth_hedging.studies.stages import schedule
from lth_hedging.studies.tickets import KINDS


def per_network(config, learning_rate: float) -> tuple[float, float]:
    """(epochs, FLOPs) of one network of ``config`` trained at ``learning_rate``."""
    model = create_model(config)
    per_row = 2 * config.data.n_steps * sum(layer.in_features * layer.out_features
                                            for layer in model.layers)
    n = config.data.n_paths
    plan = schedule(config, learning_rate)
    per_epoch = steps_per_epoch(n["train"], config.training.batch_size)
    epochs = plan.budget / per_epoch
    return epochs, per_row * (3 * n["train"] * epochs + n["val"] * len(plan.eval_steps))


def registered_cost(config) -> tuple[float, float, int]:
    """(network-epochs, FLOPs, networks) of the registered study (``confirmation``): per seed
    θ* at the mask rate; at every schedule the dense network and the ticket at every sparsity,
    the controls on the first schedule; the rival (the dense network at its best schedule)."""
    r = config.registration
    per_seed = [(r.mask_lr, 1), (r.learning_rate, len(r.schedules) * (1 + len(r.sparsities))
                                 + len(r.controls) * len(r.sparsities))]
    if r.rival_lr is not None:
        per_seed.append((r.rival_lr, 1))
    epochs = flops = networks = 0
    for lr, count in per_seed:
        e, f = per_network(config, lr)
        epochs += e * count * r.n_seeds
        flops += f * count * r.n_seeds
        networks += count * r.n_seeds
    return epochs, flops, networks


def study_cost(config) -> tuple[float, float, int]:
    """(network-epochs, FLOPs, networks) of the pilot's controlled study."""
    ch = config.pilot
    kinds = [k for k in ch.comparators if k in KINDS]
    epochs = flops = networks = 0
    for width in ch.widths:
        wide = widened(config, width)
        for lr in ch.learning_rates:
            members = [wide] * (1 + len(ch.sparsities) * (1 + len(kinds)))
            if "small_dense" in ch.comparators:
                members += [small_dense_config(wide, s) for s in ch.sparsities]
            for member in members:
                e, f = per_network(member, lr)
                epochs, flops = epochs + e * ch.n_seeds, flops + f * ch.n_seeds
                networks += ch.n_seeds
    return epochs, flops, networks


def search_cost(config) -> tuple[float, float, int]:
    """(network-epochs, FLOPs, networks) of notebook 02's search, an estimate: every sampled
    cell on the first round's seeds (IMP: every round retrained at θ*'s rate), their dense
    rivals, θ* of every mask rate, the reference dense networks; the later rounds are what the
    search finds, counted here as ``keep`` of the cells in the space's order and one survivor
    (a costlier cell promoted costs more; each network counted once)."""
    s = config.search
    seeds = search.search_seeds(config)
    networks: set = set()
    points = search.sample(config)
    alive = {True: points, False: list(dict.fromkeys(p.dense() for p in points))}
    for width in s.widths:
        networks |= {("dense", width, config.training.learning_rate, seed)
                     for seed in seeds[:s.seeds[0]]}
    for r, n in enumerate(s.seeds):
        for tickets, here in alive.items():
            for p in here:
                for seed in seeds[:n]:
                    networks.add(("dense", p.width, p.learning_rate, p.warmup, p.decay,
                                  p.mask_lr, seed))
                    if not tickets:
                        networks.add(("dense", p.width, config.training.learning_rate, seed))
                        continue
                    networks.add(("dense", p.width, p.mask_lr, seed))  # θ*
                    cell = search.ticket(config, p, seed)
                    while cell is not None:
                        networks.add(("ticket", p.width, cell))
                        cell = cell.parent()
            if r < len(s.seeds) - 1:
                alive[tickets] = here[:max(1, math.ceil(len(here) * s.keep))]
    survivors = alive[True][:1]  # one survivor of the last round, at each further width
    for p in survivors:
        for width in s.widths[1:]:
            q = dataclasses.replace(p, width=width)
            for seed in seeds[:s.seeds[max(len(s.seeds) - 2, 0)]]:
                networks |= {("dense", width, q.learning_rate, q.warmup, q.decay, q.mask_lr, seed),
                             ("dense", width, q.mask_lr, seed), ("ticket", width,
                                                                 search.ticket(config, q, seed))}
    epochs = flops = 0.0
    for net in networks:
        wide = widened(config, net[1])
        rate = net[2].learning_rate if net[0] == "ticket" else net[2]
        e, f = per_network(wide, rate)
        epochs, flops = epochs + e, flops + f
    return epochs, flops, len(networks)


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = load_config(sys.argv[1])
    for name, cost in (("registered study", registered_cost), ("pilot design", study_cost),
                       ("search (estimate)", search_cost)):
        epochs, flops, networks = cost(config)
        print(f"{sys.argv[1]}: {name} = {networks} networks, {epochs:,.0f} network-epochs, "
              f"{flops / 1e15:,.2f} PFLOP")
        for rate in map(float, sys.argv[2:]):
            print(f"  at a sustained {rate:g} GFLOP/s: {flops / rate / 1e9 / 3600:,.1f} h")
