"""The GPU path at the original scale (``configs/paper.yaml``: 150k paths, 256-256-128).

Network-epochs per second of a stack of ``runtime.ensemble_size`` networks (chosen for the
device) vs one network at a time on the same GPU (``Trainer``, the way the original study's
code trains), and each as a fraction of the GPU's FP32 and TF32 matmul rates measured in the
same run. A few steps of each, timed after a warm-up, with CUDA synchronised.

Without a GPU there is nothing to measure: the full run says so; ``--quick`` runs the same
code on the CPU at tiny sizes (so that it cannot break unnoticed).
"""

import time

import torch
from common import QUICK, header, job, matmul_rate

from lth_hedging import create_loss_function, create_model, load_config
from lth_hedging.nets import runtime
from lth_hedging.nets.fitting import Network, fit_ensemble
from lth_hedging.nets.train import Schedule, Trainer, steps_per_epoch
from lth_hedging.studies.stages import load_split, risk_function

STEPS = 2 if QUICK else 20


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def per_network_epoch(config, device, train, val, n_models):
    """Seconds per network-epoch of ``n_models`` networks trained together for STEPS steps
    (one: ``Trainer``), evaluated only at the start and the end."""
    t = config.training
    per_epoch = steps_per_epoch(len(train), t.batch_size)
    sched = Schedule(STEPS, frozenset({0, STEPS}))
    inits = [create_model(config, seed).state_dict() for seed in range(n_models)]

    def run():
        if n_models == 1:
            model = create_model(config).to(device)
            model.load_state_dict(inits[0])
            Trainer(model, create_loss_function(config), risk_function(config),
                    cost=config.hedging.cost, learning_rate=t.learning_rate,
                    batch_size=t.batch_size, schedule=sched).fit(train.to(device),
                                                                 val.to(device))
        else:
            fit_ensemble([Network(init, None, t.learning_rate, sched, seed)
                          for seed, init in enumerate(inits)], train, val, job(config),
                         device=device)
        synchronize(device)

    run()  # warm-up
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / n_models * per_epoch / STEPS


def flops_per_network_epoch(config, train, val):
    model = create_model(config)
    per_row = 2 * sum(layer.in_features * layer.out_features for layer in model.layers)
    return config.data.n_steps * per_row * (3 * len(train) + 2 * len(val) / STEPS
                                            * steps_per_epoch(len(train),
                                                              config.training.batch_size))


def main():
    if not torch.cuda.is_available() and not QUICK:
        print("== GPU benchmark: no CUDA device here, nothing measured")
        return
    overrides = {"runtime.device": "auto"}
    if QUICK:
        overrides.update({"model.hidden": [16, 16], "data.n_steps": 10, "data.n_paths": {
            "train": 2000, "val": 500, "test": 500}, "runtime.ensemble_size": 4})
    config = load_config("configs/paper.yaml", overrides)
    device = runtime.device(config)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    header(f"paper scale on {name}: a stack of {runtime.stack_size(config)} vs one network")
    train, val = load_split(config, "train"), load_split(config, "val")
    flops = flops_per_network_epoch(config, train, val)
    rates = {"FP32": matmul_rate(8192, 20, str(device)) if not QUICK else matmul_rate()}
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        rates["TF32"] = matmul_rate(8192, 20, str(device))
        torch.backends.cuda.matmul.allow_tf32 = config.runtime.tf32
    print(", ".join(f"{k} matmul {v / 1e12:.1f} TFLOP/s" for k, v in rates.items())
          + f"; {flops / 1e12:.2f} TFLOP per network-epoch (training + evaluations)")
    size = runtime.stack_size(config)
    seconds = {n: per_network_epoch(config, device, train, val, n) for n in (size, 1)}
    for n, s in seconds.items():
        share = ", ".join(f"{flops / s / r:.0%} of {k}" for k, r in rates.items())
        print(f"{'stack of ' + str(n) if n > 1 else 'one network':>12}: {s:.2f} s per "
              f"network-epoch ({share})")
    print(f"stack vs one network at a time: {seconds[1] / seconds[size]:.1f}x")


if __name__ == "__main__":
    main()
