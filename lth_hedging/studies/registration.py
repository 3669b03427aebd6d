"""The registration of the confirmatory study: how the pilot chose its endpoint and its
number of seeds, and the registered design as the notebook prints it.

The pilot is exploratory data on seeds the confirmatory study never uses: every network's
validation-risk curve with its references (``registration/pilot.json``, written by
``tools/register.py``), in cells of two pilots — the diagonal study notebook 03 ran before,
and the registered condition itself. Each candidate endpoint is judged by three rules:

1. every floor control fails it in every cell (a classical hedge frozen, only y trained: it
   must never reach the level, and for an area its value must be worse than every dense
   network's);
2. it measures speed to a level the compared networks reach, not where runs settle: every
   ticket and every dense network reaches it within the budget in the cells at the first
   registered sparsity (where the ticket is meant to match; slower controls that never get
   there are censored at the budget, an outcome, as the analysis treats them);
3. among those, the smallest seed-to-seed SD of the paired log ratio ticket vs dense, pooled
   over the registered condition's cells at that sparsity.

From that SD, the seeds for ``power`` to detect ``boost`` at family A's strictest Holm
level (``metrics.detectable_speedup``), also at the SD's one-sided 80 % upper confidence
bound (eight pilot seeds estimate an SD loosely).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from scipy import stats

from ..foundations.config import Config, project_root
from ..measures.metrics import detectable_speedup
from ..measures.speed import References, auc, reach_step

LEVELS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)  # candidate gap fractions: T50 … T90
WINDOWS = (40, 60, 80, 160)  # candidate early-window AUCs: steps [0, w]
PILOT = "registration/pilot.json"


def pilot_path() -> Path:
    return project_root() / PILOT


def load_pilot() -> dict:
    with open(pilot_path()) as f:
        return json.load(f)


def _history(curve: list) -> list[dict]:
    return [{"step": s, "val_risk": v} for s, v in curve]


def candidate_values(curve: list, refs: References, budget: int, window: int) -> dict:
    """Every candidate endpoint of one validation-risk curve: steps to each gap fraction
    (None: never, within ``budget``) and the AUC over each early window."""
    history = _history(curve)
    out = {f"T{round(100 * x)}": reach_step(history, refs.level(x), window) for x in LEVELS}
    out.update({f"AUC{w}": auc(history, refs, w) for w in WINDOWS})
    return out


def sd_upper(sd: float, n: int, level: float = 0.8) -> float:
    """One-sided ``level`` upper confidence bound of a normal SD from n values."""
    return sd * math.sqrt((n - 1) / stats.chi2.ppf(1 - level, n - 1))


def seeds_needed(sd: float, boost: float, alpha: float, power: float) -> int | None:
    """The fewest seeds whose paired t-test detects ``boost`` with ``power`` at level ``alpha``
    (None: more than 1000)."""
    return next((n for n in range(3, 1001)
                 if detectable_speedup(sd, n, alpha, power) <= boost), None)


def log_ratios(other: list[dict], ticket: list[dict], name: str, budget: int) -> list[float]:
    """Per seed log(other / ticket) of the candidate ``name``: steps (a level never reached
    counts at the budget: T_other / T_ticket is the ticket's speed-up) or areas."""
    def value(x: dict) -> float:
        return max(x[name] if x[name] is not None else budget, 1e-12)
    return [math.log(value(o) / value(t)) for o, t in zip(other, ticket)]


def judge_candidates(study: dict, arms: tuple[str, ...], boost: float, alpha: float,
                     power: float) -> list[dict]:
    """Rules 1–3 of the module doc for every candidate, on one pilot ``study`` (its
    ``references``, ``budget``, ``floors``: name → curve, and ``networks``: kind → one curve
    per seed, kinds ``arms`` beside the ticket and the dense network). ``alpha`` is the
    family's strictest Holm level."""
    refs = References(**study["references"])
    budget, window = study["budget"], study["window"]

    def values(curve: list) -> dict:
        return candidate_values(curve, refs, budget, window)

    nets = {kind: [values(c) for c in curves] for kind, curves in study["networks"].items()}
    floors = {name: values(c) for name, c in study["floors"].items()}
    rows = []
    for name in nets["ticket"][0]:
        area = name.startswith("AUC")
        if area:  # a floor's area must be worse than every dense network's
            passes = min(f[name] for f in floors.values()) > max(d[name] for d in nets["dense"])
            reached = {k: len(v) for k, v in nets.items()}
        else:
            passes = all(f[name] is None for f in floors.values())
            reached = {k: sum(x[name] is not None for x in v) for k, v in nets.items()}

        ratios = {k: log_ratios(nets[k], nets["ticket"], name, budget) for k in ("dense", *arms)}
        sds = {k: statistics.stdev(v) for k, v in ratios.items()}
        means = {k: statistics.mean(v) for k, v in ratios.items()}
        n = len(nets["ticket"])
        rows.append({"endpoint": name, "passes_floor": passes, "reached": reached, "n": n,
                     "all_reach": all(r == n for r in reached.values()),
                     "compared_reach": reached["ticket"] == reached["dense"] == n, "sd": sds,
                     "mean_log_ratio": means, "sd_upper": sd_upper(sds["dense"], n),
                     "seeds": seeds_needed(sds["dense"], boost, alpha, power),
                     "seeds_at_sd_upper": seeds_needed(sd_upper(sds["dense"], n), boost, alpha,
                                                       power)})
    return rows


def family_sizes(config: Config) -> dict[str, int]:
    """Tests in each registered family: A, ticket vs dense at both schedules and every
    sparsity; B, ticket vs every control with warmup at every sparsity."""
    r = config.registration
    return {"A": 2 * len(r.sparsities), "B": len(r.controls) * len(r.sparsities)}


def registration_lines(config: Config) -> list[str]:
    """The registered design, as notebook 03 prints it above its results."""
    r = config.registration
    sizes = family_sizes(config)
    seeds = f"{r.first_seed}–{r.first_seed + r.n_seeds - 1}"
    return [
        f"seeds: {r.n_seeds} ({seeds}), none used by the pilot, notebook 02 or a test reference",
        f"mask: θ* from θ0 at LR {r.mask_lr:g} on the seed's own data order; one-shot "
        f"{r.scope}-wise magnitude at {', '.join(f'{s:.0%}' for s in r.sparsities)}",
        f"retraining: LR {r.learning_rate:g} from θ0 on a fresh data order, with a linear "
        f"warmup from {r.mask_lr:g} over {r.warmup_steps} steps and without; every comparator on "
        "the ticket's schedule and order",
        f"endpoint: {r.endpoint} (steps until the mean of 3 evaluations closes "
        f"{r.endpoint[1:]} % of the gap R_BS → R_d; censored at the budget); R_d from the "
        "constant-rate dense networks of these seeds",
        f"family A ({sizes['A']} tests): ticket vs dense from θ0, both schedules; family B "
        f"({sizes['B']} tests): ticket vs {', '.join(r.controls)}, with warmup; Holm within "
        f"each at α = {r.alpha:g}; paired t-test on per-seed log ratios",
        "boosting ticket: family A rejects with a speed-up > 1, the ticket matches the dense "
        "network (test risk at loss.alpha, upper bound of ticket − dense ≤ "
        + (f"{r.match_margin:g}" if r.match_margin is not None else "2 × the dense SD")
        + ") and the endpoint passes its floor control",
        f"power: {r.power:.0%} to detect a {r.boost:g}× speed-up at family A's strictest Holm "
        "level, from the pilot's SD; nothing is excluded (diverged or censored runs count at the "
        "budget)"]


def compact_study(cell: dict, arms: tuple[str, ...], floors: dict, refs: dict, budget: int,
                  window: int, label: str) -> dict:
    """One cell of a pilot's results as the analysis reads it: its sparsity, references,
    budget, the floors' curves and every network's curve, by kind."""
    return {"label": label, "sparsity": cell["sparsity"], "references": refs, "budget": budget,
            "window": window,
            "floors": {name: f["curve"] for name, f in floors.items()},
            "networks": {kind: [row["curve"] for row in cell["rows"][kind]]
                         for kind in ("ticket", *arms, "dense")}}


def pooled_sd(sds: list[float]) -> float:
    """The SD of equally sized groups pooled: the root mean of their variances."""
    return math.sqrt(sum(sd**2 for sd in sds) / len(sds))


def analyse(pilot: dict, config: Config) -> dict:
    """Rules 1–3 (module doc) on the ``pilot``'s cells (``compact_study`` entries under
    ``studies``, the registered condition's flagged ``condition``): every candidate in every
    cell; then per candidate whether it is eligible, its SD of ticket vs dense pooled over the
    condition's cells at the first registered sparsity, and the seeds that SD needs (and its
    80 % upper bound, on the pooled degrees of freedom); the eligible candidate with the
    smallest pooled SD is chosen."""
    r = config.registration
    level = r.alpha / family_sizes(config)["A"]
    tables = {key: judge_candidates(study, tuple(k for k in study["networks"]
                                                 if k not in ("ticket", "dense")),
                                    r.boost, level, r.power)
              for key, study in pilot["studies"].items()}
    matching = [k for k, st in pilot["studies"].items()
                if math.isclose(st["sparsity"], r.sparsities[0])]
    pooled_over = [k for k in matching if pilot["studies"][k].get("condition")]
    pooled = []
    for i, row in enumerate(tables[pooled_over[0]]):
        name = row["endpoint"]
        eligible = (all(t[i]["passes_floor"] for t in tables.values())
                    and all(tables[k][i]["compared_reach"] for k in matching))
        sd = pooled_sd([tables[k][i]["sd"]["dense"] for k in pooled_over])
        df = sum(tables[k][i]["n"] - 1 for k in pooled_over)
        upper = sd * math.sqrt(df / stats.chi2.ppf(0.2, df))
        pooled.append({"endpoint": name, "eligible": eligible, "sd": sd, "df": df,
                       "sd_upper": upper, "seeds": seeds_needed(sd, r.boost, level, r.power),
                       "seeds_at_sd_upper": seeds_needed(upper, r.boost, level, r.power)})
    eligible = [p for p in pooled if p["eligible"]]
    chosen = min(eligible, key=lambda p: p["sd"]) if eligible else None
    return {"tables": tables, "pooled": pooled, "pooled_over": pooled_over,
            "matching_cells": matching, "holm_level": level,
            "chosen": chosen["endpoint"] if chosen else None}
