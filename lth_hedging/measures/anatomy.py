"""What a ticket is made of: mask overlap, input-feature importance, weight geometry. Plain
functions of masks and state dicts (notebook 03's experiments call them).

Overlaps are Jaccard indices |a ∧ b| / |a ∨ b| over every prunable weight; two independent
random masks of density d overlap by d / (2 − d) on average (``pruning.expected_jaccard``).
"""

from __future__ import annotations

import math

import torch

from ..market.features import FEATURE_NAMES
from ..market.instruments import INSTRUMENTS
from ..nets.pruning import Mask, prunable_names

PREVIOUS_POSITION = "previous_position"  # the semi-recurrent network's extra input


def _flat(mask: Mask) -> torch.Tensor:
    return torch.cat([mask[n].reshape(-1) for n in prunable_names(mask)])


def jaccard(a: Mask, b: Mask) -> float:
    """|a ∧ b| / |a ∨ b| over all prunable weights (1 for identical masks)."""
    fa, fb = _flat(a), _flat(b)
    if fa.shape != fb.shape:
        raise ValueError(f"masks of different networks ({fa.numel()} vs {fb.numel()} weights)")
    union = int((fa | fb).sum())
    return int((fa & fb).sum()) / union if union else math.nan


def is_nested(inner: Mask, outer: Mask) -> bool:
    """Every weight ``inner`` keeps, ``outer`` keeps too (one-shot masks of one θ* are
    nested: a higher sparsity removes more of the same ranking)."""
    return bool(torch.all(~_flat(inner) | _flat(outer)))


def layer_density(mask: Mask) -> dict[str, float]:
    return {n: int(mask[n].sum()) / mask[n].numel() for n in prunable_names(mask)}


def input_names(mask_or_state: dict) -> list[str]:
    """The first layer's inputs: the features, then a semi-recurrent network's previous
    position (one per instrument when it trades several, ordered as ``INSTRUMENTS``)."""
    n_inputs = mask_or_state["layers.0.weight"].shape[1]
    n_out = mask_or_state[prunable_names(mask_or_state)[-1]].shape[0]
    extra = n_inputs - len(FEATURE_NAMES)
    if extra not in (0, n_out) or n_out > len(INSTRUMENTS):
        raise ValueError(f"the first layer has {n_inputs} inputs and the network {n_out} "
                         f"outputs; expected {len(FEATURE_NAMES)} features (+ the previous "
                         f"position in each of at most {len(INSTRUMENTS)} instruments)")
    previous = [PREVIOUS_POSITION] if extra == 1 else [
        f"{PREVIOUS_POSITION}_{name}" for name in list(INSTRUMENTS)[:extra]]
    return [*FEATURE_NAMES, *previous]


def input_importance(mask: Mask, state: dict) -> dict[str, dict[str, float]]:
    """Per input of the first layer: the fraction of its connections that survive and its
    share of the surviving weight mass Σ|w| (shares sum to 1)."""
    keep = mask["layers.0.weight"]
    weight = state["layers.0.weight"].abs() * keep
    total = float(weight.sum())
    return {name: {"connections": int(keep[:, j].sum()),
                   "kept_fraction": float(keep[:, j].float().mean()),
                   "mass_share": float(weight[:, j].sum()) / total if total else math.nan}
            for j, name in enumerate(input_names(mask))}


def weight_distance(a: dict, b: dict, mask: Mask | None = None) -> float:
    """‖a − b‖ / ‖b‖ over the prunable weights (the kept ones only, with a mask)."""
    names = prunable_names(b)
    keep = [mask[n] if mask is not None else torch.ones_like(b[n], dtype=torch.bool)
            for n in names]
    diff = torch.cat([(a[n] - b[n])[k] for n, k in zip(names, keep)])
    ref = torch.cat([b[n][k] for n, k in zip(names, keep)])
    return float(diff.norm() / ref.norm())


def sign_agreement(a: dict, b: dict, mask: Mask) -> float:
    """Fraction of the kept weights whose sign is the same in ``a`` and ``b``."""
    names = prunable_names(mask)
    same = torch.cat([(torch.sign(a[n]) == torch.sign(b[n]))[mask[n]] for n in names])
    return float(same.float().mean()) if same.numel() else math.nan


def random_jaccard(mask: Mask) -> float:
    """Expected overlap of two independent random masks with ``mask``'s per-layer densities:
    Σ n·d² / Σ n·d(2 − d) over layers of n weights at density d (d / (2 − d) for one d)."""
    layers = [(mask[n].numel(), float(mask[n].float().mean())) for n in prunable_names(mask)]
    union = sum(n * d * (2 - d) for n, d in layers)
    return sum(n * d * d for n, d in layers) / union if union else math.nan


def kept_magnitude(state: dict, mask: Mask) -> float:
    """Mean |w| of the kept weights over the mean |w| of all prunable weights (1: the mask
    ignores magnitude)."""
    names = prunable_names(mask)
    kept = torch.cat([state[n].abs()[mask[n]] for n in names])
    every = torch.cat([state[n].abs().reshape(-1) for n in names])
    return float(kept.mean() / every.mean()) if kept.numel() else math.nan


def complement(mask: Mask) -> Mask:
    """The pruned weights as a mask."""
    return {n: ~m for n, m in mask.items()}
