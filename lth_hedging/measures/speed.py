"""Convergence speed on the validation risk, in optimiser steps — defined once.

Every measure reads a training history's ``step`` and ``val_risk`` (the y-free risk of the
validation P&L, ``train``) against two reference levels of one (learning rate, width):

- R_d, the dense reference: the median over seeds of the dense networks' final risk (the
  mean of their last ``final_evals`` evaluations);
- R_BS, the floor: the Black–Scholes delta's validation risk (a hedge that learned nothing),
  or not hedging's where that is lower (``references.floor``; ``floor_name`` says which).

A curve *reaches* a level at the first evaluation where the mean of the last ``window``
evaluations is at or below it. T_x is the step at which it reaches R_d + (1 − x)(R_BS − R_d),
i.e. closes the fraction x of the gap from the floor to the dense reference; a curve that
never does is *censored* at its budget. AUC is the mean over [0, budget] of the clipped
normalised excess risk clip((risk − R_d) / (R_BS − R_d), 0, 1), each evaluation's value held
until the next (0: at the dense reference from the start; 1: never better than the floor).
A network *matches* the dense reference when its final risk is within ``margin`` of R_d;
its *best step* (Frankle & Carbin's early-stopping iteration) is reported only then.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from ..foundations.records import Record, entry

ENDPOINTS = {"T50": 0.5, "T60": 0.6, "T75": 0.75, "T90": 0.9}  # the gap fraction each closes


@dataclass(frozen=True)
class References(Record):
    """Reference levels of one (learning rate, width), in money."""

    dense: float  # R_d
    floor: float  # R_BS
    margin: float  # "matches": final risk ≤ R_d + margin
    dense_sd: float  # the dense networks' seed-to-seed standard deviation (NaN for one)
    n_dense: int
    floor_name: str = "bs_delta"  # the hedge the floor is (``references.floor``)

    def level(self, fraction: float) -> float:
        return self.dense + (1 - fraction) * (self.floor - self.dense)


def is_endpoint(key: str) -> bool:
    """A level of ``ENDPOINTS`` (a results row's flattened keys)."""
    return key in ENDPOINTS


@dataclass(frozen=True, kw_only=True)
class Speed(Record):
    """Every speed measure of one curve (``speed``); stored with the levels T50 … T90 beside
    the rest."""

    levels: dict[str, int | None] = entry(flat=True, keys=is_endpoint)  # None: censored
    auc: float
    best_step: int | None
    final_risk: float
    matches: bool
    budget: int


def final_risk(history: list[dict], final_evals: int) -> float:
    """Mean validation risk of the last ``final_evals`` evaluations."""
    tail = [row["val_risk"] for row in history[-final_evals:]]
    return sum(tail) / len(tail)


def reference_levels(dense_histories: list[list[dict]], floor: float, *, final_evals: int,
                     margin: float | None = None, floor_name: str = "bs_delta") -> References:
    """R_d from the dense networks' histories (one per seed), R_BS = ``floor`` (the risk of
    ``floor_name``); the matching margin is ``margin`` or, when None, twice the dense
    networks' seed-to-seed SD."""
    finals = [final_risk(h, final_evals) for h in dense_histories]
    sd = statistics.stdev(finals) if len(finals) >= 2 else math.nan
    if margin is None:
        if len(finals) < 2:
            raise ValueError("metrics.match_margin = null needs dense networks on at least two "
                             "seeds (their spread sets the margin); set a margin in money")
        margin = 2 * sd
    dense = statistics.median(finals)
    if not floor > dense:
        raise ValueError(f"the floor ({floor_name}'s validation risk {floor:.4f}) must lie "
                         f"above the dense reference ({dense:.4f}) for gap fractions to mean "
                         "anything: the dense networks hedge worse than a hedge that learned "
                         "nothing; train them more (training.epochs, training.learning_rate, "
                         "training.batch_size, data.n_paths.train) or measure them on more "
                         "validation paths (data.n_paths.val)")
    return References(dense, floor, margin, sd, len(finals), floor_name)


def reach_step(history: list[dict], level: float, window: int) -> int | None:
    """First step where the mean of the last ``window`` evaluations is ≤ ``level``."""
    risks = [row["val_risk"] for row in history]
    for i in range(window - 1, len(risks)):
        if sum(risks[i - window + 1:i + 1]) / window <= level:
            return history[i]["step"]
    return None


def stay_step(history: list[dict], level: float, window: int) -> int | None:
    """First step from which the mean of the last ``window`` evaluations stays ≤ ``level``
    through the end of the curve (None: it ends above). ``reach_step`` times the first
    crossing; a curve that crosses and comes back above the level crosses again later."""
    risks = [row["val_risk"] for row in history]
    means = [sum(risks[i - window + 1:i + 1]) / window for i in range(window - 1, len(risks))]
    if not means or means[-1] > level:
        return None
    i = len(means) - 1
    while i > 0 and means[i - 1] <= level:
        i -= 1
    return history[i + window - 1]["step"]


def settle_step(history: list[dict], level: float, window: int, hold: int) -> int | None:
    """First step s from which the mean of the last ``window`` evaluations stays ≤ ``level``
    at every evaluation up to step s + ``hold`` (the curve must reach that far). Unlike
    ``stay_step`` the rule looks ``hold`` steps ahead, never to the end of the budget: a curve
    settled at step s is settled whatever a longer budget would have shown after s + hold.
    None: it never holds the level that long within the curve (censored)."""
    steps = [row["step"] for row in history][window - 1:]
    risks = [row["val_risk"] for row in history]
    below = [sum(risks[i - window + 1:i + 1]) / window <= level
             for i in range(window - 1, len(risks))]
    for j, start in enumerate(steps):
        if steps[-1] < start + hold:
            return None
        ahead = [ok for s, ok in zip(steps[j:], below[j:]) if s <= start + hold]
        if all(ahead):
            return start
    return None


def auc(history: list[dict], refs: References, budget: int) -> float:
    """Mean over [0, budget] of clip((risk − R_d) / (R_BS − R_d), 0, 1), piecewise constant
    from each evaluation to the next (a run stopped early holds its last value)."""
    gap = refs.floor - refs.dense
    area = 0.0
    for row, nxt in zip(history, [*history[1:], None]):
        end = budget if nxt is None else min(nxt["step"], budget)
        value = min(max((row["val_risk"] - refs.dense) / gap, 0.0), 1.0)
        area += value * max(end - row["step"], 0)
    return area / budget


def best_step(history: list[dict], refs: References) -> int | None:
    """The step of the lowest validation risk, where that risk is within the margin of R_d."""
    best = min(history, key=lambda row: row["val_risk"])
    return best["step"] if best["val_risk"] <= refs.dense + refs.margin else None


def speed(history: list[dict], refs: References, *, budget: int, window: int,
          final_evals: int) -> Speed:
    """Every speed measure of one curve: T50 … T90 (None: censored at ``budget``), AUC,
    best step, final risk and whether it matches the dense reference."""
    final = final_risk(history, final_evals)
    return Speed(levels={name: reach_step(history, refs.level(x), window)
                         for name, x in ENDPOINTS.items()},
                 auc=auc(history, refs, budget), best_step=best_step(history, refs),
                 final_risk=final, matches=final <= refs.dense + refs.margin, budget=budget)


def censored(value: int | None, budget: int) -> tuple[int, bool]:
    """A step to reach, or the budget and a flag where it was never reached."""
    return (budget, True) if value is None else (max(value, 1), False)
