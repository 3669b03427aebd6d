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
