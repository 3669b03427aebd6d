"""Network-epochs per second of a sweep: stacks that stay full vs fixed stacks vs one network
at a time (``Trainer``), and as a fraction of this CPU's arithmetic limit.

The sweep is the shape of notebook 02's: 2 × ``runtime.ensemble_size`` tickets of the default
network at 80 % sparsity, half at LR 0.01 and half at 0.005, so that budgets differ as the
study's do (steps × LR held constant: the 0.005 networks train twice as many steps), with the
study's evaluation schedule. Fixed stacks train ``ensemble_size`` networks until the longest
is done (how sweeps ran before); full stacks start the next network as soon as one stops.
All three paths train the same networks on the same data in this process.

The limit: FLOPs per network-epoch (training 3 × 2·rows·Σ in·out, plus the validation
passes, 2·rows·Σ in·out each) over the rate of a float32 matmul measured in the same run.
Goal: ≥ 50 % of the limit.

Where oneDNN computes float32 matmuls in bfloat16 (``runtime.precision``, opt-in), the full
stacks run that way too, against the same float32 limit, and each network's best validation
risk is set beside its float32 twin's: the difference against the spread between seeds.
"""

import statistics
import time

import torch
from common import NO_BFLOAT16, QUICK, header, job, matmul_rate

from lth_hedging import create_loss_function, create_model, load_config
from lth_hedging.nets.fitting import Network, fit_ensemble
from lth_hedging.nets.pruning import magnitude_mask
from lth_hedging.nets.runtime import bfloat16_matmuls, set_arithmetic
from lth_hedging.nets.train import Trainer, steps_per_epoch
from lth_hedging.studies.stages import load_split, risk_function, schedule

EPOCHS = 2  # at LR 0.005; the LR 0.01 networks train half as many steps


def sweep(config, n_models):
    inits = [create_model(config, seed).state_dict() for seed in range(n_models)]
    masks = [magnitude_mask(state, 0.8) for state in inits]
    lrs = [0.01 if i % 2 == 0 else 0.005 for i in range(n_models)]
    per_epoch = steps_per_epoch(config.data.n_paths["train"], config.training.batch_size)
    schedules = [schedule(config, lr, round(EPOCHS * per_epoch * 0.005 / lr)) for lr in lrs]
    return [Network(*n) for n in zip(inits, masks, lrs, schedules, range(n_models))]


def ensemble(config, train, val, networks, stack_size, fixed):
    if not fixed:
        return fit_ensemble(networks, train, val, job(config), stack_size=stack_size)
    for start in range(0, len(networks), stack_size):
        fit_ensemble(networks[start:start + stack_size], train, val, job(config))


def one_by_one(config, train, val, networks):
    t = config.training
    for n in networks:
        model = create_model(config)
        model.load_state_dict(n.init)
        Trainer(model, create_loss_function(config), risk_function(config),
                cost=config.hedging.cost, learning_rate=n.learning_rate, batch_size=t.batch_size,
                schedule=n.schedule, mask=n.mask, shuffle_seed=n.shuffle_seed).fit(train, val)


def flops_per_network_epoch(config, networks):
    """Training and evaluation FLOPs of the sweep, per network-epoch."""
    model = create_model(config, cost=config.hedging.cost)
    per_row = 2 * sum(layer.in_features * layer.out_features for layer in model.layers)
    n_train, n_val = config.data.n_paths["train"], config.data.n_paths["val"]
    per_epoch = steps_per_epoch(n_train, config.training.batch_size)
    steps = sum(n.schedule.budget for n in networks)
    evals = sum(len(n.schedule.eval_steps) for n in networks)
    flops = config.data.n_steps * per_row * (3 * n_train * steps / per_epoch + n_val * evals)
    return flops / (steps / per_epoch), steps / per_epoch


def bench_config():
    """The default config (tiny in quick mode) on 2 threads, and its stack size."""
    torch.set_num_threads(2)
    overrides = {"model.hidden": [16, 16], "data.n_paths": {"train": 2000, "val": 1000,
                                                            "test": 1000},
                 "data.n_steps": 10, "runtime.ensemble_size": 2} if QUICK else {}
    config = load_config("configs/config.yaml", overrides)
    return config, config.runtime.ensemble_size or 8


def main():
    config, size = bench_config()
    header(f"sweep of {2 * size} tickets (80 %), LR 0.01 / 0.005, stacks of {size}")
    train, val = load_split(config, "train"), load_split(config, "val")
    networks = sweep(config, 2 * size)
    flops, network_epochs = flops_per_network_epoch(config, networks)
    peak = matmul_rate()
    print(f"float32 matmul rate {peak / 1e9:.1f} GFLOP/s; {flops / 1e9:.2f} GFLOP per "
          f"network-epoch -> limit {peak / flops:.2f} network-epochs/s")
    warm = networks[:2]
    ensemble(config, train.slice(0, 2048), val, warm, 2, fixed=False)  # warm-up
    rates, results = {}, {}
    for name, run in [("full stacks", lambda: ensemble(config, train, val, networks, size,
                                                       fixed=False)),
                      ("fixed stacks", lambda: ensemble(config, train, val, networks, size,
                                                        fixed=True)),
                      ("one by one", lambda: one_by_one(config, train, val, networks))]:
        start = time.perf_counter()
        results[name] = run()
        rates[name] = network_epochs / (time.perf_counter() - start)
        print(f"{name:>12}: {rates[name]:6.3f} network-epochs/s = "
              f"{rates[name] * flops / peak:4.0%} of the limit")
    print(f"full vs fixed stacks {rates['full stacks'] / rates['fixed stacks']:.2f}x, "
          f"full stacks vs one by one {rates['full stacks'] / rates['one by one']:.2f}x "
          f"(goal: >= 50 % of the limit)")
    if not bfloat16_matmuls():
        print(NO_BFLOAT16)
        return
    set_arithmetic(torch.get_num_threads(), False, "bfloat16")
    start = time.perf_counter()
    bf16 = ensemble(config, train, val, networks, size, fixed=False)
    rate = network_epochs / (time.perf_counter() - start)
    set_arithmetic(torch.get_num_threads(), False, "float32")
    print(f"full stacks, bfloat16 matmuls: {rate:.3f} network-epochs/s = {rate * flops / peak:.0%}"
          f" of the float32 limit, {rate / rates['full stacks']:.2f}x float32")
    best = [[min(row["val_risk"] for row in r.history) for r in runs]
            for runs in (results["full stacks"], bf16)]
    gaps = [b - a for a, b in zip(*best)]
    seeds = [statistics.stdev(best[0][lr::2]) for lr in (0, 1)]  # within each learning rate
    print(f"best validation risk, bfloat16 - float32 per network: mean {statistics.mean(gaps):+.4f}"
          f", SD {statistics.stdev(gaps):.4f}, largest {max(gaps, key=abs):+.4f}; float32 "
          f"seed-to-seed SD {seeds[0]:.4f} (LR 0.01), {seeds[1]:.4f} (LR 0.005)")


if __name__ == "__main__":
    main()
