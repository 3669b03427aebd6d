"""The candidate levers for training faster on a CPU, each measured in one run on a full stack
of the default network (bench_ensemble's tickets: 80 %, LR 0.01 / 0.005), against the path
the study takes:

- the evaluation chunk: the validation set's P&L of the stack in chunks of 256 to 2048 paths
  against ``eval_chunk``'s; the values must be the same;
- the optimiser: one ``StackedAdam`` step with the masks applied, against a forward and
  backward pass of the stack: the most that fusing the optimiser could save;
- bfloat16 matmuls (``runtime.precision``, opt-in) where oneDNN computes them: a step's
  forward and backward against float32, and how far the gradients move (relative norm);
- ``torch.compile`` of the stack's loss (the backward compiled with it): its compile time,
  a step's forward and backward against eager, the largest gradient difference (the
  rounding changes, so results would too) and the steps after which the compile is repaid;
  where there is no C++ compiler (inductor needs one; the project does not) it says so.
"""

import shutil
import time

import torch
from bench_ensemble import bench_config, sweep
from common import NO_BFLOAT16, QUICK, best_time, header

from lth_hedging import create_loss_function
from lth_hedging.nets.ensemble import (
    Stack,
    apply_stacked_mask,
    ensemble_forward,
    ensemble_pnl,
    eval_chunk,
)
from lth_hedging.nets.losses import compute_pnl
from lth_hedging.nets.runtime import bfloat16_matmuls, set_arithmetic
from lth_hedging.studies.stages import load_split

REPEAT = 1 if QUICK else 5


def main():
    config, size = bench_config()
    header(f"levers on a full stack of {size} tickets (80 %)")
    train, val = load_split(config, "train"), load_split(config, "val")
    networks = sweep(config, size)
    stack = Stack(networks[0].init, weight_decay=config.training.weight_decay,
                  device=torch.device("cpu"))
    for i, n in enumerate(networks):
        stack.add(i, n.init, n.mask, n.learning_rate, n.schedule)
    loss_fn, cost = create_loss_function(config), config.hedging.cost
    recurrent = stack.params["layers.0.weight"].shape[2] > train.features.shape[-1]
    kw = dict(recurrent=recurrent, activation=config.model.activation)
    generator = torch.Generator().manual_seed(0)
    rows = torch.stack([torch.randperm(len(train), generator=generator)
                        [:config.training.batch_size] for _ in range(size)])
    batch = train.take(rows)

    def losses(params, features, S, Z):
        deltas, y = ensemble_forward(params, features, **kw)
        return loss_fn(compute_pnl(deltas, S, Z, cost), y)

    def forward_backward(loss=losses):
        leaves = {k: p.detach().requires_grad_(True) for k, p in stack.params.items()}
        total = loss(leaves, batch.features, batch.S, batch.Z).sum()
        return torch.autograd.grad(total, list(leaves.values()), allow_unused=True)

    def timed(fn) -> float:
        fn()  # warm-up
        return best_time(fn, REPEAT)

    step = timed(forward_backward)
    print(f"forward and backward of the stack on one minibatch: {step * 1e3:.0f} ms")

    def evaluate(chunk):
        return torch.cat([ensemble_pnl(stack.params, val.slice(s, s + chunk), cost=cost, **kw)
                          for s in range(0, len(val), chunk)], dim=-1)

    ours = eval_chunk(torch.device("cpu"), size)
    reference = evaluate(ours)
    for chunk in sorted({256, 512, 1024, 2048, ours}):
        same = torch.equal(evaluate(chunk), reference)
        seconds = timed(lambda c=chunk: evaluate(c))
        print(f"evaluation of {len(val)} paths in chunks of {chunk}"
              f"{' (ours)' if chunk == ours else ''}: {seconds * 1e3:.0f} ms; the same P&L: {same}")

    grads = {k: g for k, g in zip(stack.params, forward_backward()) if g is not None}
    stack.optimizer.t = [0] * size  # the optimiser's step counts: never past the warmup

    def optimiser_step():
        apply_stacked_mask(grads, stack.masks)
        stack.optimizer.step(stack.params, grads)
        apply_stacked_mask(stack.params, stack.masks)
        stack.optimizer.t = [0] * size

    adam = timed(optimiser_step)
    print(f"optimiser step with the masks: {adam * 1e3:.2f} ms = {adam / step:.1%} of a "
          f"forward and backward pass (the most a fused optimiser could save)")

    if bfloat16_matmuls():
        exact = forward_backward()
        set_arithmetic(torch.get_num_threads(), False, "bfloat16")
        low, coarse = timed(forward_backward), forward_backward()
        set_arithmetic(torch.get_num_threads(), False, "float32")
        moved = max(((a - b).norm() / a.norm()).item() for a, b in zip(exact, coarse)
                    if a is not None)
        print(f"bfloat16 matmuls: a step {low * 1e3:.0f} ms vs float32 {step * 1e3:.0f} ms: "
              f"{step / low:.2f}x; gradients moved by up to {moved:.1e} of their norm")
    else:
        print(NO_BFLOAT16)

    if not any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")):
        print("torch.compile: no C++ compiler on this machine (inductor needs one): not measured")
        return
    compiled = torch.compile(losses)
    start = time.perf_counter()
    fused = forward_backward(compiled)
    compile_s = time.perf_counter() - start
    eager = forward_backward()
    gap = max((a - b).abs().max().item() for a, b in zip(eager, fused) if a is not None)
    fast = timed(lambda: forward_backward(compiled))
    saved = step - fast
    repaid = f"repaid after {compile_s / saved:.0f} steps of this stack" if saved > 0 else \
        "never repaid"
    print(f"torch.compile of the loss: compiled in {compile_s:.0f} s; a step {fast * 1e3:.0f} ms"
          f" vs eager {step * 1e3:.0f} ms: {step / fast:.2f}x, {repaid} (each new shape compiles"
          f" again); largest gradient difference {gap:.1e} (rounding changes)")


if __name__ == "__main__":
    main()
