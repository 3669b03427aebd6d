"""Figure functions the notebooks call; ``save_figure`` writes every figure as PDF and PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .config import resolve
from .hedges import LABELS

COLORS = {"no_hedge": "#9ca3af", "bs_delta": "#f59e0b", "heston_delta": "#10b981",
          "min_variance_delta": "#2563eb", "deep_hedge": "#dc2626"}


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


def plot_hedge_ratios(slices: dict) -> plt.Figure:
    """Network vs Heston deltas across moneyness: rows are variance levels, columns dates."""
    times, variances = slices["days_to_maturity"], slices["variances"]
    fig, axes = plt.subplots(len(variances), len(times), figsize=(4 * len(times),
                             3.2 * len(variances)), sharex=True, sharey=True, squeeze=False)
    x = slices["spot"]
    for i, var in enumerate(variances):
        for j, days in enumerate(times):
            ax = axes[i, j]
            for name, style in (("heston_delta", ":"), ("min_variance_delta", "--"),
                                ("deep_hedge", "-")):
                ax.plot(x, slices[name][i, j], style, color=COLORS[name], label=LABELS[name])
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
