"""What a notebook run needs beside the science: its start (the config and its warnings, the
run's banner, how tables display) and a figure saver that puts the banner on every figure.

A config's ``experiments.banner`` (``configs/smoke.yaml`` has one) says what a run is not:
it is printed under the first cell and drawn on each figure, so that a smoke output is never
mistaken for a result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .configure import start as load_and_setup
from .foundations.config import Config
from .presentation.plots import save_figure, stamp
from .presentation.tables import WIDTH, wrap

TABLES = {"display.width": WIDTH, "display.max_colwidth": None, "display.max_columns": None,
          "display.max_rows": 500}


def start(config_path: str, overrides: dict | None = None) -> Config:
    """The notebook's config (``configure.start``: warnings as plain lines, threads fixed),
    tables displayed whole and wrapped to ``tables.WIDTH``, and the banner if the config has
    one."""
    config = load_and_setup(config_path, overrides)
    for key, value in TABLES.items():
        pd.set_option(key, value)
    if banner(config):
        print(wrap(f"*** {banner(config)} ***"))
    return config


def banner(config: Config) -> str | None:
    return config.experiments.get("banner")


def figure_saver(config: Config, figures_dir: str | Path) -> Callable[[plt.Figure, str],
                                                                       list[Path]]:
    """``save(fig, name)``: the banner drawn on ``fig`` (inline and saved), then
    ``plots.save_figure`` into ``figures_dir``."""
    def save(fig: plt.Figure, name: str) -> list[Path]:
        if banner(config):
            stamp(fig, banner(config))
        return save_figure(fig, name, figures_dir)
    return save


def not_run(section: str, extras: tuple) -> str:
    """The line an exploratory section prints where this registration does not run it."""
    return (f"not run: '{section}' is not among this registration's extras "
            f"({', '.join(extras) or 'none'}); configs/registration1.yaml runs it")
