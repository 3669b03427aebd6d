"""Masks: a mask is a value, ``dict[str, BoolTensor]`` over the prunable weights.

Prunable weights are the ``nn.Linear`` weights (``layers.{i}.weight``); never biases, never
the OCE level y. True keeps a weight. Masks are made by plain functions from a state dict and
enforced in one place (``apply_mask``: pruned weights and their gradients are zeroed), which
the trainer calls around each optimiser step (never per forward call), so Adam's moments of a
pruned weight stay zero and nothing moves it: pruned weights are exactly 0.0 throughout, and the
state dicts stay plain (they load into a fresh, unmasked model).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

Mask = dict[str, torch.Tensor]


def _global(names: list[str]) -> list[list[str]]:
    """The input and hidden layers' weights ranked together, the output layer alone."""
    return [names[:-1], names[-1:]]


def _per_layer(names: list[str]) -> list[list[str]]:
    """Every layer ranked alone, each at its rate."""
    return [[n] for n in names]


@dataclass(frozen=True)
class Ranking:
    """Which weights compete for the kept places (``groups``: layer names → groups ranked
    together), and the input layer's rate as a fraction of the others' where it is ranked
    alone (``input_factor``: 0 spares it; a 4-input first layer holds few weights, and
    pruning it at the full rate cuts most hidden units off their inputs)."""

    groups: Callable[[list[str]], list[list[str]]]
    input_factor: float = 1.0


# the registry of magnitude rankings (``pruning.scope``, a cell's ``scope``); a new ranking is
# one function above (or a factor) and one line here
SCOPES: dict[str, Ranking] = {
    "global": Ranking(_global),
    "layer": Ranking(_per_layer),
    "layer_spare_input": Ranking(_per_layer, input_factor=0.0),
    "layer_input_quarter": Ranking(_per_layer, input_factor=0.25),
}
OUTPUT_RATES = ("half", "same", "none")  # the output layer's rate beside the others'


def prunable_names(model_or_state: nn.Module | dict) -> list[str]:
    """Names of the prunable weights, input layer first."""
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    names = [k for k in state if k.startswith("layers.") and k.endswith(".weight")]
    return sorted(names, key=lambda k: int(k.split(".")[1]))


def validate_mask(mask: Mask, model_or_state: nn.Module | dict) -> Mask:
    """The mask covers exactly the prunable weights, with their shapes, as booleans."""
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    names = prunable_names(state)
    if sorted(mask) != sorted(names):
        raise ValueError(f"mask keys {sorted(mask)} do not match the prunable weights {names}")
    for name in names:
        if mask[name].dtype != torch.bool or mask[name].shape != state[name].shape:
            raise ValueError(f"mask['{name}'] must be a bool tensor of shape "
                             f"{tuple(state[name].shape)}, got {mask[name].dtype} "
                             f"{tuple(mask[name].shape)}")
    return mask


def _layer_rates(names: list[str], sparsity: float, output_rate: str,
                 input_factor: float = 1.0) -> dict[str, float]:
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity = {sparsity!r} is invalid: allowed 0 <= sparsity < 1")
    if output_rate not in OUTPUT_RATES:
        raise ValueError(f"output_rate = {output_rate!r} is invalid: allowed {OUTPUT_RATES}")
    out = {"half": sparsity / 2, "same": sparsity, "none": 0.0}[output_rate]
    rates = {name: out if name == names[-1] else sparsity for name in names}
    if input_factor != 1.0:
        rates[names[0]] = sparsity * input_factor
    return rates


def _keep_largest(scores: torch.Tensor, n_prune: int) -> torch.Tensor:
    """Boolean mask keeping all but the ``n_prune`` smallest scores (ties: lower index goes)."""
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    if n_prune > 0:
        order = torch.sort(scores.reshape(-1), stable=True).indices
        keep[order[:n_prune]] = False
    return keep.reshape(scores.shape)


def magnitude_mask(state: dict, sparsity: float, *, scope: str = "global",
                   output_rate: str = "half", current: Mask | None = None) -> Mask:
    """Prune the smallest-magnitude weights of ``state`` (θ*).

    ``scope`` (``SCOPES``): "global" ranks the hidden-and-input layers' weights together,
    "layer" prunes each layer at the rate, "layer_spare_input" keeps the input layer whole,
    "layer_input_quarter" prunes it at a quarter of the rate. The output layer is always
    ranked alone, at half the rate, the same rate, or not at all. With ``current``, only
    weights it keeps compete, and ``sparsity`` is the fraction of *those* to remove (one IMP
    round).
    """
    if scope not in SCOPES:
        raise ValueError(f"scope = {scope!r} is invalid: allowed {tuple(SCOPES)}")
    names = prunable_names(state)
    ranking = SCOPES[scope]
    rates = _layer_rates(names, sparsity, output_rate, ranking.input_factor)
    alive = current or {n: torch.ones_like(state[n], dtype=torch.bool) for n in names}
    # a pruned weight scores −1: below every magnitude, so it stays pruned
    scores = {n: torch.where(alive[n], state[n].abs(), torch.tensor(-1.0)) for n in names}
    mask: Mask = {}
    groups = ranking.groups(names)
    for group in groups:
        if not group:
            continue
        flat = torch.cat([scores[n].reshape(-1) for n in group])
        remaining = int(torch.cat([alive[n].reshape(-1) for n in group]).sum())
        n_dead = flat.numel() - remaining
        keep = _keep_largest(flat, n_dead + round(rates[group[0]] * remaining))
        for n, part in zip(group, keep.split([scores[n].numel() for n in group])):
            mask[n] = part.reshape(state[n].shape)
    return mask


def magnitude_like(state: dict, like: Mask) -> Mask:
    """The largest |w| of ``state`` in every layer, as many as ``like`` keeps there (ties:
    the lower index goes) — e.g. θ0's magnitude mask with a ticket's per-layer counts."""
    return {name: _keep_largest(state[name].abs(), m.numel() - int(m.sum()))
            for name, m in like.items()}


def random_mask(like: Mask, generator: torch.Generator) -> Mask:
    """A mask with the same number of kept weights in every layer, at random positions."""
    out = {}
    for name, m in like.items():
        scores = torch.rand(m.shape, generator=generator)
        out[name] = _keep_largest(scores, m.numel() - int(m.sum()))
    return out


def rescale_kept(state: dict, mask: Mask, like: Mask) -> dict:
    """``state`` with each masked layer's kept weights scaled by ‖W ⊙ like‖ / ‖W ⊙ mask‖: a
    random ``mask`` keeps a typical sample of |W|, a magnitude mask ``like`` (the ticket's)
    keeps the large ones; rescaled, the random mask starts with the ticket's norm in every
    layer and differs from it only in *which* weights it keeps. Other entries are copied."""
    out = {k: v.clone() for k, v in state.items()}
    for name, m in mask.items():
        kept = (state[name] * m).norm()
        if kept > 0:
            out[name] = state[name] * m * ((state[name] * like[name]).norm() / kept)
    return out


def permute_kept(state: dict, mask: Mask, generator: torch.Generator) -> dict:
    """``state`` with each masked layer's kept weights shuffled among its kept positions (one
    random permutation per layer, Vischer et al. 2022): the same mask and the same multiset of
    initial values per layer, every value at another weight. Other entries are copied."""
    out = {k: v.clone() for k, v in state.items()}
    for name, m in mask.items():
        kept = m.flatten().nonzero().squeeze(1)
        values = state[name].flatten()[kept]
        flat = out[name].flatten()
        flat[kept] = values[torch.randperm(len(kept), generator=generator)]
        out[name] = flat.view_as(state[name])
    return out


def imp_round(state: dict, current: Mask, rate: float, **kwargs) -> Mask:
    """One round of iterative magnitude pruning: remove ``rate`` of the remaining weights.

    After r rounds from a full mask the density is (1 − rate)^r (up to rounding per layer).
    """
    return magnitude_mask(state, rate, current=current, **kwargs)


def apply_mask(model: nn.Module, mask: Mask) -> None:
    """Zero the pruned weights and, where present, their gradients: the one enforcement."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, m in mask.items():
            p = params[name]
            p.mul_(m)
            if p.grad is not None:
                p.grad.mul_(m)


def sparsity_report(mask: Mask) -> dict:
    """Per-layer and total sparsity, and effective sparsity.

    A kept weight is *effective* when it lies on some path from an input to the output:
    its input unit is reachable from the inputs and its output unit reaches the output.
    Units cut off either way are dead (their weights count as pruned in effect);
    ``dead_by_layer`` counts them per hidden layer, input side first.
    """
    names = prunable_names(mask)
    Ms = [mask[n] for n in names]  # each (out, in)
    reach_in = [torch.ones(Ms[0].shape[1], dtype=torch.bool)]
    for M in Ms:
        reach_in.append((M & reach_in[-1][None, :]).any(1))
    reach_out = [torch.ones(Ms[-1].shape[0], dtype=torch.bool)]
    for M in reversed(Ms):
        reach_out.insert(0, (M & reach_out[0][:, None]).any(0))
    total = sum(M.numel() for M in Ms)
    kept = sum(int(M.sum()) for M in Ms)
    effective = sum(int((M & reach_in[i][None, :] & reach_out[i + 1][:, None]).sum())
                    for i, M in enumerate(Ms))
    dead = [int((~(reach_in[i] & reach_out[i])).sum()) for i in range(1, len(Ms))]
    return {"layers": {n: 1 - int(M.sum()) / M.numel() for n, M in zip(names, Ms)},
            "total": 1 - kept / total, "effective": 1 - effective / total,
            "dead_units": sum(dead), "dead_by_layer": dead, "n_weights": total,
            "n_kept": kept}


def density(mask: Mask) -> float:
    return sum(int(m.sum()) for m in mask.values()) / sum(m.numel() for m in mask.values())


def expected_jaccard(d: float) -> float:
    """Jaccard overlap of two independent random masks at density d: d / (2 − d)."""
    return d / (2 - d) if d > 0 else math.nan
