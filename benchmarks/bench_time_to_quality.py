"""Wall time until the deep hedge's test ES 5 % is within 1 % of the minimum-variance delta's.

pfhedge's default Heston setting (κ = 1, θ = v0 = 0.04, ξ = 0.2, ρ = −0.7, S0 = K = 1,
30 steps of 1/250), ES 5 %, no costs. Both hedgers are scored on the same 20k test paths
(simulated by us; pfhedge's model reads them through its instrument buffers); evaluation time
is excluded. Ours: the project's trainer and default training settings on 20k fixed paths.
pfhedge: ``Hedger.fit`` as documented (fresh paths every step, its default optimiser).
Each side is capped at CAP seconds; a side that does not get there is reported as such.
Target: ours ≥ 5× faster.
"""

import time

import torch
from common import DT, N_STEPS, PFHEDGE_HESTON, QUICK, header
from pfhedge.instruments import EuropeanOption, HestonStock
from pfhedge.nn import ExpectedShortfall, Hedger, MultiLayerPerceptron

from lth_hedging import compute_pnl, create_loss_function, create_model, load_config
from lth_hedging.market.hedges import reference_deltas
from lth_hedging.market.heston import get_or_generate_dataset
from lth_hedging.nets.losses import empirical_cvar
from lth_hedging.nets.train import Schedule, Trainer
from lth_hedging.studies.stages import load_split, risk_function

CAP, TOLERANCE = (2.0 if QUICK else 300.0), 0.01
N_PATHS = 2000 if QUICK else 20000
p = PFHEDGE_HESTON


def config():
    return load_config(None, {
        "data.heston": {**p, "K": 1.0, "r": 0.0}, "data.T": N_STEPS * DT,
        "data.n_steps": N_STEPS, "data.n_paths": {"train": N_PATHS, "val": N_PATHS // 4,
                                                   "test": N_PATHS},
        "hedging.cost": 0.0, "hedging.reference_costs": [],
        "caching.directory": "cache/bench/quick" if QUICK else "cache/bench"})


def run_ours(c, target, S, Z):
    train, val, test = (load_split(c, s) for s in ("train", "val", "test"))
    model = create_model(c)
    t = c.training
    trainer = Trainer(model, create_loss_function(c), risk_function(c), cost=0.0,
                      learning_rate=t.learning_rate, batch_size=t.batch_size,
                      schedule=Schedule(1, frozenset({0, 1})))
    spent = 0.0
    while spent < CAP:
        start = time.perf_counter()
        trainer.train_epoch(train)
        spent += time.perf_counter() - start
        with torch.no_grad():
            es = empirical_cvar(compute_pnl(model(test.features)[0], S, Z), 0.05).item()
        if es <= target:
            return spent, es
    return None, es


def run_pfhedge(S, v, Z, target, steps_per_round=20):
    torch.manual_seed(0)
    stock = HestonStock(kappa=p["kappa"], theta=p["theta"], sigma=p["xi"], rho=p["rho"], dt=DT)
    option = EuropeanOption(stock, strike=1.0, maturity=N_STEPS * DT)
    hedger = Hedger(MultiLayerPerceptron(), inputs=["log_moneyness", "expiry_time", "volatility"],
                    criterion=ExpectedShortfall(0.05))
    spent, es = 0.0, float("inf")
    while spent < CAP:
        start = time.perf_counter()
        hedger.fit(option, n_epochs=steps_per_round, verbose=False, validation=False,
                   init_state=(p["S0"], p["v0"]))
        spent += time.perf_counter() - start
        with torch.no_grad():  # score on our test paths: load them into the instrument
            stock.register_buffer("spot", S.clone())
            stock.register_buffer("variance", v.clone())
            es = empirical_cvar(hedger.compute_pl(option), 0.05).item()
        if es <= target:
            return spent, es
    return None, es


if __name__ == "__main__":
    torch.set_num_threads(2)
    header("time to quality: ES 5 % within 1 % of the minimum-variance delta")
    c = config()
    S, v, Z = get_or_generate_dataset(c, "test")
    start = time.perf_counter()
    minvar = empirical_cvar(compute_pnl(reference_deltas(c, S, v)["min_variance_delta"], S, Z),
                            0.05).item()
    print(f"min-variance delta ES 5% = {minvar:.5f} (reference computed in "
          f"{time.perf_counter() - start:.0f} s); target {minvar * (1 + TOLERANCE):.5f}")
    target = minvar * (1 + TOLERANCE)
    t_ours, es_ours = run_ours(c, target, S, Z)
    print(f"ours: {f'{t_ours:.1f} s' if t_ours else f'not reached in {CAP:.0f} s'} "
          f"(ES {es_ours:.5f})")
    t_pf, es_pf = run_pfhedge(S, v, Z, target)
    print(f"pfhedge: {f'{t_pf:.1f} s' if t_pf else f'not reached in {CAP:.0f} s'} "
          f"(ES {es_pf:.5f})")
    if t_ours and t_pf:
        print(f"speed-up {t_pf / t_ours:.1f}x (target >= 5x)")
    elif t_ours:
        print(f"speed-up > {CAP / t_ours:.1f}x (pfhedge did not reach the target within the cap)")
    else:
        print("ours did not reach the target within the cap: no speed-up can be claimed")
