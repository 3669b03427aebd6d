"""The loader a user calls: a config checked against the schema *and* the registries.

``foundations.config`` is the schema at the bottom of the package: it knows the sections,
their defaults and their ranges, and imports nothing above it. The names a key picks from a
registry live beside the code that implements them, higher up (a scheme in ``market.heston``,
an endpoint in ``measures.speed``, a comparator in ``studies.tickets``…); this module sits
above them all and checks each name against its registry, then what the machine must offer
(CUDA for ``runtime.device: cuda``, oneDNN's bfloat16 matmuls for ``runtime.precision``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .foundations.config import Config, check, one_of, parse_config
from .market.heston import SCHEMES
from .market.instruments import INSTRUMENTS
from .measures.speed import ENDPOINTS
from .nets import runtime
from .nets.losses import OCE_LEVELS, RISK_MEASURES
from .nets.model import ACTIVATIONS
from .nets.pruning import OUTPUT_RATES, SCOPES
from .nets.runtime import DEVICES, EXECUTORS, PRECISIONS, setup
from .studies.tickets import COMPARATORS, KINDS


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Load a YAML config, apply ``{"dotted.key": value}`` overrides, validate values and
    names; every bad key is one ``ValueError`` naming the key, the value and what is allowed.

    A relative ``path`` is taken from the project root (the same from any working directory);
    ``None`` gives the defaults, which ``configs/config.yaml`` spells out.

    >>> load_config(None, {"training.epochs": 5}).training.epochs
    5
    """
    config = parse_config(path, overrides)
    check_names(config)
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
    rt = config.runtime
    one_of(rt.device, "runtime.device", DEVICES)
    one_of(rt.executor, "runtime.executor", EXECUTORS)
    one_of(rt.precision, "runtime.precision", PRECISIONS)


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
    return config
