"""Figure functions the notebooks call; ``save_figure`` writes every figure as PDF and PNG."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..foundations.config import resolve
from ..foundations.store import atomic_write_bytes, no_room
from ..market.hedges import LABELS, MODEL_HEDGE, STRATEGIES
from ..market.instruments import INSTRUMENTS
from ..measures.metrics import SeedInterval
from ..measures.speed import ENDPOINTS, References
from ..studies.confirmation import Study
from ..studies.judging import Curve
from ..studies.search import Search
from ..studies.structure import Hedge, Imp, MaskStructure, Spread
from ..studies.tickets import KIND_LABELS
from .verdicts import cell_label, status

COLORS = {"no_hedge": "#9ca3af", "bs_delta": "#f59e0b", "heston_delta": "#10b981",
          "min_variance_delta": "#2563eb", "model_hedge": "#0f766e", "deep_hedge": "#dc2626"}
KIND_COLORS = {"ticket": "#dc2626", "reinit": "#7c3aed", "random_mask": "#f59e0b",
               "rescaled_mask": "#0891b2", "init_magnitude": "#db2777", "small_dense": "#65a30d",
               "dense": "#6b7280", "best_dense": "#111827", "permuted": "#16a34a"}


SPEEDUP_TICKS = [0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 10]


def save_figure(fig: plt.Figure, name: str, figures_dir: str | Path) -> list[Path]:
    """``<figures_dir>/<name>.pdf`` and ``.png``, each written whole (two runs at once never
    leave a half-written figure)."""
    folder = resolve(figures_dir)
    paths = [folder / f"{name}.{ext}" for ext in ("pdf", "png")]
    for path in paths:
        # Fixed metadata so that the same figure gives the same bytes on a rerun.
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else {"Software": None}
        buffer = io.BytesIO()
        fig.savefig(buffer, format=path.suffix[1:], dpi=150, bbox_inches="tight",
                    metadata=metadata)
        try:
            atomic_write_bytes(path, buffer.getvalue())
        except OSError as err:
            raise no_room(err, path, "figures_dir (the notebook's parameter; make: FIGURES)") \
                from err
    return paths


def stamp(fig: plt.Figure, text: str) -> None:
    """``text`` in red under everything else in ``fig`` (kept by the tight bounding box)."""
    fig.text(0.01, 0.0, text, color="#b91c1c", fontsize=11, weight="bold", ha="left",
             va="top")


def speedup_axis(ax) -> None:
    """A log-scaled speed-up y axis with readable ticks (``SPEEDUP_TICKS``), whatever its range."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(plt.FixedLocator(SPEEDUP_TICKS))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.yaxis.set_minor_locator(plt.NullLocator())


def plot_paths(S: torch.Tensor, v: torch.Tensor, T: float, K: float,
               n_show: int = 30) -> plt.Figure:
    """Sample spot and variance paths, and the terminal distributions."""
    t = np.linspace(0, T * 365, S.shape[1])
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].plot(t, S[:n_show].T.numpy(), lw=0.8, alpha=0.7)
    ax[0].axhline(K, color="k", ls="--", lw=1, label="discounted strike")
    ax[0].set(xlabel="days", ylabel="discounted spot", title="Spot paths")
    ax[0].legend()
    ax[1].plot(t, v[:n_show].T.numpy(), lw=0.8, alpha=0.7)
    ax[1].set(xlabel="days", ylabel="variance", title="Variance paths")
    ax[2].hist(S[:, -1].numpy(), bins=80, color="#2563eb", alpha=0.7, density=True)
    ax[2].axvline(K, color="k", ls="--", lw=1)
    ax[2].set(xlabel="$S_T$ (discounted)", ylabel="density", title="Terminal spot")
    fig.tight_layout()
    return fig


def plot_learning_curves(histories: dict[str, list[dict]]) -> plt.Figure:
    """Validation risk (y-free) and the OCE loss at the network's y over optimiser steps."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (label, history) in enumerate(histories.items()):
        steps = [row["step"] for row in history]
        ax.plot(steps, [row["val_risk"] for row in history], color=f"C{i}",
                label=f"{label}: validation risk")
        ax.plot(steps, [row["val_loss"] for row in history], color=f"C{i}", ls=":", alpha=0.7,
                label=f"{label}: OCE loss at the network's y")
    _zoom(ax, [row["val_risk"] for h in histories.values() for row in h])
    ax.set(xlabel="optimiser step", ylabel="validation CVaR 5% (money)",
           title="Dense deep hedge: validation risk over training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _zoom(ax, values: list[float], low: float | None = None) -> None:
    """Y limits that show where curves settle, not their first steps from θ0."""
    finite = [v for v in values if np.isfinite(v)]
    if finite:
        bottom = min(finite) if low is None else min(low, min(finite))
        top = np.quantile(finite, 0.9)
        ax.set_ylim(bottom - 0.05 * (top - bottom + 1e-9), top)


def plot_pnl_histograms(pnls: dict[float, dict[str, torch.Tensor]]) -> plt.Figure:
    """One panel per cost level; every strategy's premium-free P&L distribution."""
    fig, axes = plt.subplots(1, len(pnls), figsize=(7 * len(pnls), 4.5), squeeze=False)
    for ax, (cost, by_name) in zip(axes[0], pnls.items()):
        values = torch.cat([p for name, p in by_name.items() if name != "no_hedge"])
        lo, hi = np.quantile(values.numpy(), [0.001, 0.999])
        bins = np.linspace(lo, hi, 120)
        for name, pnl in by_name.items():
            if name == "no_hedge":
                continue
            ax.hist(pnl.numpy(), bins=bins, histtype="step", lw=1.5, color=COLORS[name],
                    label=LABELS[name], density=True)
        ax.set(xlabel="P&L (premium excluded, time-0 money)", ylabel="density",
               title=f"Test P&L, cost {cost * 1e4:g} bps")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_hedge_ratios(slices: dict, labels: dict[str, str] | None = None) -> plt.Figure:
    """Network vs model positions in one instrument (``slices["instrument"]``, the stock by
    default) across moneyness: rows are variance levels, columns dates. Further networks in
    ``slices`` (``labels``: key → legend) are drawn beside the first."""
    labels = {**LABELS, **(labels or {})}
    references = [(k, style) for k, style in (("heston_delta", ":"), ("min_variance_delta", "--"),
                                              ("model_hedge", ":")) if k in slices]
    extra = [k for k in slices if k not in (*STRATEGIES, MODEL_HEDGE, "deep_hedge")
             and k in labels]
    times, variances = slices["days_to_maturity"], slices["variances"]
    fig, axes = plt.subplots(len(variances), len(times), figsize=(4 * len(times),
                             3.2 * len(variances)), sharex=True, sharey=True, squeeze=False)
    x = slices["spot"]
    for i, var in enumerate(variances):
        for j, days in enumerate(times):
            ax = axes[i, j]
            for name, style in (*references, ("deep_hedge", "-"), *((k, "-.") for k in extra)):
                ax.plot(x, slices[name][i, j], style, color=COLORS.get(name, "k"),
                        label=labels[name])
            ax.set_title(f"{days:g} days left, $\\sqrt{{v}}$ = {var**0.5:.0%}", fontsize=9)
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("discounted spot")
    unit = INSTRUMENTS[slices.get("instrument", "stock")].unit
    for ax in axes[:, 0]:
        ax.set_ylabel(f"position ({unit})")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _with_errors(values: list[float], cis: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Values and their intervals as errorbar lengths, shape (2, n)."""
    values = np.array(values)
    lo, hi = np.array(cis).T
    return values, np.stack([values - lo, hi - values])




# ----------------------------------------------------------------------------- notebook 03


def _interval(d: SeedInterval | Spread) -> tuple[float, list[float]]:
    """Mean and errorbar lengths of a mean over seeds, its interval or its range (zero
    lengths without either)."""
    lo, hi = d.range if isinstance(d, Spread) else d.ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return d.mean, [0.0, 0.0]
    # a range of equal values can put the rounded mean a hair outside it
    return d.mean, [max(d.mean - lo, 0.0), max(hi - d.mean, 0.0)]


def _errorbars(ax, x, stats: list[SeedInterval | Spread], **kwargs) -> None:
    means, errs = zip(*(_interval(d) for d in stats))
    ax.errorbar(x, means, yerr=np.array(errs).T, capsize=3, **kwargs)


def plot_speedups(study: Study) -> plt.Figure:
    """The registered study: the ticket's speed-up at the endpoint over each comparator
    (geometric mean and 95 % interval over seeds; > 1: the ticket is faster), and ticket −
    comparator test risk with the matching margin, per cell."""
    cells, e = study.cells, study.endpoint
    comparators = list(dict.fromkeys(k for c in cells for k in c.comparisons))
    x = np.arange(len(cells))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for k, who in enumerate(comparators):
        offset = (k - (len(comparators) - 1) / 2) * 0.15
        color = KIND_COLORS.get(who, f"C{k}")
        at = [i for i, c in enumerate(cells) if who in c.comparisons]
        tested = [i for i in at if cells[i].comparisons[who].tested]
        tests = [cells[i].comparisons[who].endpoint for i in tested]
        means = np.array([t.speedup for t in tests])
        lo, hi = np.array([t.ci for t in tests]).reshape(-1, 2).T
        axes[0].errorbar(x[tested] + offset, means, yerr=[means - lo, hi - means], fmt="o",
                         capsize=3, color=color, label=f"vs {KIND_LABELS[who]}")
        for i in (i for i in at if i not in tested):  # one side never reached: an outcome
            c = cells[i].comparisons[who]
            reach, ratio = c.reach, c.endpoint.speedup
            axes[0].plot(x[i] + offset, ratio, "^", mfc="none", color=color, ms=8)
            axes[0].annotate(f"{reach.reached}/{reach.n} vs {reach.other_reached}/{reach.n}",
                             (x[i] + offset, ratio), xytext=(0, 8),
                             textcoords="offset points", ha="center", va="bottom",
                             rotation=90, fontsize=7, color=color)
        _errorbars(axes[1], x[at] + offset, [cells[i].comparisons[who].test_risk for i in at],
                   fmt="o", color=color, label=f"vs {KIND_LABELS[who]}")
    axes[0].axhline(1, color="k", lw=1)
    speedup_axis(axes[0])
    if any(not c.tested for cell in cells for c in cell.comparisons.values()):
        axes[0].plot([], [], "^", mfc="none", color="k",
                     label="one side never reached: reached n/N, ratio at the budget (a bound)")
    margin = study.margin.margin
    axes[1].axhline(0, color="k", lw=1)
    axes[1].axhspan(-margin, margin, color="k", alpha=0.08, label="± matching margin")
    n = len(study.seeds)
    for ax, title in ((axes[0], f"ticket speed-up at {e} (> 1: faster)"),
                      (axes[1], "test risk: ticket − comparator")):
        ax.set_xticks(x, [cell_label(c).replace(", ", "\n") for c in cells])
        ax.set_xlim(-0.5, len(cells) - 0.5)
        ax.set(ylabel=title, title=f"{title}\nmean and 95% interval over {n} seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    if study.departures or study.departures is None:  # never taken for the registered one
        fig.suptitle(status(study), color="C3")
    fig.tight_layout()
    return fig


def _normalised(rows: list[Curve], refs: References) -> tuple[np.ndarray, np.ndarray]:
    """Steps and (risk − R_d) / (R_BS − R_d) of every seed's curve (shared steps)."""
    steps = np.array([s for s, _ in rows[0].curve])
    gap = refs.floor - refs.dense
    return steps, np.array([[(v - refs.dense) / gap for _, v in r.curve] for r in rows])


def plot_convergence(rows: dict[str, list[Curve]], refs: References, title: str,
                     levels: tuple[str, ...] = tuple(ENDPOINTS)) -> plt.Figure:
    """One cell: the normalised excess validation risk over steps (0: R_d, 1: R_BS) of
    every kind in ``rows`` (kind → one row with a ``curve`` per seed) — median over seeds,
    band: interquartile range — with the ``levels``."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for who, kind_rows in rows.items():
        steps, curves = _normalised(kind_rows, refs)
        color = KIND_COLORS.get(who, "#111827")
        ax.plot(steps, np.median(curves, 0), ":" if who == "dense" else "-", color=color,
                label=KIND_LABELS[who])
        ax.fill_between(steps, *np.quantile(curves, [0.25, 0.75], axis=0), color=color,
                        alpha=0.15, lw=0)
    for name in levels:
        ax.axhline(1 - ENDPOINTS[name], color="k", lw=0.8, ls="--")
        ax.annotate(name, (steps[-1], 1 - ENDPOINTS[name]), fontsize=7, va="bottom",
                    ha="right")
    ax.set_ylim(-0.3, 1.2)
    n = len(next(iter(rows.values())))
    ax.set(xlabel="optimiser step", ylabel="(val risk − R_d) / (R_BS − R_d)",
           title=f"{title}: median over {n} seeds (band: quartiles)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_mask_structure(structure: MaskStructure) -> plt.Figure:
    """Density of each layer against the sparsity; overlap of different seeds' masks against
    random masks of the same densities, and of consecutive sparsities of one seed."""
    levels = structure.levels
    x = np.array([lv.sparsity for lv in levels])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for i, (name, size) in enumerate(structure.layer_sizes.items()):
        _errorbars(axes[0], x, [lv.layer_density[name] for lv in levels], fmt="o-",
                   color=f"C{i}", label=f"{name.split('.')[1]} ({size} weights)")
    axes[0].plot(x, 1 - x, "k--", lw=1, label="overall density")
    axes[0].set(xlabel="sparsity", ylabel="density kept", yscale="log",
                title="Density per layer (one-shot masks of θ*; bars: range over seeds)")
    axes[0].yaxis.set_major_locator(plt.LogLocator(subs=(1, 2, 5)))
    axes[0].yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.3g}%"))
    axes[0].yaxis.set_minor_formatter(plt.NullFormatter())
    _errorbars(axes[1], x, [lv.overlap_between_seeds for lv in levels], fmt="o-",
               color=COLORS["deep_hedge"], label="masks of different seeds")
    axes[1].plot(x, [lv.random_overlap for lv in levels], "k--", lw=1,
                 label="random masks, same layer densities")
    nest = structure.nesting
    axes[1].plot([n.high for n in nest], [n.overlap.mean for n in nest], "s:",
                 color=COLORS["min_variance_delta"],
                 label="same seed, previous sparsity (nested)")
    axes[1].set(xlabel="sparsity", ylabel="Jaccard overlap", title="Mask overlap")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_input_importance(structure: MaskStructure) -> plt.Figure:
    """Per input feature of the first layer: the share of its connections kept and its share
    of the kept weight mass, against the sparsity (mean and range over seeds)."""
    levels = structure.levels
    x = np.array([lv.sparsity for lv in levels])
    names = list(levels[0].inputs)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    axes[0].plot(x, 1 - x, "k--", lw=1, label="overall density")
    for ax, key, title in ((axes[0], "kept_fraction", "connections kept"),
                           (axes[1], "mass_share", "share of the kept |w| mass")):
        for i, name in enumerate(names):
            _errorbars(ax, x + (i - 1.5) * 0.004,
                       [getattr(lv.inputs[name], key) for lv in levels],
                       fmt="o-", color=f"C{i}", label=name)
        ax.set(xlabel="sparsity", ylabel=title, title=f"First layer: {title} per input")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_hedge_vs_sparsity(hedge: Hedge) -> plt.Figure:
    """Test CVaR 5 % and the positions' RMS distance from the dense network and from the
    min-variance delta against the remaining weights."""
    rows = hedge.results
    remaining = np.array([100 * (1 - r.sparsity) for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    values, err = _with_errors([r.cvar_05 for r in rows], [r.cvar_05_ci for r in rows])
    axes[0].errorbar(remaining, values, yerr=err, fmt="o-", color=COLORS["deep_hedge"],
                     capsize=3, label="ticket")
    axes[0].axhline(hedge.dense.cvar_05, color="k", ls="-", lw=1, label="dense deep hedge")
    axes[0].axhline(hedge.min_variance_delta.cvar_05, color=COLORS["min_variance_delta"],
                    ls="--", lw=1, label=LABELS["min_variance_delta"])
    axes[0].set(ylabel="test CVaR 5% (lower is better)", title="Risk against sparsity")
    axes[1].plot(remaining, [r.position_rms_vs_dense for r in rows], "o-",
                 color=COLORS["deep_hedge"], label="ticket vs dense network")
    axes[1].plot(remaining, [r.position_rms_vs_min_variance for r in rows], "s-",
                 color=COLORS["min_variance_delta"], label="ticket vs min-variance delta")
    axes[1].axhline(hedge.dense.position_rms_vs_min_variance, color="k", lw=1, ls="--",
                    label="dense network vs min-variance delta")
    axes[1].set(ylabel="RMS position difference (shares)", title="Positions against sparsity")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(remaining, [f"{v:.3g}" for v in remaining], minor=False)
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.invert_xaxis()
        ax.set_xlabel("remaining weights (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_ticket_weights(weights: dict[str, torch.Tensor], sparsity: float) -> plt.Figure:
    """Left: the kept weights' values in θ* against θ0 and against the trained ticket (on
    the diagonal: equal). Right: |θ0| of the kept and of the pruned weights."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    star = weights["theta_star"].numpy()
    axes[0].scatter(star, weights["theta0"].numpy(), s=3, alpha=0.4, color="#6b7280",
                    label="θ0 (start)")
    axes[0].scatter(star, weights["trained"].numpy(), s=3, alpha=0.4,
                    color=COLORS["deep_hedge"], label="trained ticket")
    lim = float(np.abs(star).max()) * 1.05
    axes[0].plot([-lim, lim], [-lim, lim], "k--", lw=1)
    axes[0].set(xlabel="weight in θ*", ylabel="weight", xlim=(-lim, lim),
                title=f"Kept weights at {sparsity:.0%}: θ0 and the trained ticket vs θ*")
    axes[0].legend(fontsize=8, markerscale=4)
    kept, pruned = weights["theta0"].abs().numpy(), weights["theta0_pruned"].abs().numpy()
    bins = np.linspace(0, max(kept.max(), pruned.max()), 60)
    axes[1].hist(pruned, bins=bins, density=True, alpha=0.5, color="#6b7280", label="pruned")
    axes[1].hist(kept, bins=bins, density=True, alpha=0.5, color=COLORS["deep_hedge"],
                 label="kept")
    axes[1].set(xlabel="|θ0|", ylabel="density", title="Initial magnitude of kept and pruned")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_imp(imp: Imp, labels: list[str]) -> plt.Figure:
    """One-shot vs IMP (each rewound to θ0 or an early epoch): normalised validation risk
    over steps (first seed) and test CVaR 5 % with each seed's bootstrap interval."""
    fig, (ax, ax_c) = plt.subplots(1, 2, figsize=(13, 4.5))
    for i, (v, label) in enumerate(zip(imp.variants, labels)):
        steps, curves = _normalised(v.rows, imp.references)
        ax.plot(steps, curves[0], "-" if v.method == "IMP" else ":", color=f"C{i}",
                label=label)
        for r in v.rows:
            lo, hi = r.cvar_05_ci
            ax_c.errorbar([i], [r.cvar_05], yerr=[[r.cvar_05 - lo], [hi - r.cvar_05]],
                          fmt="o", capsize=3, color=f"C{i}")
    ax.axhline(0.1, color="k", lw=0.8, ls="--", label="T90 level")
    ax.set_ylim(-0.3, 1.2)
    ax.set(xlabel="optimiser step", ylabel="(val risk − R_d) / (R_BS − R_d)",
           title=f"Sparsity {imp.sparsity:.0%}, LR {imp.learning_rate:g} (exploratory)")
    ax.legend(fontsize=8)
    ax_c.set_xticks(range(len(labels)), labels, rotation=15, fontsize=8)
    ax_c.set(ylabel="test CVaR 5%", title="Test risk (bars: bootstrap interval per seed)")
    for a in (ax, ax_c):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- the search

# a search point's field, the rule's list of its levels, the panel's title
FACTORS = (("construction", "constructions", "construction"), ("mask_lr", "mask_lrs", "θ* LR"),
           ("learning_rate", "learning_rates", "retraining LR"), ("warmup", "warmups", "warmup"),
           ("decay", "decays", "decay"), ("sparsity", "sparsities", "sparsity"),
           ("width", "widths", "width"))
ROUND_COLORS = ("#9ca3af", "#2563eb", "#dc2626", "#111827")


def plot_search_map(found: Search) -> plt.Figure:
    """The search's speed-up map: one panel per factor, every sampled cell at its level —
    each seed's speed-up (dots) and the cell's geometric mean (a marker coloured by the last
    round it ran in; hollow where its ticket does not match the dense network)."""
    fig, axes = plt.subplots(2, 4, figsize=(18, 8), sharey=True)
    rng = np.random.default_rng(0)  # jitter only: where the dots sit sideways
    rounds = len(found.rule["seeds"])
    for ax, (field, key, title) in zip(axes.flat, FACTORS):
        levels = list(found.rule[key])
        for x in found.tickets:
            i = levels.index(getattr(x.point, field))
            ratios = np.exp(x.paired.endpoint.log_ratios)
            ax.plot(i + rng.uniform(-0.15, 0.15, len(ratios)), ratios, ".", color="#9ca3af",
                    ms=3, alpha=0.7)
            color = ROUND_COLORS[min(x.round, len(ROUND_COLORS) - 1)]
            ax.plot(i, x.paired.endpoint.speedup, "o", ms=7, color=color,
                    mfc=color if x.matches else "none")
        ax.axhline(1, color="k", lw=1)
        ax.set_xticks(range(len(levels)), [f"{v:g}" if isinstance(v, float) else str(v)
                                           for v in levels], rotation=20, fontsize=8)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    speedup_axis(axes.flat[0])
    for ax in axes[:, 0]:
        ax.set_ylabel(f"ticket speed-up at {found.endpoint}")
    legend = axes.flat[-1]
    legend.axis("off")
    for r in range(rounds):
        legend.plot([], [], "o", color=ROUND_COLORS[min(r, 3)],
                    label=f"cell mean, last round {r + 1} ({found.rule['seeds'][r]} seeds)")
    legend.plot([], [], "o", mfc="none", color="k", label="hollow: the ticket does not match")
    legend.plot([], [], ".", color="#9ca3af", label="one seed")
    legend.legend(loc="center", fontsize=9)
    sampled = sum(x.point.width == found.rule["widths"][0] for x in found.tickets)
    extra = len(found.tickets) - sampled
    fig.suptitle(f"Search (exploratory): ticket vs dense from θ0 on its schedule, {sampled} "
                 f"sampled cells" + (f" and {extra} survivor at a further width" if extra else ""),
                 y=1.0)
    fig.tight_layout()
    return fig
