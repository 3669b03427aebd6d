"""FLOP rate of a training epoch on the default network, as a fraction of the rate of a large
float32 matmul measured in the same run (a practical peak for this machine).

FLOPs counted: 2·rows·in·out per Linear in the forward pass, ×3 for forward + backward.
Target: ≥ 50 % of the matmul rate. Where oneDNN computes float32 matmuls in bfloat16
(``runtime.precision``, opt-in), the default network's epoch is timed that way too, against
the same float32 limit.
"""

import time

import torch
from common import NO_BFLOAT16, QUICK, header, matmul_rate

from lth_hedging import create_loss_function, create_model, load_config
from lth_hedging.nets.runtime import bfloat16_matmuls, set_arithmetic
from lth_hedging.nets.train import Schedule, Trainer
from lth_hedging.studies.stages import load_split, risk_function


def epoch_rate(config, cost):
    train = load_split(config, "train")
    model = create_model(config, cost=cost)
    t = config.training
    trainer = Trainer(model, create_loss_function(config), risk_function(config), cost=cost,
                      learning_rate=t.learning_rate, batch_size=t.batch_size,
                      schedule=Schedule(1, frozenset({0, 1})))
    trainer.train_epoch(train)  # warm-up
    start = time.perf_counter()
    n_epochs = 1 if QUICK else 3
    for _ in range(n_epochs):
        trainer.train_epoch(train)
    seconds = (time.perf_counter() - start) / n_epochs
    rows = len(train) * config.data.n_steps
    flops = 3 * 2 * rows * sum(layer.in_features * layer.out_features for layer in model.layers)
    return flops / seconds, seconds


if __name__ == "__main__":
    torch.set_num_threads(2)
    header("training-epoch efficiency, default config")
    config = load_config("configs/smoke.yaml" if QUICK else "configs/config.yaml")
    peak = matmul_rate()
    print(f"float32 matmul: {peak / 1e9:.1f} GFLOP/s")
    for cost in (config.hedging.cost, 0.0):
        rate, seconds = epoch_rate(config, cost)
        kind = "semi-recurrent" if cost > 0 else "feed-forward"
        print(f"{kind} ({cost * 1e4:g} bps): epoch {seconds:.2f} s, {rate / 1e9:.1f} GFLOP/s "
              f"= {rate / peak:.0%} of the matmul rate (target >= 50%)")
    if not bfloat16_matmuls():
        print(NO_BFLOAT16)
    else:
        set_arithmetic(2, False, "bfloat16")
        rate, seconds = epoch_rate(config, config.hedging.cost)
        set_arithmetic(2, False, "float32")
        print(f"semi-recurrent, bfloat16 matmuls: epoch {seconds:.2f} s, {rate / 1e9:.1f} "
              f"GFLOP/s = {rate / peak:.0%} of the float32 matmul rate")
