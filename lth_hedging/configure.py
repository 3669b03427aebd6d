"""The loader a user calls: a config checked against the schema *and* the registries.

``foundations.config`` is the schema at the bottom of the package: it knows the sections,
their defaults and their ranges, and imports nothing above it. The names a key picks from a
registry live beside the code that implements them, higher up (a scheme in ``market.heston``,
an endpoint in ``measures.speed``, a comparator in ``studies.tickets``…); this module sits
above them all and checks each name against its registry, then what the machine must offer
(CUDA for ``runtime.device: cuda``, oneDNN's bfloat16 matmuls for ``runtime.precision``).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch

from .foundations.config import Config, check, one_of, parse_config
from .foundations.store import name_run
from .market.heston import SCHEMES, simulate_heston
from .market.instruments import INSTRUMENTS
from .measures.speed import ENDPOINTS
from .nets import runtime
from .nets.losses import OCE_LEVELS, RISK_MEASURES
from .nets.model import ACTIVATIONS
from .nets.pruning import OUTPUT_RATES, SCOPES
from .nets.runtime import DEVICES, EXECUTORS, PRECISIONS, setup
from .nets.train import DECAYS
from .studies.tickets import COMPARATORS, KINDS


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Load a YAML config, apply ``{"dotted.key": value}`` overrides, validate values and
    names; every bad key is one ``ValueError`` naming the key, the value and what is allowed.

    A relative ``path`` is taken from the project root (the same from any working directory);
    ``None`` gives the defaults, which ``configs/config.yaml`` spells out.

    >>> load_config(None, {"training.epochs": 5}).training.epochs
    5
    """
    config = parse_config(path, overrides, names=check_names)  # names before cross-key rules
    check_paths(config)
    check_machine(config)
    return config


def check_names(config: Config) -> None:
    """Every name a key picks, against the registry beside the code that implements it."""
    d, c = config.data, config.hedging
    one_of(d.scheme, "data.scheme", SCHEMES)
    names = tuple(INSTRUMENTS)
    check(c.instruments[:1] == ("stock",) and len(set(c.instruments)) == len(c.instruments)
          and set(c.instruments) <= set(names), "hedging.instruments",
          list(c.instruments), f"'stock' first, then any of {names[1:]}, without repeats")
    for name in c.instruments:
        check(d.scheme in INSTRUMENTS[name].schemes, "data.scheme", d.scheme,
              f"{' or '.join(INSTRUMENTS[name].schemes)} with the {name.replace('_', ' ')} "
              f"({INSTRUMENTS[name].why_schemes})")
    one_of(config.model.activation, "model.activation", ACTIVATIONS)
    one_of(config.loss.type, "loss.type", RISK_MEASURES)
    one_of(config.loss.oce_level, "loss.oce_level", OCE_LEVELS)
    one_of(config.pruning.scope, "pruning.scope", SCOPES)
    one_of(config.pruning.output_rate, "pruning.output_rate", OUTPUT_RATES)
    for name in config.pilot.comparators:
        check(name in COMPARATORS, "pilot.comparators", name, f"names in {COMPARATORS}")
    one_of(config.pilot.primary, "pilot.primary", ENDPOINTS)
    r = config.registration
    one_of(r.scope, "registration.scope", SCOPES)
    controls = tuple(k for k in KINDS if k != "ticket")
    for name in r.controls:
        check(name in controls, "registration.controls", name, f"names in {controls}")
    one_of(r.endpoint, "registration.endpoint", ENDPOINTS)
    s = config.search
    one_of(s.endpoint, "search.endpoint", ENDPOINTS)
    for c in s.constructions:
        one_of(c.split(":")[1], "search.constructions (ranking)", SCOPES)
    for d in s.decays:
        one_of(d, "search.decays", DECAYS)
    rt = config.runtime
    one_of(rt.device, "runtime.device", DEVICES)
    one_of(rt.executor, "runtime.executor", EXECUTORS)
    one_of(rt.precision, "runtime.precision", PRECISIONS)


PROBE_PATHS = 256  # a tiny simulation: milliseconds, and most explosions show in it


def check_paths(config: Config) -> None:
    """The Heston parameters, maturity and dates give finite paths in float32 (the datasets'
    type), tried on ``PROBE_PATHS`` paths; if not, the error names the key whose default
    makes them finite (else every key that differs from its default)."""
    if _finite_paths(config):
        return
    d, defaults = config.to_dict()["data"], Config().to_dict()["data"]
    keys = [(f"data.heston.{k}", v, defaults["heston"][k]) for k, v in d["heston"].items()
            if v != defaults["heston"][k]]
    keys += [(f"data.{k}", d[k], defaults[k]) for k in ("T", "n_steps") if d[k] != defaults[k]]
    culprits = [(key, value, default) for key, value, default in keys
                if _finite_paths(parse_config(None, {**_data_overrides(config), key: default}))]
    for key, value, default in culprits or keys:
        check(False, key, value, f"values whose Heston paths stay finite in float32 (with the "
              f"other data keys as they are, {default!r} does)" if culprits else
              "values whose Heston paths stay finite in float32 (these data keys together "
              f"do not: {', '.join(f'{k} = {v!r}' for k, v, _ in keys)})")
    check(False, "data.heston", d["heston"], "parameters whose Heston paths stay finite")


def _data_overrides(config: Config) -> dict:
    d = config.to_dict()["data"]
    return {**{f"data.heston.{k}": v for k, v in d["heston"].items()}, "data.T": d["T"],
            "data.n_steps": d["n_steps"], "data.scheme": d["scheme"]}


def _finite_paths(config: Config) -> bool:
    d, h = config.data, config.data.heston
    try:
        S, v = simulate_heston(PROBE_PATHS, d.n_steps, d.T, S0=h.S0, v0=h.v0, kappa=h.kappa,
                               theta=h.theta, xi=h.xi, rho=h.rho, scheme=d.scheme,
                               generator=torch.Generator().manual_seed(0))
    except (ValueError, OverflowError):  # simulate_heston refuses paths that are not finite
        return False
    return bool(torch.isfinite(S.float()).all() and torch.isfinite(v.float()).all())


def check_machine(config: Config) -> None:
    """What ``runtime`` asks of this machine: a CUDA device, oneDNN's bfloat16 matmuls."""
    rt = config.runtime
    check(rt.device != "cuda" or rt.executor == "ray" or torch.cuda.is_available(),
          "runtime.device", rt.device, "cpu or auto: no CUDA device is available here "
          "(torch.cuda.is_available() is False)")
    check(rt.precision == "float32" or runtime.device(config).type == "cpu", "runtime.precision",
          rt.precision, "float32 off the CPU (bfloat16 matmuls are oneDNN's, on the CPU; on "
          "CUDA, runtime.tf32)")
    # here too on Ray: this process evaluates what the workers train (each checks its own CPU)
    check(rt.precision == "float32" or runtime.bfloat16_matmuls(),
          "runtime.precision", rt.precision, "float32 on this CPU: oneDNN does not compute "
          "bfloat16 matmuls here (it needs AVX-512), so a bfloat16 key would hold float32 "
          "results")


def start(config_path: str, overrides: dict | None = None) -> Config:
    """Load a run's config (path from the project root), print any warnings as plain lines
    (stable output for nbval), fix the thread count."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config(config_path, overrides)
    for w in caught:
        print(f"warning: {w.message}")
    setup(config)
    name_run(f"{config_path}{f' {overrides}' if overrides else ''}, started "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
    return config
