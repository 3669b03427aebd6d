"""P&L statistics with bootstrap confidence intervals, intervals and tests over seeds (the
speed-up's log-ratio test with censoring, Holm's correction).

Risk figures (``var_*``, ``cvar_*``) are of the loss −PnL, in money: lower is better, and
``cvar_05`` is the indifference price under CVaR 5 %. Sharpe is computed on the P&L charged
one fixed ``premium`` for every strategy of a run (the dense baseline's indifference price):
on premium-free P&L the mean is about −price, and a smaller std would make Sharpe *more*
negative, rewarding worse hedging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import stats

from ..foundations.records import Record
from ..nets.losses import cvar_from_worst, worst_losses

TAILS = {"05": 0.05, "01": 0.01}


@dataclass(frozen=True, kw_only=True)
class Difference(Record):
    """statistic(a) − statistic(b) on the same paths, with its paired bootstrap interval."""

    difference: float
    ci: list[float]


@dataclass(frozen=True, kw_only=True)
class SeedInterval(Record):
    """A mean over ``n`` seeds with its Student-t interval (NaN bounds: none)."""

    mean: float
    ci: list[float]
    n: int


@dataclass(frozen=True, kw_only=True)
class PairedOverSeeds(SeedInterval):
    """The mean of a − b over seeds, its interval, the paired t-test's p and each seed's."""

    p: float
    per_seed: list[float]


@dataclass(frozen=True, kw_only=True)
class LogRatioTest(Record):
    """A speed-up from paired steps-to-reach (``log_ratio_test``)."""

    n: int
    log_ratios: list[float]
    censored_reference: int
    censored_other: int
    speedup: float
    ci: list[float]
    upper: float
    p: float
    sd: float


@dataclass(frozen=True, kw_only=True)
class SignTest(Record):
    """Which side reaches a level where only one does (``sign_test``)."""

    reached: int
    other_reached: int
    only: int
    only_other: int
    n: int
    p: float


def tail_key(alpha: float) -> str:
    """The suffix of the statistics at tail probability α: '05' for 0.05, '50' for 0.5."""
    return f"{100 * alpha:g}".zfill(2)


def tails_with(alpha: float) -> dict[str, float]:
    """``TAILS`` and the tail α (a config's ``loss.alpha``) if it is not among them."""
    return {**TAILS, tail_key(alpha): alpha}


def _statistics(pnl: torch.Tensor, premium: float,
                tails: dict[str, float] = TAILS) -> dict[str, torch.Tensor]:
    """Every statistic of ``pnl`` (..., N) along its last axis."""
    mean, std = pnl.mean(-1), pnl.std(-1)
    out = {"pnl_mean": mean, "pnl_std": std}
    n = pnl.shape[-1]
    worst = worst_losses(pnl, max(tails.values()))  # one partial sort serves every tail
    for name, alpha in tails.items():
        out[f"var_{name}"] = worst[..., min(math.floor(alpha * n), n - 1)]
        out[f"cvar_{name}"] = cvar_from_worst(worst, alpha, n)
    out["sharpe_ratio"] = (mean + premium) / std
    return out


def compute_all_metrics(pnl: torch.Tensor, *, premium: float, n_bootstrap: int = 1000,
                        confidence: float = 0.95, seed: int = 0,
                        tails: dict[str, float] = TAILS) -> dict[str, float | list]:
    """Point estimates and percentile-bootstrap intervals (``<name>_ci = [lo, hi]``), VaR
    and CVaR at each of ``tails`` (``tails_with`` adds a config's own α).

    Shape: pnl (N,). ``premium`` is added to the P&L for Sharpe only (see module doc).
    """
    pnl = torch.as_tensor(pnl, dtype=torch.float64).reshape(-1)
    point = _statistics(pnl, premium, tails)
    samples = bootstrap(pnl, lambda x: _statistics(x, premium, tails), n_bootstrap=n_bootstrap,
                        seed=seed)
    out: dict[str, float | list] = {"n_paths": pnl.numel(), "premium": float(premium)}
    for name, value in point.items():
        out[name] = float(value)
        out[f"{name}_ci"] = percentile_interval(samples[name], confidence)
    return out


def bootstrap(pnl: torch.Tensor, statistic, *, n_bootstrap: int, seed: int,
              chunk: int = 100) -> dict[str, torch.Tensor]:
    """``statistic`` on ``n_bootstrap`` resamples of the last axis (same resamples for every
    row of a stacked ``pnl``, so that paired differences are bootstrapped jointly)."""
    generator = torch.Generator().manual_seed(seed)
    n = pnl.shape[-1]
    parts: dict[str, list] = {}
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        index = torch.randint(n, (size, n), generator=generator)
        for name, value in statistic(pnl[..., index]).items():
            parts.setdefault(name, []).append(value)
    return {name: torch.cat(values, dim=-1) for name, values in parts.items()}


def percentile_interval(samples: torch.Tensor, confidence: float) -> list[float]:
    q = torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=samples.dtype)
    return [float(x) for x in torch.quantile(samples, q, dim=-1)]


def paired_difference(pnl_a: torch.Tensor, pnl_b: torch.Tensor, statistic: str = "cvar_05", *,
                      n_bootstrap: int = 1000, confidence: float = 0.95,
                      seed: int = 0) -> Difference:
    """statistic(a) − statistic(b) on the same paths, with a paired bootstrap interval.
    ``statistic``: a name of ``compute_all_metrics`` (VaR and CVaR at any tail, e.g.
    ``cvar_50``)."""
    pair = torch.stack([torch.as_tensor(pnl_a, dtype=torch.float64),
                        torch.as_tensor(pnl_b, dtype=torch.float64)])
    tails = tails_with(float(statistic.split("_")[1]) / 100) if statistic.startswith(
        ("var_", "cvar_")) else TAILS
    diff = _statistics(pair, 0.0, tails)[statistic]
    samples = bootstrap(pair, lambda x: {"d": _statistics(x, 0.0, tails)[statistic]},
                        n_bootstrap=n_bootstrap, seed=seed)["d"]
    return Difference(difference=float(diff[0] - diff[1]),
                      ci=percentile_interval(samples[0] - samples[1], confidence))


def seed_interval(values: list[float], confidence: float = 0.95) -> SeedInterval:
    """Mean over seeds with a Student-t interval (NaN bounds with fewer than two seeds, or
    when a value is missing: an unreached criterion has no mean)."""
    x = torch.tensor(values, dtype=torch.float64)
    n = len(values)
    if n == 0 or not torch.isfinite(x).all():
        return SeedInterval(mean=math.nan, ci=[math.nan, math.nan], n=n)
    mean = float(x.mean())
    if n < 2:
        return SeedInterval(mean=mean, ci=[math.nan, math.nan], n=n)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * x.std() / math.sqrt(n))
    return SeedInterval(mean=mean, ci=[mean - half, mean + half], n=n)


def log_ratio_test(reference: list[tuple[int, bool]], other: list[tuple[int, bool]],
                   confidence: float = 0.95) -> LogRatioTest:
    """Speed-up of ``other`` over ``reference`` from paired steps-to-reach, one pair per seed.

    Each entry is (steps, censored) as ``speed.censored`` gives it: a run that never reached
    the level enters at its budget, flagged, never dropped. Per seed r = log(T_ref / T_other);
    the speed-up is exp(mean r) (a geometric mean) with a Student-t interval, and the paired
    t-test of mean r = 0 gives the two-sided p-value. ``upper`` is the largest speed-up the
    interval leaves open: a null result rules out boosts above it.
    """
    r = torch.tensor([math.log(a / b) for (a, _), (b, _) in zip(reference, other)],
                     dtype=torch.float64)
    n = len(r)
    out = dict(n=n, log_ratios=[float(x) for x in r],
               censored_reference=sum(c for _, c in reference),
               censored_other=sum(c for _, c in other))
    if n < 2:
        return LogRatioTest(**out, speedup=math.exp(float(r.mean())) if n else math.nan,
                            ci=[math.nan, math.nan], upper=math.nan, p=math.nan, sd=math.nan)
    mean, sd = float(r.mean()), float(r.std())
    if sd == 0:  # no spread: the t-test is undefined (all censored on both sides: r = 0)
        p, lo, hi = (1.0 if mean == 0 else math.nan), math.nan, math.nan
    else:
        t = mean / (sd / math.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), n - 1))
        half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
        lo, hi = mean - half, mean + half
    return LogRatioTest(**out, speedup=math.exp(mean), ci=[math.exp(lo), math.exp(hi)],
                        upper=math.exp(hi), p=p, sd=sd)


def detectable_speedup(sd: float, n: int, alpha: float, power: float = 0.8) -> float:
    """The speed-up a two-sided paired t-test at level ``alpha`` detects with ``power``, for
    log ratios of standard deviation ``sd`` over ``n`` seeds, by the usual approximation of
    the noncentral t with central t quantiles: exp((t_{1−α/2} + t_power) · sd / √n), with
    n − 1 degrees of freedom (the exact noncentral t: ``registration.exact_power``)."""
    if n < 2 or not (math.isfinite(sd) and sd > 0):  # no spread (all censored): undefined
        return math.nan
    t = stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)
    return math.exp(float(t) * sd / math.sqrt(n))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (same order as given)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def paired_over_seeds(a: list[float], b: list[float],
                      confidence: float = 0.95) -> PairedOverSeeds:
    """Mean of a − b over seeds with a Student-t interval and the paired t-test's p-value."""
    diffs = [x - y for x, y in zip(a, b)]
    mean = seed_interval(diffs, confidence)
    n, x = len(diffs), torch.tensor(diffs, dtype=torch.float64)
    p = math.nan
    if n >= 2 and torch.isfinite(x).all() and float(x.std()) > 0:
        t = float(x.mean()) / (float(x.std()) / math.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), n - 1))
    return PairedOverSeeds(mean=mean.mean, ci=mean.ci, n=mean.n, p=p, per_seed=diffs)


def sign_test(reached: list[bool], other: list[bool]) -> SignTest:
    """Paired by seed, which side reaches a level when only one does: an exact two-sided
    sign test on those seeds (the comparison where one side never reaches is an outcome, not
    a speed-up: its log ratios only bound the speed-up by the budget)."""
    only, only_other = (sum(a and not b for a, b in zip(reached, other)),
                        sum(b and not a for a, b in zip(reached, other)))
    n = only + only_other
    p = float(stats.binomtest(only, n, 0.5).pvalue) if n else math.nan
    return SignTest(reached=sum(reached), other_reached=sum(other), only=only,
                    only_other=only_other, n=len(reached), p=p)
