"""Numbers published for a setting this package can configure, printed beside ours.

A published number is compared only when the config is that setting: the same market
(Heston parameters, maturity, dates, strike), instruments and risk measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..foundations.config import Config
from ..market.instruments import VARIANCE_SWAP


@dataclass(frozen=True)
class Published:
    source: str
    heston: dict  # data.heston
    T: float
    n_steps: int
    instruments: tuple
    alpha: float  # loss.alpha (CVaR tail probability)
    numbers: dict  # name → (value, where in the source)


BUEHLER_2019 = Published(
    source="Buehler, Gonon, Teichmann, Wood, Deep hedging, Quant. Finance 19(8), 2019, §5.2 "
           "(arXiv:1802.03042)",
    heston={"S0": 100.0, "K": 100.0, "r": 0.0, "v0": 0.04, "kappa": 1.0, "theta": 0.04,
            "xi": 2.0, "rho": -0.7},
    T=30 / 365, n_steps=30, instruments=("stock", VARIANCE_SWAP), alpha=0.5,
    numbers={"risk_neutral_price": (1.69, "§5.2: \"risk-neutral price q = 1.69\""),
             "deep_hedge_zero_cost": (1.94, "§5.2: \"for α = 0.5, yielding a risk-adjusted "
                                            "price p0 = 1.94\" (no costs, 10^6 test paths, "
                                            "rounded)")})
PUBLISHED = (BUEHLER_2019,)


def published_for(config: Config) -> Published | None:
    """The published setting ``config`` is, if any."""
    d = config.data
    for entry in PUBLISHED:
        if (config.to_dict()["data"]["heston"] == entry.heston
                and math.isclose(d.T, entry.T, rel_tol=1e-12) and d.n_steps == entry.n_steps
                and config.hedging.instruments == entry.instruments
                and config.loss.type == "cvar" and config.loss.alpha == entry.alpha):
            return entry
    return None
