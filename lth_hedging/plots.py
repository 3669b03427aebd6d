"""Figure functions the notebooks call; ``save_figure`` writes every figure as PDF and PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .config import resolve
from .hedges import LABELS, STRATEGIES
from .tickets import KIND_LABELS

COLORS = {"no_hedge": "#9ca3af", "bs_delta": "#f59e0b", "heston_delta": "#10b981",
          "min_variance_delta": "#2563eb", "deep_hedge": "#dc2626"}
KIND_COLORS = {"ticket": "#dc2626", "reinit": "#7c3aed", "random_mask": "#f59e0b",
               "dense": "#6b7280"}


def save_figure(fig: plt.Figure, name: str, figures_dir: str | Path) -> list[Path]:
    folder = resolve(figures_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{ext}" for ext in ("pdf", "png")]
    for path in paths:
        # Fixed metadata so that the same figure gives the same bytes on a rerun.
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else {"Software": None}
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=metadata)
    return paths


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
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (label, history) in enumerate(histories.items()):
        epochs = [row["epoch"] for row in history]
        color = f"C{i}"
        ax.plot(epochs, [row["train_loss"] for row in history], color=color, alpha=0.5,
                ls="--", label=f"{label} (train)")
        ax.plot(epochs, [row["val_loss"] for row in history], color=color,
                label=f"{label} (validation)")
    ax.set(xlabel="epoch", ylabel="OCE loss (money)", title="Dense deep hedge: learning curves")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


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
    """Network vs Heston deltas across moneyness: rows are variance levels, columns dates.
    Further networks in ``slices`` (``labels``: key → legend) are drawn beside the first."""
    labels = {**LABELS, **(labels or {})}
    extra = [k for k in slices if k not in (*STRATEGIES, "deep_hedge") and k in labels]
    times, variances = slices["days_to_maturity"], slices["variances"]
    fig, axes = plt.subplots(len(variances), len(times), figsize=(4 * len(times),
                             3.2 * len(variances)), sharex=True, sharey=True, squeeze=False)
    x = slices["spot"]
    for i, var in enumerate(variances):
        for j, days in enumerate(times):
            ax = axes[i, j]
            for name, style in (("heston_delta", ":"), ("min_variance_delta", "--"),
                                ("deep_hedge", "-"), *((k, "-.") for k in extra)):
                ax.plot(x, slices[name][i, j], style, color=COLORS.get(name, "k"),
                        label=labels[name])
            ax.set_title(f"{days:g} days left, $\\sqrt{{v}}$ = {var**0.5:.0%}", fontsize=9)
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("discounted spot")
    for ax in axes[:, 0]:
        ax.set_ylabel("hedge ratio")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _with_errors(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``key`` and their interval as errorbar lengths, shape (2, n)."""
    values = np.array([r[key] for r in rows])
    lo, hi = np.array([r[f"{key}_ci"] for r in rows]).T
    return values, np.stack([values - lo, hi - values])


def _epochs_or_run(row: dict) -> tuple[int, bool]:
    """Epochs to the baseline, or the run's length when it never got there (drawn hatched)."""
    e = row["epochs_to_baseline"]
    return (e, True) if e is not None else (row["epochs_run"], False)


def plot_lr_convergence(results: dict) -> plt.Figure:
    """Epochs to the baseline per retraining LR, ticket beside the dense network from θ0 at
    the same LR (hatched: never reached; the bar shows the epochs run), test CVaR on the right
    axis; the chosen LR's ticket bar outlined. Right panel: the validation curves."""
    rows = results["results"]
    x = np.arange(len(rows))
    fig, (ax, ax_c) = plt.subplots(1, 2, figsize=(14, 5))
    width = 0.38
    for offset, who, color in ((-width / 2, "ticket", COLORS["deep_hedge"]),
                               (width / 2, "dense", "#6b7280")):
        values = [_epochs_or_run(r[who]) for r in rows]
        bars = ax.bar(x + offset, [v for v, _ in values], width, color=color, alpha=0.8,
                      label="ticket" if who == "ticket" else "dense from θ0, same LR")
        for bar, (value, reached) in zip(bars, values):
            if not reached:
                bar.set_hatch("//")
                bar.set_alpha(0.35)
            ax.annotate(str(value) if reached else "NC", (bar.get_x() + bar.get_width() / 2,
                        bar.get_height()), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=9)
        if who == "ticket":
            chosen = [r["learning_rate"] for r in rows].index(results["best_lr"])
            bars[chosen].set_edgecolor("#16a34a")
            bars[chosen].set_linewidth(3)
    ax.set_xticks(x, [f"{r['learning_rate']:g}" for r in rows])
    ax.set(xlabel="retraining learning rate", ylabel="epochs to the dense baseline",
           title=f"Sparsity {results['sparsity']:.0%}: convergence (green edge: chosen LR; "
                 "NC: not reached)")
    ax2 = ax.twinx()
    cvar, err = _with_errors([r["ticket"] for r in rows], "cvar_05")
    ax2.errorbar(x, cvar, yerr=err, fmt="o-", color="#2563eb", label="ticket test CVaR 5%")
    ax2.axhline(results["baseline"]["cvar_05"], color="#2563eb", ls="--", lw=1,
                label="dense baseline CVaR 5%")
    ax2.set_ylabel("test CVaR 5% (lower is better)")
    handles = [h for a in (ax, ax2) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=8, ncol=2,
              loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)  # room for the labels above the bars
    for i, r in enumerate(rows):
        for who, style in (("ticket", "-"), ("dense", ":")):
            curve = r[who]["val_curve"]
            ax_c.plot(np.arange(1, len(curve) + 1), curve, style, color=f"C{i}",
                      label=f"{who}, LR {r['learning_rate']:g}")
    ax_c.axhline(results["baseline"]["threshold"], color="k", lw=1, ls="--",
                 label="baseline threshold")
    finite = [v for r in rows for who in ("ticket", "dense") for v in r[who]["val_curve"]
              if np.isfinite(v)]
    top = np.quantile(finite, 0.95) if finite else 1.0
    ax_c.set_ylim(min(finite + [results["baseline"]["threshold"]]) * 0.98, top)
    ax_c.set(xlabel="epoch", ylabel="validation loss", title="Validation curves")
    ax_c.legend(fontsize=7, ncol=2)
    ax_c.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_lr_grid(results: dict) -> plt.Figure:
    """Heat-map of the speed-up over (mask LR, retraining LR); blank where undefined."""
    mask_lrs = list(dict.fromkeys(g["mask_lr"] for g in results["grid"]))
    lrs = list(dict.fromkeys(g["learning_rate"] for g in results["grid"]))
    values = np.full((len(mask_lrs), len(lrs)), np.nan)
    for g in results["grid"]:
        if g["speedup"] is not None:
            values[mask_lrs.index(g["mask_lr"]), lrs.index(g["learning_rate"])] = g["speedup"]
    span = max(np.nanmax(np.abs(np.log2(values))), 0.1) if np.isfinite(values).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.6 * len(lrs) + 3, 1.1 * len(mask_lrs) + 2))
    for g in results["grid"]:
        i, j = mask_lrs.index(g["mask_lr"]), lrs.index(g["learning_rate"])
        if g["speedup"] is not None:
            text = f"{g['speedup']:.2f}×"
        else:
            text = {(True, True): "both NC", (True, False): "ticket NC",
                    (False, True): "dense NC"}[(g["epochs_to_baseline"] is None,
                                                g["dense_epochs_to_baseline"] is None)]
        dark = g["speedup"] is not None and abs(np.log2(g["speedup"])) > 0.6 * span
        ax.text(j, i, text, ha="center", va="center", fontsize=9,
                color="white" if dark else "black")
    image = ax.imshow(np.log2(values), cmap="RdBu", vmin=-span, vmax=span)
    cbar = fig.colorbar(image, ax=ax)
    cbar.set_label("log2 speed-up (dense epochs / ticket epochs)")
    ax.set_xticks(range(len(lrs)), [f"{v:g}" for v in lrs])
    ax.set_yticks(range(len(mask_lrs)), [f"{v:g}" for v in mask_lrs])
    ax.set(xlabel="retraining learning rate", ylabel="learning rate that trained θ* (mask)",
           title=f"Ticket speed-up at {results['sparsity']:.0%} sparsity (NC: not reached)")
    fig.tight_layout()
    return fig


def plot_performance_vs_sparsity(results: dict) -> plt.Figure:
    """Test CVaR and Sharpe (with intervals) against the remaining weights, the dense
    baseline and the tolerance line that decides "keeps performance"."""
    rows = results["results"]
    remaining = np.array([100 * (1 - r["sparsity"]) for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, key, title, limit in ((axes[0], "cvar_05", "test CVaR 5% (lower is better)",
                                   results["risk_level"]),
                                  (axes[1], "sharpe_ratio", "Sharpe (premium charged)",
                                   results["sharpe_level"])):
        values, err = _with_errors(rows, key)
        ax.errorbar(remaining, values, yerr=err, fmt="o-", color=COLORS["deep_hedge"],
                    label=f"ticket (LR {results['learning_rate']:g})")
        ax.axhline(results["baseline"][key], color="k", lw=1.5, label="dense baseline")
        ax.axhline(limit, color="k", lw=1, ls="--",
                   label=f"tolerance ({results['baseline']['tolerance']:.0%})")
        ax.set_xscale("log")
        ax.set_xticks(remaining, [f"{v:.3g}" for v in remaining], minor=False)
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.invert_xaxis()
        ax.set(xlabel="remaining weights (%)", ylabel=title, title=title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- notebook 03


def _interval(d: dict) -> tuple[float, list[float]]:
    """Mean and errorbar lengths of a mean over seeds, its interval or its range (zero
    lengths without either)."""
    lo, hi = d["range"] if "range" in d else d["ci"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return d["mean"], [0.0, 0.0]
    return d["mean"], [d["mean"] - lo, hi - d["mean"]]


def _errorbars(ax, x, stats: list[dict], **kwargs) -> None:
    means, errs = zip(*(_interval(d) for d in stats))
    ax.errorbar(x, means, yerr=np.array(errs).T, capsize=3, **kwargs)


def plot_controls(results: dict) -> plt.Figure:
    """Test CVaR 5 % and epochs to the baseline (mean and interval over seeds) of the ticket,
    both controls and the dense network from θ0, at each sparsity ("NC": not every seed
    reached the baseline; its mean is undefined)."""
    levels = results["levels"]
    x = np.arange(len(levels))
    kinds = ("ticket", "reinit", "random_mask", "dense")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for k, who in enumerate(kinds):
        offset = (k - 1.5) * 0.12
        _errorbars(axes[0], x + offset, [lv[who]["cvar_05"] for lv in levels], fmt="o",
                   color=KIND_COLORS[who], label=KIND_LABELS[who])
        _errorbars(axes[1], x + offset, [lv[who]["epochs_to_baseline"] for lv in levels],
                   fmt="o", color=KIND_COLORS[who], label=KIND_LABELS[who])
        for i, lv in enumerate(levels):
            if lv[who]["reached"] < len(lv[who]["seeds"]):
                axes[1].annotate(f"NC {lv[who]['reached']}/{len(lv[who]['seeds'])}",
                                 (x[i] + offset, 0), xytext=(0, 4), textcoords="offset points",
                                 rotation=90, fontsize=7, color=KIND_COLORS[who])
    n = len(results["seeds"])
    for ax, title in ((axes[0], "test CVaR 5% (lower is better)"),
                      (axes[1], "epochs to the dense baseline")):
        ax.set_xticks(x, [f"{lv['sparsity']:.0%}" for lv in levels])
        ax.set_xlim(-0.5, len(levels) - 0.5)
        ax.set(xlabel="sparsity", ylabel=title,
               title=f"{title}: mean and {results['confidence']:.0%} interval over {n} seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[1].set_ylim(bottom=0)
    fig.tight_layout()
    return fig


def _relative_curves(rows: list[dict], baselines: dict[int, float]) -> np.ndarray:
    """Validation curves relative to each seed's baseline, (val − best) / |best|, cut to the
    shortest run (every seed present at every plotted epoch)."""
    n = min(len(r["val_curve"]) for r in rows)
    return np.array([[(v - baselines[r["seed"]]) / abs(baselines[r["seed"]])
                      for v in r["val_curve"][:n]] for r in rows])


def _curve_band(ax, curves: np.ndarray, color: str, label: str, style: str = "-") -> None:
    epochs = np.arange(1, curves.shape[1] + 1)
    ax.plot(epochs, curves.mean(0), style, color=color, label=label)
    ax.fill_between(epochs, curves.min(0), curves.max(0), color=color, alpha=0.15, lw=0)


def plot_convergence(results: dict, sparsity: float) -> plt.Figure:
    """Validation loss over epochs relative to each seed's dense baseline (mean over seeds,
    band: min to max) of the ticket, both controls and the dense network from θ0."""
    level = next(lv for lv in results["levels"] if lv["sparsity"] == sparsity)
    best = {b["seed"]: b["best_val_loss"] for b in results["baselines"]}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    tops, bottoms = [], []
    for who in ("ticket", "reinit", "random_mask", "dense"):
        curves = _relative_curves(level[who]["seeds"], best)
        _curve_band(ax, curves, KIND_COLORS[who], KIND_LABELS[who],
                    ":" if who == "dense" else "-")
        tops.append(np.nanquantile(curves, 0.9))
        bottoms.append(np.nanmin(curves))
    ax.axhline(results["tolerance"], color="k", lw=1, ls="--", label="reached (tolerance)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylim(min(-0.02, min(bottoms) - 0.01), max(0.1, min(max(tops), 1.0)))
    ax.set(xlabel="epoch", ylabel="validation loss − baseline best (relative)",
           title=f"Sparsity {sparsity:.0%}, LR {results['learning_rate']:g}: mean over "
                 f"{len(results['seeds'])} seeds (band: min–max)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_mask_structure(structure: dict) -> plt.Figure:
    """Density of each layer against the sparsity; overlap of different seeds' masks against
    random masks of the same densities, and of consecutive sparsities of one seed."""
    levels = structure["levels"]
    x = np.array([lv["sparsity"] for lv in levels])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for i, name in enumerate(structure["layer_sizes"]):
        _errorbars(axes[0], x, [lv["layer_density"][name] for lv in levels], fmt="o-",
                   color=f"C{i}", label=f"{name.split('.')[1]} "
                   f"({structure['layer_sizes'][name]} weights)")
    axes[0].plot(x, 1 - x, "k--", lw=1, label="overall density")
    axes[0].set(xlabel="sparsity", ylabel="density kept", yscale="log",
                title="Density per layer (one-shot masks of θ*; bars: range over seeds)")
    _errorbars(axes[1], x, [lv["overlap_between_seeds"] for lv in levels], fmt="o-",
               color=COLORS["deep_hedge"], label="masks of different seeds")
    axes[1].plot(x, [lv["random_overlap"] for lv in levels], "k--", lw=1,
                 label="random masks, same layer densities")
    nest = structure["nesting"]
    axes[1].plot([n["to"] for n in nest], [n["overlap"]["mean"] for n in nest], "s:",
                 color=COLORS["min_variance_delta"],
                 label="same seed, previous sparsity (nested)")
    axes[1].set(xlabel="sparsity", ylabel="Jaccard overlap", title="Mask overlap")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_input_importance(structure: dict) -> plt.Figure:
    """Per input feature of the first layer: the share of its connections kept and its share
    of the kept weight mass, against the sparsity (mean and range over seeds)."""
    levels = structure["levels"]
    x = np.array([lv["sparsity"] for lv in levels])
    names = list(levels[0]["inputs"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    axes[0].plot(x, 1 - x, "k--", lw=1, label="overall density")
    for ax, key, title in ((axes[0], "kept_fraction", "connections kept"),
                           (axes[1], "mass_share", "share of the kept |w| mass")):
        for i, name in enumerate(names):
            _errorbars(ax, x + (i - 1.5) * 0.004, [lv["inputs"][name][key] for lv in levels],
                       fmt="o-", color=f"C{i}", label=name)
        ax.set(xlabel="sparsity", ylabel=title, title=f"First layer: {title} per input")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_hedge_vs_sparsity(hedge: dict) -> plt.Figure:
    """Test CVaR 5 % and the positions' RMS distance from the dense network and from the
    min-variance delta against the remaining weights."""
    rows = hedge["results"]
    remaining = np.array([100 * (1 - r["sparsity"]) for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    values, err = _with_errors(rows, "cvar_05")
    axes[0].errorbar(remaining, values, yerr=err, fmt="o-", color=COLORS["deep_hedge"],
                     capsize=3, label="ticket")
    for name, style in (("dense", "-"), ("min_variance_delta", "--")):
        axes[0].axhline(hedge[name]["cvar_05"], color="k" if name == "dense" else
                        COLORS["min_variance_delta"], ls=style, lw=1,
                        label="dense deep hedge" if name == "dense" else LABELS[name])
    axes[0].set(ylabel="test CVaR 5% (lower is better)", title="Risk against sparsity")
    axes[1].plot(remaining, [r["position_rms_vs_dense"] for r in rows], "o-",
                 color=COLORS["deep_hedge"], label="ticket vs dense network")
    axes[1].plot(remaining, [r["position_rms_vs_min_variance"] for r in rows], "s-",
                 color=COLORS["min_variance_delta"], label="ticket vs min-variance delta")
    axes[1].axhline(hedge["dense"]["position_rms_vs_min_variance"], color="k", lw=1, ls="--",
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


def plot_imp(imp: dict, labels: list[str]) -> plt.Figure:
    """One-shot vs IMP (each rewound to θ0 or an early epoch): validation curves relative to
    the seed's baseline (mean over the IMP seeds, band min–max) and test CVaR 5 %."""
    best = {b["seed"]: b["best_val_loss"] for b in imp["baselines"]}
    fig, (ax, ax_c) = plt.subplots(1, 2, figsize=(13, 4.5))
    for i, (v, label) in enumerate(zip(imp["variants"], labels)):
        _curve_band(ax, _relative_curves(v["seeds"], best), f"C{i}", label,
                    "-" if v["method"] == "IMP" else ":")
        _errorbars(ax_c, [i], [v["cvar_05"]], fmt="o", color=f"C{i}")
        for r in v["seeds"]:  # each seed's bootstrap interval
            lo, hi = r["cvar_05_ci"]
            ax_c.plot([i + 0.1] * 2, [lo, hi], color=f"C{i}", alpha=0.5)
    ax.axhline(imp["tolerance"], color="k", lw=1, ls="--", label="reached (tolerance)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylim(bottom=min(-0.02, ax.get_ylim()[0]), top=0.3)
    ax.set(xlabel="epoch", ylabel="validation loss − baseline best (relative)",
           title=f"Sparsity {imp['sparsity']:.0%}, LR {imp['learning_rate']:g}")
    ax.legend(fontsize=8)
    ax_c.set_xticks(range(len(labels)), labels, rotation=15, fontsize=8)
    ax_c.set(ylabel="test CVaR 5%", title="Test risk (bars: bootstrap interval per seed)")
    for a in (ax, ax_c):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig
