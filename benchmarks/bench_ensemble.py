"""Batched ticket ensemble vs training the same networks one by one (``Trainer``).

A typical sweep: ``runtime.ensemble_size`` tickets of the default network at 80 % sparsity,
each with its own learning rate, one epoch on the default training set, at the default batch
size and at small batches (where one network alone is overhead-bound). Both paths run in this
process on the same data (best of two runs each); the figure is the ratio of their times.
"""

import torch
from common import best_time, header

from lth_hedging import Trainer, create_loss_function, create_model, load_config
from lth_hedging.ensemble import fit_ensemble
from lth_hedging.experiment import load_split, risk_function
from lth_hedging.pruning import magnitude_mask
from lth_hedging.train import Schedule, steps_per_epoch


def sweep(config, n_models):
    inits = [create_model(config, seed).state_dict() for seed in range(n_models)]
    masks = [magnitude_mask(state, 0.8) for state in inits]
    candidates = config.pruning.pruning_lr_candidates
    lrs = [candidates[i % len(candidates)] for i in range(n_models)]
    return inits, masks, lrs


def one_by_one(config, inits, masks, lrs, train, val, batch_size):
    for init, mask, lr in zip(inits, masks, lrs):
        model = create_model(config)
        model.load_state_dict(init)
        Trainer(model, create_loss_function(config), risk_function(config),
                cost=config.hedging.cost, learning_rate=lr, batch_size=batch_size,
                schedule=one_epoch(config, train, batch_size), mask=mask).fit(train, val)


def together(config, inits, masks, lrs, train, val, batch_size):
    fit_ensemble(inits, masks, lrs, train, val, loss_fn=create_loss_function(config),
                 risk_fn=risk_function(config), cost=config.hedging.cost,
                 activation=config.model.activation, batch_size=batch_size,
                 schedules=[one_epoch(config, train, batch_size)] * len(inits),
                 shuffle_seeds=list(range(len(inits))))


def one_epoch(config, train, batch_size):
    """One epoch, evaluated at its start and end only."""
    steps = steps_per_epoch(len(train), batch_size)
    return Schedule(steps, frozenset({0, steps}))


if __name__ == "__main__":
    torch.set_num_threads(2)
    header("ticket ensemble vs one-by-one training, default network, one epoch")
    config = load_config("configs/config.yaml")
    train, val = load_split(config, "train"), load_split(config, "val")
    n = config.runtime.ensemble_size
    inits, masks, lrs = sweep(config, n)
    together(config, inits[:2], masks[:2], lrs[:2], train.slice(0, 2048), val, 1024)  # warm-up
    for batch_size in (config.training.batch_size, 256, 128):
        args = (config, inits, masks, lrs, train, val, batch_size)
        alone = best_time(lambda args=args: one_by_one(*args), repeat=2)
        stacked = best_time(lambda args=args: together(*args), repeat=2)
        print(f"{n} tickets, batch {batch_size:>4}: one by one {alone:6.1f} s, ensemble "
              f"{stacked:6.1f} s -> {alone / stacked:.2f}x")
