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
import warnings
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from ..foundations.config import Config, RegistrationConfig, parse_config, project_root
from ..foundations.records import Record
from ..measures.metrics import detectable_speedup
from ..measures.speed import ENDPOINTS, References, auc, final_risk, reach_step
from .search import Point

LEVELS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)  # candidate gap fractions: T50 … T90
WINDOWS = (40, 60, 80, 160)  # candidate early-window AUCs: steps [0, w]
PILOT = "registration/pilot.json"
EVIDENCE = {1: PILOT, 2: "registration/pilot2.json"}  # what each registration was chosen from


def pilot_path() -> Path:
    return project_root() / PILOT


def evidence_path(number: int) -> Path:
    return project_root() / EVIDENCE[number]


def load_evidence(number: int) -> dict:
    """The evidence registration ``number`` was chosen from (pilot or search, with its
    analysis)."""
    with open(evidence_path(number)) as f:
        return json.load(f)


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


def exact_power(sd: float, n: int, alpha: float, boost: float) -> float:
    """The power of the two-sided paired t-test at level ``alpha`` over ``n`` seeds against a
    true speed-up ``boost``, for log ratios of SD ``sd``: the exact noncentral t (NaN where
    there is no spread)."""
    if not (math.isfinite(sd) and sd > 0):
        return math.nan
    df, shift = n - 1, math.log(boost) * math.sqrt(n) / sd
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, shift) + stats.nct.cdf(-crit, df, shift))


def seeds_needed_exact(sd: float, boost: float, alpha: float, power: float) -> int | None:
    """The fewest seeds with ``exact_power`` at least ``power`` (None: more than 1000)."""
    return next((n for n in range(3, 1001) if exact_power(sd, n, alpha, boost) >= power), None)


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
    """Comparisons in each registered family: A, ticket vs dense at every schedule and
    sparsity, and vs the rival at every sparsity; B, ticket vs every control on the first
    schedule at every sparsity."""
    r = config.registration
    rival = 1 if r.rival_lr is not None else 0
    return {"A": (len(r.schedules) + rival) * len(r.sparsities),
            "B": len(r.controls) * len(r.sparsities)}


def registered_path(number: int) -> Path:
    return project_root() / f"registration/registration{number}.json"


def registered(number: int) -> dict:
    """The registered keys of registration ``number``, as committed."""
    with open(registered_path(number)) as f:
        return json.load(f)


UNREGISTERED = ("extras",)  # the registration section's keys that are not the design
# the config file each registration was run with: every other key of a run is compared with it
REGISTERED_CONFIGS = {1: "configs/registration1.yaml", 2: "configs/config.yaml"}
WHERE_NOT_HOW = ("experiments", "caching", "runtime")  # sections that say where, not what


def registered_keys(config: Config) -> dict:
    """The config's registration section without ``UNREGISTERED``: what a registered file
    holds."""
    return {k: v for k, v in config.to_dict()["registration"].items()
            if k not in UNREGISTERED}


def departures(config: Config) -> list[str]:
    """Every key where the run departs from its registration ('key: registered X, here Y'):
    the ``registration`` section against the registered file of its ``number``, every other
    key (but where results go, ``WHERE_NOT_HOW``) against the config file the registration
    ran with (``REGISTERED_CONFIGS``). Empty: this run is the registered study. (An edit of
    that config file itself is not seen: the git history is its record.)"""
    here = registered_keys(config)
    path = registered_path(here["number"])
    if not path.exists():
        return [f"number: no registered file {path.name}"]
    filed = registered(here["number"])
    out = [f"{k}: registered {filed.get(k)!r}, here {here.get(k)!r}"
           for k in sorted(set(filed) | set(here)) if filed.get(k) != here.get(k)]
    source = REGISTERED_CONFIGS.get(here["number"])
    if source is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the registered file's own warnings: seen before
            base = parse_config(source, names=None).to_dict()
        mine = config.to_dict()
        for section in sorted(set(base) - {"registration", *WHERE_NOT_HOW}):
            for key, value in _dotted(mine.get(section), section):
                registered_value = dict(_dotted(base[section], section)).get(key)
                if registered_value != value:
                    out.append(f"{key}: registered {registered_value!r}, here {value!r}")
    return out


def _dotted(d, prefix: str):
    if not isinstance(d, dict):
        yield prefix, d
        return
    for k, v in d.items():
        yield from _dotted(v, f"{prefix}.{k}")


def registration_status(config: Config, departed: list[str]) -> str:
    """What the run is: the registered study, or a departure — exploratory — and where."""
    n = config.registration.number
    if not departed:
        return (f"confirmatory: this run is registration {n} as registered "
                f"({registered_path(n).name}, every key equal)")
    shown = "; ".join(departed[:6]) + (f"; and {len(departed) - 6} more"
                                        if len(departed) > 6 else "")
    return (f"departs from registration {n}: exploratory — no verdict below is confirmatory "
            f"({shown})")


def registration_lines(config: Config) -> list[str]:
    """The registered design, as notebook 03 prints it above its results."""
    r = config.registration
    sizes = family_sizes(config)
    seeds = f"{r.first_seed}–{r.first_seed + r.n_seeds - 1}"
    schedules = {"warmup": f"a linear warmup from {r.mask_lr:g} over {r.warmup_steps} steps",
                 "constant": "the constant rate"}
    rival = (f"; the dense network at its own best schedule (constant LR {r.rival_lr:g}, its "
             "own budget: the practitioner's rival)" if r.rival_lr is not None else "")
    fixed = ("all its comparisons, a size fixed in advance (an outcome keeps its place)"
             if r.holm == "fixed" else
             "the comparisons where neither side is censored on every seed")
    horizon = ("the longer budget of the pair" if r.horizon == "longest" else "its budget")
    return [
        f"seeds: {r.n_seeds} ({seeds}), none used by a search or a pilot, nor by a test "
        "reference at this network's size",
        f"mask: θ* from θ0 at LR {r.mask_lr:g} on the seed's own data order; one-shot "
        f"magnitude ranked {r.scope} at {', '.join(f'{s:.0%}' for s in r.sparsities)}",
        f"retraining: LR {r.learning_rate:g} from θ0 on a fresh data order, with "
        + " and with ".join(schedules[x] for x in r.schedules)
        + "; the dense network from θ0 on the ticket's schedule and order" + rival,
        f"endpoint: {r.endpoint} (steps until the mean of 3 evaluations closes "
        f"{r.endpoint[1:]} % of the gap R_BS → R_d; a run that never does counts at {horizon}); "
        "R_d from the " + ("rival's" if r.rival_lr is not None else "constant-rate dense")
        + " networks of these seeds",
        f"family A ({sizes['A']} comparisons): ticket vs the dense network"
        + (" and the rival" if r.rival_lr is not None else "")
        + f"; family B ({sizes['B']}): ticket vs {', '.join(r.controls)}, {r.schedules[0]}; "
        f"Holm within each at α = {r.alpha:g} over {fixed}; paired t-test on per-seed log "
        "ratios; the sign test of which side reaches is descriptive",
        "boosting ticket (against each family-A rival): faster after Holm, matching it (test "
        "risk at loss.alpha, upper bound of ticket − rival ≤ "
        + (f"{r.match_margin:g}" if r.match_margin is not None else "2 × the dense SD")
        + ") and the endpoint passes its floor control",
        f"power: the speed-up worth detecting is {r.boost:g}× at {r.power:.0%} (family A's "
        f"strictest Holm level); registration/REGISTRATION{r.number}.md states the power the "
        f"{r.n_seeds} registered seeds reach, which may fall short of it; nothing is excluded"]


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


# Registration 2: the endpoint and the seeds from the search's curves (notebook 02)
FLOOR_CLEARANCE = 0.10  # a level must lie this share of the gap beyond every floor's closure


@dataclass(frozen=True, kw_only=True)
class Level(Record):
    """One candidate level on the search's curves (``analyse_search``'s rules)."""

    endpoint: str
    floor_clear: bool  # rule 1
    reached: dict[str, int]  # seeds on which each kind reaches it
    eligible: bool  # rules 1–2
    sd_best: float  # the log ratio ticket vs best dense over seeds: SD and mean
    mean_best: float
    sd_dense: float  # ... vs the dense network on the ticket's schedule
    mean_dense: float


@dataclass(frozen=True, kw_only=True)
class SearchChoice(Record):
    """Registration 2's design from the search (``analyse_search``): the levels, the chosen
    one (None: none eligible) with its conservative SD and what the registered seeds give,
    and the match margin."""

    n: int  # search seeds
    holm_level: float  # family A's strictest
    floor_closes: dict[str, float]  # gap fraction each floor control closes
    rows: list[Level]
    chosen: str | None
    k: int  # eligible levels
    sd: float | None
    sd_upper: float | None
    upper_confidence: float | None
    seeds_for_boost: int | None  # at sd_upper: central-t approximation ...
    seeds_for_boost_exact: int | None  # ... and the exact noncentral t
    power_at_n: float | None  # exact power for ``boost`` with the registered seeds
    detectable_at_n: float | None  # the speed-up they detect with ``power``
    best_dense_test_sd: float
    margin: float  # twice it


def registered_design(registration: dict) -> RegistrationConfig:
    """A results file's registration section, typed (keys it predates take their defaults)."""
    return RegistrationConfig(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in registration.items()})


def search_pilot(search: dict, survivor: str, final_evals: int) -> dict:
    """The search's evidence for one surviving cell (``search_results.json``'s typed form as
    JSON): per kind ("ticket", "dense" on its schedule, "best_dense": the dense search's
    winner) one curve, budget and test risk per seed, on the seeds both ran on; R_d = the
    median final validation risk of the best dense networks (the confirmation's yardstick),
    R_BS = the search's floor; the floor controls' curves on the ticket's schedule."""
    scored = next(t for t in search["tickets"] if Point(**t["point"]).label() == survivor)
    best = next(d for d in search["dense"]
                if Point(**d["point"]).label() == search["best_dense"])
    seeds = [s for s in scored["seeds"] if s in best["seeds"]]

    def runs(rows: list[dict]) -> list[dict]:
        by_seed = {row["seed"]: row for row in rows}
        return [{"curve": by_seed[s]["curve"], "budget": by_seed[s]["budget"],
                 "test_risk": by_seed[s]["test_risk"]} for s in seeds]

    networks = {"ticket": runs(scored["rows"]["ticket"]), "dense": runs(scored["rows"]["dense"]),
                "best_dense": runs(best["rows"]["dense"])}
    finals = [final_risk(_history(n["curve"]), final_evals) for n in networks["best_dense"]]
    floor_risk = search["references"]["1"]["floor"]
    schedule = Point(**scored["point"]).schedule()
    return {"survivor": survivor, "best_dense": search["best_dense"], "seeds": seeds,
            "references": {"dense": statistics.median(finals), "floor": floor_risk,
                           "floor_name": search["references"]["1"]["floor_name"]},
            "floors": {name: c["curve"] for name, c in search["floors"][schedule].items()},
            "networks": networks}


def _log_ratios(steps: dict, budgets: dict, kind: str) -> list[float]:
    """Per seed log(T_kind / T_ticket); a run that never reaches counts at the longer budget
    of the pair."""
    out = []
    for t, o, bt, bo in zip(steps["ticket"], steps[kind], budgets["ticket"], budgets[kind]):
        horizon = max(bt, bo)
        out.append(math.log(max(o if o is not None else horizon, 1)
                            / max(t if t is not None else horizon, 1)))
    return out


def analyse_search(pilot: dict, config: Config, window: int) -> SearchChoice:
    """Registration 2's rules on the search's curves of the survivor (``search_pilot``), for
    every level of ``speed`` (first crossing):

    1. the level lies at least ``FLOOR_CLEARANCE`` of the gap beyond what every floor control
       closes (a re-estimated R_d must not let a classical hedge reach it);
    2. the ticket and the dense network at its best schedule reach it on every search seed
       (the dense network on the ticket's schedule may fail: an outcome);
    3. among those, the smallest SD of the per-seed log ratio ticket vs best dense (a run
       that never reaches counts at the longer budget of the pair).

    The conservative SD is the chosen SD's one-sided upper confidence bound at 1 − 0.2 / K
    (K: the levels passing rules 1–2, Bonferroni over the choice of the smallest); the
    seeds ``power`` needs for ``boost`` at it, and the speed-up ``n_seeds`` detect at it, at
    family A's strictest Holm level. The match margin: twice the best dense networks' SD of
    test risk over the search's seeds."""
    r = config.registration
    ref = pilot["references"]
    refs = References(ref["dense"], ref["floor"], math.nan, math.nan, len(pilot["seeds"]),
                      ref["floor_name"])
    gap = refs.floor - refs.dense
    closes = {name: (refs.floor - min(v for _, v in curve)) / gap
              for name, curve in pilot["floors"].items()}
    level = r.alpha / family_sizes(config)["A"]
    n = len(pilot["seeds"])
    rows: list[Level] = []
    for name, frac in ENDPOINTS.items():
        steps = {kind: [reach_step(_history(x["curve"]), refs.level(frac), window)
                        for x in runs] for kind, runs in pilot["networks"].items()}
        budgets = {kind: [x["budget"] for x in runs] for kind, runs in pilot["networks"].items()}
        r_best, r_dense = (_log_ratios(steps, budgets, k) for k in ("best_dense", "dense"))
        reached = {k: sum(x is not None for x in v) for k, v in steps.items()}
        clear = all(frac >= c + FLOOR_CLEARANCE for c in closes.values())
        rows.append(Level(endpoint=name, floor_clear=clear, reached=reached,
                          eligible=clear and reached["ticket"] == n == reached["best_dense"],
                          sd_best=statistics.stdev(r_best), mean_best=statistics.mean(r_best),
                          sd_dense=statistics.stdev(r_dense),
                          mean_dense=statistics.mean(r_dense)))
    eligible = [row for row in rows if row.eligible]
    chosen = min(eligible, key=lambda row: row.sd_best) if eligible else None
    tests = [x["test_risk"] for x in pilot["networks"]["best_dense"]]
    power: dict = dict.fromkeys(("sd", "sd_upper", "upper_confidence", "seeds_for_boost",
                                 "seeds_for_boost_exact", "power_at_n", "detectable_at_n"))
    if chosen:
        conf = 1 - 0.2 / len(eligible)
        upper = sd_upper(chosen.sd_best, n, conf)
        power = {"sd": chosen.sd_best, "sd_upper": upper, "upper_confidence": conf,
                 "seeds_for_boost": seeds_needed(upper, r.boost, level, r.power),
                 "seeds_for_boost_exact": seeds_needed_exact(upper, r.boost, level, r.power),
                 "power_at_n": exact_power(upper, r.n_seeds, level, r.boost),
                 "detectable_at_n": detectable_speedup(upper, r.n_seeds, level, r.power)}
    return SearchChoice(n=n, holm_level=level, floor_closes=closes, rows=rows,
                        chosen=chosen.endpoint if chosen else None, k=len(eligible),
                        best_dense_test_sd=statistics.stdev(tests),
                        margin=2 * statistics.stdev(tests), **power)
