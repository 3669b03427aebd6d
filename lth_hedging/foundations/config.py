"""Configuration: YAML → validated frozen dataclasses, dotted-key overrides, stable hashes.

This is the schema, at the bottom of the package: the sections, their defaults, and the
checks that need nothing but the values (types, ranges, keys that must agree). The names a
key picks from a registry (a scheme, an instrument, a loss, an endpoint, a comparator…) are
checked by ``lth_hedging.configure.load_config``, which sits above the registries: no module
here imports a higher layer.

A config file lists only what differs from the defaults below (``configs/smoke.yaml`` holds
a handful of keys). Every bad value raises one ``ValueError`` that names the key, the value
and what is allowed. A new option must default to "no effect" so that the hashes naming
earlier results (``experiments/<stage>/<hash>/``) stay valid; ``tests/test_config.py`` pins them.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class HestonParams:
    S0: float = 100.0  # initial spot
    K: float = 100.0  # strike of the hedged call
    r: float = 0.02  # risk-free rate (money is discounted to time 0)
    v0: float = 0.0175  # initial variance
    kappa: float = 1.5768  # mean-reversion speed
    theta: float = 0.0398  # long-run variance
    xi: float = 0.5751  # volatility of variance
    rho: float = -0.5711  # spot/variance correlation


@dataclass(frozen=True)
class DataConfig:
    heston: HestonParams = field(default_factory=HestonParams)
    T: float = 1 / 12  # maturity in years
    n_steps: int = 30  # hedging dates (daily over a month)
    n_paths: dict = field(default_factory=lambda: {"train": 20000, "val": 5000, "test": 20000})
    seeds: dict = field(default_factory=lambda: {"train": 1, "val": 2, "test": 3})
    scheme: str = "qe"  # Andersen QE ("qe") or full-truncation Euler ("euler")


@dataclass(frozen=True)
class HedgingConfig:
    cost: float = 0.001  # proportional transaction cost of the study (10 bps)
    reference_costs: tuple = (0.0,)  # further cost levels notebook 01 trains and tabulates
    # what the network trades: the stock alone, or the stock and a variance swap (with both
    # the Heston market is complete); a cost level is charged on every instrument's trades
    instruments: tuple = ("stock",)


@dataclass(frozen=True)
class ModelConfig:
    hidden: tuple = (96, 96, 64)  # widths of the hidden layers
    activation: str = "relu"
    init_seed: int = 0  # seed of θ0


@dataclass(frozen=True)
class LossConfig:
    type: str = "cvar"  # "cvar" (OCE form) or "entropic"
    alpha: float = 0.05  # CVaR tail probability
    risk_aversion: float = 1.0  # entropic risk aversion λ
    # how the CVaR's OCE level y is set while training: "batch" = at its exact optimum on
    # each minibatch (the batch's empirical α-quantile: the loss is the batch's empirical
    # CVaR); "learned" = an Adam parameter from the Black–Scholes price (it climbs to the
    # VaR at about the learning rate per step, so the loss long reflects y, not the hedge)
    oce_level: str = "batch"


@dataclass(frozen=True)
class TrainingConfig:
    learning_rate: float = 5e-3
    batch_size: int = 1024
    # the step budget: this many epochs at ``learning_rate``; a rate η trains
    # ceil(epochs · learning_rate / η) epochs (Adam moves a weight by about η a step, so every
    # rate gets the same distance to travel). Runs train their whole budget unless patience
    # is set; the reported weights are those of the best validation risk.
    epochs: int = 15
    patience: int | None = None  # evaluations without improvement before stopping (None: off)
    min_delta: float = 1e-4  # relative improvement that counts (of |best validation risk|)
    weight_decay: float = 0.0
    shuffle_seed: int = 0  # with a network's seed, draws its data order


@dataclass(frozen=True)
class PruningConfig:
    sparsities: tuple = (0.5, 0.8, 0.9, 0.95, 0.98)
    target_sparsity: float = 0.8  # notebook 03's one-seed sections (hedge, weights, IMP)
    scope: str = "global"  # magnitude ranking: "global" or per "layer"
    output_rate: str = "half"  # the output layer is pruned at "half" / the "same" / "none" rate
    imp_rounds: int = 3  # iterative magnitude pruning: rounds to reach a sparsity


@dataclass(frozen=True)
class PilotConfig:
    """The pilot: the controlled study over seeds on the grid's diagonal (learning_rates ×
    sparsities × comparators × widths; ``tools/register.py``) whose curves chose the
    registered design; its seeds are also notebook 02's, and it sizes notebook 03's
    exploratory sections (one-shot vs iterative pruning, the replay effect)."""

    n_seeds: int = 8  # seeds model.init_seed, +1, …: each draws θ0 and the data order
    learning_rates: tuple = (1e-2,)  # mask LR = retraining LR (the grid's diagonal)
    sparsities: tuple = (0.8, 0.98)
    comparators: tuple = ("dense", "reinit", "rescaled_mask")  # what the ticket is paired with
    primary: str = "T90"  # the primary endpoint, fixed before results are looked at
    widths: tuple = (1.0,)  # capacity arm: multipliers of model.hidden (1.0: the network)
    imp_seeds: int = 1  # the first this many seeds also get IMP (target sparsity)
    rewind_epochs: tuple = (0, 1)  # retrain from θ0 (0) / from the dense weights after epoch k
    replay_seeds: int = 8  # the registered seeds whose ticket also trains on θ*'s data order


@dataclass(frozen=True)
class RegistrationConfig:
    """Notebook 03's confirmatory study, as registered (``registration/REGISTRATION<number>.md``
    and its keys in ``registration/registration<number>.json``) before any of its networks
    trained: the mask from θ* trained at ``mask_lr``, the ticket retrained from θ0 at
    ``learning_rate`` on a fresh data order under each of ``schedules`` (a linear warmup from
    ``mask_lr``, and the constant rate), beside the dense network from θ0 on each schedule and,
    where ``rival_lr`` is set, the dense network at its own best schedule (constant at that
    rate: the practitioner's rival). Notebook 03 compares these keys with the registered file:
    any difference makes every output exploratory. The defaults are registration 2's;
    ``configs/registration1.yaml`` holds the first study's."""

    number: int = 2  # which registration this is: registration/registration<number>.json
    first_seed: int = 2000  # seeds first_seed, +1, …: none used by a search, pilot or test
    n_seeds: int = 16
    mask_lr: float = 5e-3  # trains θ* (on the seed's own data order), whose weights make the mask
    learning_rate: float = 2e-2  # retrains the ticket and the comparators (fresh data order)
    warmup_steps: int = 20  # the warmup schedule: linear from mask_lr to learning_rate
    schedules: tuple = ("warmup",)  # of "warmup", "constant": the ticket's schedules
    rival_lr: float | None = 1e-2  # the dense network at its best schedule (constant); null: none
    sparsities: tuple = (0.5,)  # one-shot magnitude masks ranked as scope says
    scope: str = "layer_spare_input"
    controls: tuple = ("reinit", "init_magnitude", "permuted")  # family B, first schedule
    endpoint: str = "T75"  # primary: steps to close 75 % of the gap R_BS → R_d
    alpha: float = 0.05  # family-wise error rate of each family (Holm)
    boost: float = 1.25  # the smallest speed-up worth detecting
    power: float = 0.8
    match_margin: float | None = 0.0088  # test risk, money (null: 2 × the dense networks' SD)
    holm: str = "fixed"  # a family's size: "fixed" (its members) or "testable" (registration 1:
    # those where neither side is censored on every seed)
    horizon: str = "longest"  # a run that never reaches the level counts at: "longest", the
    # longer budget of the pair; "own", its own budget (registration 1: budgets equal)
    extras: tuple = ("crossing",)  # notebook 03's exploratory sections (not a registered key)


@dataclass(frozen=True)
class SearchConfig:
    """Notebook 02's search over seeds (exploratory): where a boosting ticket could live. Its
    rule is fixed here before it runs (successive halving): a seeded sample of ``cells``
    cells of the space below, each on the first ``seeds[0]`` seeds; the best ``keep`` share
    of them by score on the first ``seeds[1]``; and so on. The score is the ticket's mean log
    speed-up over the dense network from θ0 on the ticket's own schedule at ``endpoint``
    (first crossing; censored at the budget), among cells whose ticket matches it (mean
    ticket − dense test risk within ``match_margin``); the dense network's own
    schedules are searched the same way against the dense network at training.learning_rate,
    constant (the practitioner's rival). Its seeds are its own: ``first_seed``, +1, …"""

    first_seed: int = 500  # none of the pilot's (model.init_seed, …), the registered or tests'
    # a construction is "<method>:<ranking>": one-shot or IMP (``imp_rate`` a round, rewound
    # to θ0), ranked as ``pruning.SCOPES`` says
    constructions: tuple = ("one-shot:global", "one-shot:layer", "one-shot:layer_spare_input",
                            "one-shot:layer_input_quarter", "imp:global")
    mask_lrs: tuple = (0.0025, 0.005, 0.01)  # trains θ*, whose weights make the mask
    learning_rates: tuple = (0.005, 0.01, 0.02)  # retrains the ticket and its dense rival
    warmups: tuple = ("none", "zero", "mask")  # linear over warmup_steps, from 0 or θ*'s rate
    warmup_steps: int = 20
    decays: tuple = ("constant", "cosine")  # the rate after the warmup (``train.DECAYS``)
    sparsities: tuple = (0.5, 0.8, 0.9)
    widths: tuple = (1.0, 2.0)  # of model.hidden: the search at the first, survivors at all
    # (on the seeds of the round before the last)
    imp_rate: float = 0.2  # IMP: the share of the remaining weights pruned each round
    cells: int = 16  # the first round's sample of the space (uniform, without replacement)
    sample_seed: int = 0
    seeds: tuple = (2, 4, 8)  # seeds per round, cumulative
    keep: float = 0.25  # the share of a round's cells promoted to the next
    endpoint: str = "T75"  # the score's level (``speed.ENDPOINTS``)
    settle_hold: int = 40  # the settling step: the level held this many optimiser steps
    # "matches" in the score: ticket − dense test risk within it (money; null: twice the
    # reference dense networks' SD); the rule fixed it as registration 1's margin
    match_margin: float | None = 0.0128


@dataclass(frozen=True)
class MetricsConfig:
    n_bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    # quality over training: the validation risk (y-free) every eval_every optimiser steps up
    # to step eval_late_from, every eval_every_late steps after it, and at the budget
    eval_every: int = 5
    eval_every_late: int = 20
    eval_late_from: int = 400
    window: int = 3  # a curve reaches a level when the mean of this many evaluations is below
    final_evals: int = 10  # a network's final risk: the mean of its last this many evaluations
    # "matches the dense network": risk within this many units of money of the dense
    # reference R_d (none: twice the dense networks' seed-to-seed standard deviation)
    match_margin: float | None = None


@dataclass(frozen=True)
class RuntimeConfig:
    num_threads: int = 2  # fixed so that results are reproducible bit for bit
    progress: bool = True  # tqdm bars (turned off under make / CI)
    # networks trained together in one stack, refilled as they finish (memory grows with
    # it); none: chosen for the device (STACK_SIZES)
    ensemble_size: int | None = None
    device: str = "cpu"  # cpu | cuda | auto (cuda where there is one)
    tf32: bool = False  # on CUDA: TF32 matmuls (faster, fewer mantissa bits)
    # float32 | bfloat16: on the CPU, float32 matmuls computed by oneDNN in bfloat16 with
    # float32 accumulation (AMX / AVX512-BF16; opt-in: it changes results, not only rounding)
    precision: str = "float32"
    executor: str = "local"  # local | ray (each stack a Ray task)
    ray_address: str | None = None  # a running Ray cluster; none: Ray starts locally


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    hedging: HedgingConfig = field(default_factory=HedgingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    pilot: PilotConfig = field(default_factory=PilotConfig)
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    caching: dict = field(default_factory=lambda: {"directory": "cache"})
    # banner: a line shown on every output of a run (configs/smoke.yaml: smoke, not results)
    experiments: dict = field(default_factory=lambda: {"directory": "experiments",
                                                       "banner": None})

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


SPLITS = ("train", "val", "test")
MAX_THREADS = 256  # torch threads per process: far beyond any CPU socket; 10^4 hangs, 10^5 crashes
TAIL_PATHS = 20  # the fewest validation or test paths a CVaR may average over


class YamlLoader(yaml.SafeLoader):
    """YAML as YAML 1.2 reads numbers: ``1e-3`` is a float (YAML 1.1 reads it as a string)."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:\d[\d_]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?
                  |\.(?:inf|Inf|INF))|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse_config(path: str | Path | None = None, overrides: dict | None = None,
                 names: Callable[[Config], None] | None = None) -> Config:
    """Load a YAML config, apply ``{"dotted.key": value}`` overrides, check the values
    against the schema (``validate``). ``names`` (``configure.check_names``, from the layer
    above the registries) checks the names with the other ranges, before any rule across
    keys; ``configure.load_config`` is the loader a user calls.

    A relative ``path`` is taken from the project root (the same from any working directory);
    ``None`` gives the defaults, which ``configs/config.yaml`` spells out.

    >>> parse_config(None, {"training.epochs": 5}).training.epochs
    5
    """
    raw = {}
    if path is not None:
        with open(resolve(path)) as f:
            raw = yaml.load(f, Loader=YamlLoader) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"config file {path}: expected a mapping at top level")
    base = Config().to_dict()
    _merge(base, raw, prefix="")
    if overrides is not None and not isinstance(overrides, dict):
        raise ValueError(f"overrides = {overrides!r} is invalid: allowed a mapping of dotted "
                         f"config keys to values, e.g. {{'training.epochs': 5}}")
    for key, value in (overrides or {}).items():
        _merge(base, _nest(key, value), prefix="")
    config = _build(base)
    validate(config, names)
    return config


def _plain(obj: Any) -> Any:
    """Tuples → lists, recursively, so that dicts compare and hash like their YAML."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# sections once named after a notebook, renamed after the concept they configure
RENAMED_SECTIONS = {"characterization": "pilot"}
# keys of notebook 02's one-seed grid, which the search over seeds replaced
REMOVED_KEYS = {"pruning.pruning_lr_candidates": "search.learning_rates",
                "pruning.mask_lr_candidates": "search.mask_lrs"}


def _merge(base: dict, new: dict, prefix: str) -> None:
    """Merge ``new`` into ``base`` in place; every key must already exist in ``base``."""
    for key, value in new.items():
        dotted = f"{prefix}{key}"
        if not prefix and key in RENAMED_SECTIONS:
            raise ValueError(f"config section '{key}' is now '{RENAMED_SECTIONS[key]}' "
                             f"(the same keys): rename '{key}' to '{RENAMED_SECTIONS[key]}'")
        if dotted in REMOVED_KEYS:
            raise ValueError(f"config key '{dotted}' is gone: notebook 02's one-seed grid is "
                             f"now a search over seeds; its rates are '{REMOVED_KEYS[dotted]}'")
        if key not in base:
            allowed = ", ".join(sorted(base))
            raise ValueError(f"unknown config key '{dotted}' (allowed here: {allowed})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"config key '{dotted}' must be a mapping, got {value!r}")
            _merge(base[key], value, prefix=f"{dotted}.")
        elif isinstance(value, dict):
            inner = next(iter(value), "")
            raise ValueError(f"unknown config key '{dotted}.{inner}' ('{dotted}' is a value)")
        else:
            base[key] = copy.deepcopy(value)


def _nest(dotted: str, value: Any) -> dict:
    """``"a.b.c", v`` → ``{"a": {"b": {"c": v}}}``."""
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def _build(d: dict) -> Config:
    data = dict(d["data"])
    data["heston"] = HestonParams(**_numbers(d["data"]["heston"], "data.heston"))
    return Config(
        data=DataConfig(**data),
        hedging=HedgingConfig(**_tuples(d["hedging"])),
        model=ModelConfig(**_tuples(d["model"])),
        loss=LossConfig(**d["loss"]),
        training=TrainingConfig(**d["training"]),
        pruning=PruningConfig(**_tuples(d["pruning"])),
        pilot=PilotConfig(**_tuples(d["pilot"])),
        registration=RegistrationConfig(**_tuples(d["registration"])),
        search=SearchConfig(**_tuples(d["search"])),
        metrics=MetricsConfig(**d["metrics"]),
        runtime=RuntimeConfig(**d["runtime"]),
        caching=dict(d["caching"]),
        experiments=dict(d["experiments"]),
    )


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _numbers(d: dict, prefix: str) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"config key '{prefix}.{k}' must be a number, got {v!r}")
        out[k] = float(v)
    return out


# ----------------------------------------------------------------------------- validation


def check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ValueError(f"config key '{key}' = {value!r} is invalid: allowed {allowed}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


SEED_LIMIT = 2**63  # torch.Generator.manual_seed takes seeds below it


def _seed(value: Any) -> bool:
    return _integer(value) and 0 <= value < SEED_LIMIT


def validate(config: Config, names: Callable[[Config], None] | None = None) -> None:
    """Raise ``ValueError`` naming the first bad key; warn when Feller's condition fails.

    Values only: the names a key picks from a registry are ``configure.check_names``'s."""
    for key in ("hedging.reference_costs", "hedging.instruments", "model.hidden",
                "pruning.sparsities",
                "pilot.sparsities", "pilot.rewind_epochs", "pilot.learning_rates",
                "pilot.comparators", "pilot.widths", "registration.sparsities",
                "registration.controls", "registration.schedules",
                "registration.extras", *(f"search.{k}" for k in SEARCH_LISTS)):
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        check(isinstance(value, tuple), key, value, "a list")
    for section in (_heston, _data, _hedging, _model, _loss, _training, _pruning, _pilot,
                    _registration, _search, _metrics, _runtime, _folders):
        section(config)  # every key's own range first (values here, ``names`` from above)...
    if names is not None:
        names(config)
    _across_keys(config)  # ...then the rules between keys
    h = config.data.heston
    if 2 * h.kappa * h.theta < h.xi**2:
        warnings.warn(
            f"the Feller condition fails (2κθ = {2 * h.kappa * h.theta:.4f} < "
            f"ξ² = {h.xi**2:.4f}): the variance reaches 0 (QE handles it)",
            stacklevel=2,
        )


def one_of(value: Any, key: str, names) -> None:
    check(value in names, key, value, f"one of {tuple(names)}")


def _heston(config: Config) -> None:
    h = config.data.heston
    for key in ("S0", "K", "r", "v0", "kappa", "theta", "xi", "rho"):
        check(_number(getattr(h, key)), f"data.heston.{key}", getattr(h, key), "a finite number")
    for key in ("S0", "K"):
        check(getattr(h, key) > 0, f"data.heston.{key}", getattr(h, key), "> 0")
    for key in ("v0", "kappa", "theta", "xi"):
        value = getattr(h, key)
        check(value >= 0 if key == "v0" else value > 0, f"data.heston.{key}", value,
              ">= 0" if key == "v0" else "> 0")
    check(-1 < h.rho < 1, "data.heston.rho", h.rho, "-1 < rho < 1")
    check(abs(h.r) < 1, "data.heston.r", h.r, "|r| < 1 (a yearly rate)")


def _data(config: Config) -> None:
    d = config.data
    check(_number(d.T) and d.T > 0, "data.T", d.T, "a maturity in years > 0")
    check(_integer(d.n_steps) and d.n_steps >= 1, "data.n_steps", d.n_steps, "an integer >= 1")
    for name, table in (("n_paths", d.n_paths), ("seeds", d.seeds)):
        check(isinstance(table, dict) and set(table) == set(SPLITS), f"data.{name}", table,
              f"a mapping with exactly the keys {SPLITS}")
        for split, value in table.items():
            if name == "n_paths":
                check(_integer(value) and value >= 2, f"data.n_paths.{split}", value,
                      "an integer >= 2")
            else:
                check(_seed(value), f"data.seeds.{split}", value, "an integer in [0, 2^63)")
    check(len(set(d.seeds.values())) == 3, "data.seeds", d.seeds,
          "three different seeds (splits must not share paths)")


def _hedging(config: Config) -> None:
    c = config.hedging
    check(_number(c.cost) and 0 <= c.cost < 1, "hedging.cost", c.cost, "0 <= cost < 1")
    for cost in c.reference_costs:
        check(_number(cost) and 0 <= cost < 1, "hedging.reference_costs", cost,
              "costs in [0, 1)")


def _model(config: Config) -> None:
    m = config.model
    check(len(m.hidden) >= 1 and all(_integer(w) and w >= 1 for w in m.hidden),
          "model.hidden", list(m.hidden), "a non-empty list of positive integers")
    check(_seed(m.init_seed), "model.init_seed", m.init_seed, "an integer in [0, 2^63)")


def _loss(config: Config) -> None:
    lo = config.loss
    check(_number(lo.alpha) and 0 < lo.alpha < 1, "loss.alpha", lo.alpha, "0 < alpha < 1")
    check(_number(lo.risk_aversion) and lo.risk_aversion > 0, "loss.risk_aversion",
          lo.risk_aversion, "> 0")


def _training(config: Config) -> None:
    t = config.training
    check(_number(t.learning_rate) and 0 < t.learning_rate < 1, "training.learning_rate",
          t.learning_rate, "0 < learning_rate < 1")
    check(_integer(t.batch_size) and t.batch_size >= 1, "training.batch_size", t.batch_size,
          "an integer >= 1")
    check(_integer(t.epochs) and t.epochs >= 1, "training.epochs", t.epochs, "an integer >= 1")
    check(t.patience is None or (_integer(t.patience) and t.patience >= 1),
          "training.patience", t.patience, "null (off) or an integer >= 1 (evaluations)")
    check(_number(t.min_delta) and 0 <= t.min_delta < 1, "training.min_delta", t.min_delta,
          "0 <= min_delta < 1")
    check(_number(t.weight_decay) and t.weight_decay >= 0, "training.weight_decay",
          t.weight_decay, ">= 0")
    check(_seed(t.shuffle_seed), "training.shuffle_seed", t.shuffle_seed,
          "an integer in [0, 2^63)")


def _rates(values: tuple, key: str) -> None:
    for lr in values:
        check(_number(lr) and 0 < lr < 1, key, lr, "learning rates in (0, 1)")


def _pruning(config: Config) -> None:
    p = config.pruning
    for s in p.sparsities:
        check(_number(s) and 0 <= s < 1, "pruning.sparsities", s, "sparsities in [0, 1)")
    check(_number(p.target_sparsity) and 0 < p.target_sparsity < 1, "pruning.target_sparsity",
          p.target_sparsity, "a sparsity in (0, 1)")
    check(len(p.sparsities) >= 1, "pruning.sparsities", list(p.sparsities), "a non-empty list")
    check(_integer(p.imp_rounds) and p.imp_rounds >= 1, "pruning.imp_rounds", p.imp_rounds,
          "an integer >= 1")


def _sparsities(values: tuple, key: str) -> None:
    for s in values:
        check(_number(s) and 0 < s < 1, key, s, "sparsities in (0, 1)")


def _distinct(values: tuple, key: str) -> None:
    check(len(values) >= 1 and len(set(values)) == len(values), key, list(values),
          "a non-empty list without repeats")


def _pilot(config: Config) -> None:
    ch = config.pilot
    check(_integer(ch.n_seeds) and ch.n_seeds >= 3, "pilot.n_seeds", ch.n_seeds,
          "an integer >= 3 (intervals over seeds)")
    check(_integer(ch.imp_seeds) and ch.imp_seeds >= 0, "pilot.imp_seeds", ch.imp_seeds,
          "an integer >= 0")
    check(_integer(ch.replay_seeds) and ch.replay_seeds >= 2, "pilot.replay_seeds",
          ch.replay_seeds, "an integer >= 2 (pairs over seeds)")
    _sparsities(ch.sparsities, "pilot.sparsities")
    _rates(ch.learning_rates, "pilot.learning_rates")
    for w in ch.widths:
        check(_number(w) and 0 < w <= 16, "pilot.widths", w,
              "width multipliers in (0, 16]")
    for key in ("learning_rates", "sparsities", "comparators", "widths"):
        _distinct(getattr(ch, key), f"pilot.{key}")
    check(len(ch.rewind_epochs) >= 1, "pilot.rewind_epochs", list(ch.rewind_epochs),
          "a non-empty list")
    for k in ch.rewind_epochs:
        check(_integer(k) and k >= 0, "pilot.rewind_epochs", k, "integers >= 0")


SEARCH_LISTS = ("constructions", "mask_lrs", "learning_rates", "warmups", "decays",
                "sparsities", "widths", "seeds")
SEARCH_WARMUPS = ("none", "zero", "mask")  # no warmup; linear from 0; from θ*'s rate
SEARCH_METHODS = ("one-shot", "imp")


def _search(config: Config) -> None:
    s = config.search
    check(_seed(s.first_seed), "search.first_seed", s.first_seed, "an integer in [0, 2^63)")
    check(_seed(s.sample_seed), "search.sample_seed", s.sample_seed, "an integer in [0, 2^63)")
    for key in SEARCH_LISTS:
        value = getattr(s, key)
        check(len(value) >= 1, f"search.{key}", list(value), "a non-empty list")
        _distinct(value, f"search.{key}")
    for c in s.constructions:
        check(isinstance(c, str) and c.count(":") == 1 and c.split(":")[0] in SEARCH_METHODS,
              "search.constructions", c, f"'<method>:<ranking>', method one of {SEARCH_METHODS}")
    _rates(s.mask_lrs, "search.mask_lrs")
    _rates(s.learning_rates, "search.learning_rates")
    for w in s.warmups:
        one_of(w, "search.warmups", SEARCH_WARMUPS)
    check(_integer(s.warmup_steps) and s.warmup_steps >= 1, "search.warmup_steps",
          s.warmup_steps, "an integer >= 1")
    _sparsities(s.sparsities, "search.sparsities")
    for w in s.widths:
        check(_number(w) and 0 < w <= 16, "search.widths", w, "width multipliers in (0, 16]")
    check(_number(s.imp_rate) and 0 < s.imp_rate < 1, "search.imp_rate", s.imp_rate, "in (0, 1)")
    check(_integer(s.cells) and s.cells >= 1, "search.cells", s.cells, "an integer >= 1")
    check(all(_integer(n) and n >= 2 for n in s.seeds)
          and all(a < b for a, b in zip(s.seeds, s.seeds[1:])), "search.seeds", list(s.seeds),
          "increasing integers >= 2 (a spread over seeds in every round)")
    check(_number(s.keep) and 0 < s.keep < 1, "search.keep", s.keep, "in (0, 1)")
    check(s.match_margin is None or (_number(s.match_margin) and s.match_margin > 0),
          "search.match_margin", s.match_margin, "null (from the seeds) or > 0 (money)")
    check(_integer(s.settle_hold) and s.settle_hold >= 1, "search.settle_hold", s.settle_hold,
          "an integer >= 1 (optimiser steps)")


def _registration(config: Config) -> None:
    r = config.registration
    check(_seed(r.first_seed), "registration.first_seed", r.first_seed,
          "an integer in [0, 2^63)")
    check(_integer(r.n_seeds) and r.n_seeds >= 3, "registration.n_seeds", r.n_seeds,
          "an integer >= 3 (intervals over seeds)")
    _rates((r.mask_lr,), "registration.mask_lr")
    _rates((r.learning_rate,), "registration.learning_rate")
    check(_integer(r.number) and r.number >= 1, "registration.number", r.number,
          "an integer >= 1 (registration/registration<number>.json)")
    check(_integer(r.warmup_steps) and r.warmup_steps >= 1, "registration.warmup_steps",
          r.warmup_steps, "an integer >= 1")
    check(len(r.schedules) >= 1 and len(set(r.schedules)) == len(r.schedules)
          and set(r.schedules) <= {"warmup", "constant"}, "registration.schedules",
          list(r.schedules), "distinct names of 'warmup', 'constant'")
    check(r.rival_lr is None or (_number(r.rival_lr) and r.rival_lr > 0),
          "registration.rival_lr", r.rival_lr, "null (no rival) or a learning rate > 0")
    check("constant" in r.schedules or r.rival_lr is not None, "registration.schedules",
          list(r.schedules), "'constant' where rival_lr is null: R_d comes from the "
          "constant-rate dense networks, or else from the rival")
    check(r.holm in ("fixed", "testable"), "registration.holm", r.holm,
          "'fixed' or 'testable'")
    check(r.horizon in ("longest", "own"), "registration.horizon", r.horizon,
          "'longest' or 'own'")
    check(len(set(r.extras)) == len(r.extras)
          and set(r.extras) <= {"crossing", "replay", "scope", "steadiness"},
          "registration.extras", list(r.extras),
          "distinct names of 'crossing', 'replay', 'scope', 'steadiness'")
    _sparsities(r.sparsities, "registration.sparsities")
    _distinct(r.sparsities, "registration.sparsities")
    check(len(set(r.controls)) == len(r.controls), "registration.controls", list(r.controls),
          "a list without repeats")
    for key in ("alpha", "power"):
        value = getattr(r, key)
        check(_number(value) and 0 < value < 1, f"registration.{key}", value, "in (0, 1)")
    check(_number(r.boost) and r.boost > 1, "registration.boost", r.boost, "a speed-up > 1")
    check(r.match_margin is None or (_number(r.match_margin) and r.match_margin > 0),
          "registration.match_margin", r.match_margin, "null (from the seeds) or > 0 (money)")


def _across_keys(config: Config) -> None:
    """Rules between keys, once each key is in its own range: the error names the key that
    the rule constrains, with the other key's value."""
    need = math.ceil(TAIL_PATHS / config.loss.alpha)
    for split in ("val", "test"):  # a CVaR over a handful of paths ranks nothing
        n = config.data.n_paths[split]
        check(n >= need, f"data.n_paths.{split}", n,
              f"at least {need} paths: {TAIL_PATHS} in the CVaR's tail at loss.alpha = "
              f"{config.loss.alpha:g}")
    t, ch, n_train = config.training, config.pilot, config.data.n_paths["train"]
    check(t.batch_size <= n_train, "training.batch_size", t.batch_size,
          f"an integer in [1, data.n_paths.train = {n_train}]")
    check(ch.replay_seeds <= config.registration.n_seeds, "pilot.replay_seeds",
          ch.replay_seeds, f"an integer in [2, registration.n_seeds = "
          f"{config.registration.n_seeds}] (pairs over seeds)")
    for k in ch.rewind_epochs:
        check(k < t.epochs, "pilot.rewind_epochs", k,
              f"integers in [0, training.epochs = {t.epochs})")
    check(ch.imp_seeds <= ch.n_seeds, "pilot.imp_seeds", ch.imp_seeds,
          f"an integer in [0, pilot.n_seeds = {ch.n_seeds}]")
    r = config.registration
    check(r.mask_lr <= r.learning_rate, "registration.mask_lr", r.mask_lr,
          f"at most registration.learning_rate ({r.learning_rate}): the warmup rises from it")


def _metrics(config: Config) -> None:
    mc = config.metrics
    check(_integer(mc.n_bootstrap) and mc.n_bootstrap >= 10, "metrics.n_bootstrap",
          mc.n_bootstrap, "an integer >= 10")
    check(_number(mc.confidence) and 0 < mc.confidence < 1, "metrics.confidence",
          mc.confidence, "0 < confidence < 1")
    check(_seed(mc.seed), "metrics.seed", mc.seed, "an integer in [0, 2^63)")
    for key in ("eval_every", "eval_every_late", "window", "final_evals"):
        value = getattr(mc, key)
        check(_integer(value) and value >= 1, f"metrics.{key}", value, "an integer >= 1")
    check(_integer(mc.eval_late_from) and mc.eval_late_from >= 0, "metrics.eval_late_from",
          mc.eval_late_from, "an integer >= 0 (a step)")
    check(mc.match_margin is None or (_number(mc.match_margin) and mc.match_margin > 0),
          "metrics.match_margin", mc.match_margin, "null (from the seeds) or > 0 (money)")


def _runtime(config: Config) -> None:
    rt = config.runtime
    check(rt.ensemble_size is None or _integer(rt.ensemble_size) and rt.ensemble_size >= 1,
          "runtime.ensemble_size", rt.ensemble_size, "an integer >= 1, or null (by device)")
    check(isinstance(rt.tf32, bool), "runtime.tf32", rt.tf32, "true or false")
    check(rt.ray_address is None or isinstance(rt.ray_address, str) and rt.ray_address,
          "runtime.ray_address", rt.ray_address, "null or an address such as 'ray://host:10001'")
    check(_integer(rt.num_threads) and 1 <= rt.num_threads <= MAX_THREADS,
          "runtime.num_threads", rt.num_threads,
          f"an integer in [1, {MAX_THREADS}] (threads of one process; 10^4 hangs a machine)")
    cores = os.cpu_count() or 1
    if rt.executor == "local" and rt.num_threads > cores:
        warnings.warn(f"runtime.num_threads = {rt.num_threads} is more than this machine's "
                      f"{cores} cores: the threads compete (slower; the same results)",
                      stacklevel=3)


def _folders(config: Config) -> None:
    for section in ("caching", "experiments"):
        table = getattr(config, section)
        check(isinstance(table.get("directory"), str) and table["directory"].strip() != "",
              f"{section}.directory", table.get("directory"),
              "a non-empty path (relative: from the project root)")
    banner = config.experiments.get("banner")
    check(banner is None or isinstance(banner, str) and banner.strip() != "",
          "experiments.banner", banner, "null or a line of text (shown on every output)")


def feller_ratio(params: HestonParams) -> float:
    """2κθ / ξ²: the variance stays away from 0 when this is ≥ 1."""
    return 2 * params.kappa * params.theta / params.xi**2


def config_hash(config: Config, sections: tuple[str, ...] | None = None, extra: Any = None) -> str:
    """A short stable hash of the given config sections (all when None) plus ``extra``.

    Only values that differ from the defaults are hashed (as open_lth does): a new key with
    a default leaves every existing hash unchanged. Changing a default is a change of what
    a stored result means: bump the stage or dataset version (``test_defaults_are_pinned``)."""
    full, defaults = config.to_dict(), Config().to_dict()
    names = sections if sections is not None else tuple(full)
    body = {k: _changed(full[k], defaults[k]) for k in names}
    payload = json.dumps({"config": body, "extra": _plain(extra)}, sort_keys=True,
                         separators=(",", ":"), default=float)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _changed(value: Any, default: Any) -> Any:
    """The parts of ``value`` that differ from ``default`` (recursively for mappings)."""
    if isinstance(value, dict) and isinstance(default, dict):
        out = {k: _changed(v, default[k]) if k in default else v for k, v in value.items()
               if k not in default or v != default[k]}
        return out
    return value


def project_root() -> Path:
    """The repository root (where ``configs/`` lives), whatever the working directory.

    Notebooks run from ``notebooks/`` in JupyterLab, from the root under papermill and from
    ``tests/notebooks/`` under nbval; every path goes through here so that all three agree.
    """
    here = Path(__file__).resolve().parents[2]
    if (here / "configs").is_dir():
        return here
    return Path.cwd()


def resolve(path: str | Path) -> Path:
    """An absolute path: relative ones are taken from the project root."""
    path = Path(path)
    return path if path.is_absolute() else project_root() / path
