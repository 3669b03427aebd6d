"""The deep-hedging network: one MLP applied at every hedging date.

With transaction costs the network is semi-recurrent: the previous position δ_{t−1} is an
input, so it can learn not to trade; it runs one date at a time (without costs, every date
at once).
"""

from __future__ import annotations

import torch
from torch import nn

from ..foundations.config import Config
from ..market.pricing import bs_price

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}


class DeepHedgingNetwork(nn.Module):
    """``forward(features) -> (deltas, y)``.

    Shape: features (N, n_steps, n_features) → deltas (N, n_steps) for one instrument, or
    (N, n_steps, n_instruments) for several; y is a scalar: the learned OCE level (at the
    optimum of the CVaR loss, the VaR of the hedged loss). A semi-recurrent network reads
    its previous position in every instrument. Prunable weights are the ``nn.Linear``
    weights of ``layers`` (never biases, never y).
    """

    def __init__(self, n_features: int, hidden: tuple[int, ...], *, recurrent: bool,
                 activation: str = "relu", y_init: float = 0.0, n_instruments: int = 1):
        super().__init__()
        self.recurrent, self.n_instruments = recurrent, n_instruments
        widths = [n_features + recurrent * n_instruments, *hidden, n_instruments]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.act = ACTIVATIONS[activation]()
        self.y = nn.Parameter(torch.tensor(float(y_init)))

    def tail(self, h: torch.Tensor) -> torch.Tensor:
        """Every layer after the first's pre-activation; returns the position."""
        for layer in self.layers[1:]:
            h = layer(self.act(h))
        return h.squeeze(-1) if self.n_instruments == 1 else h

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.layers[0]
        if not self.recurrent:
            return self.tail(first(features)), self.y
        prev = features.new_zeros(features.shape[0], self.n_instruments)
        deltas = []
        for x_t in features.unbind(1):  # the positions held before are the last inputs
            deltas.append(self.tail(first(torch.cat([x_t, prev], dim=-1))))
            prev = deltas[-1].reshape(prev.shape)
        return torch.stack(deltas, dim=1), self.y


def create_model(config: Config, seed: int | None = None, *, cost: float | None = None,
                 n_features: int = 3) -> DeepHedgingNetwork:
    """θ0 from ``torch.Generator(seed)`` (default ``model.init_seed``), never the global RNG.

    The network is semi-recurrent when the cost it is trained at (default ``hedging.cost``)
    is positive; it has one output per instrument of ``hedging.instruments``. y starts at
    the Black–Scholes price at √v0: a constant of the model, close to where the OCE level
    ends, so that it need not crawl there at the learning rate.
    """
    cost = config.hedging.cost if cost is None else cost
    h, d = config.data.heston, config.data
    y_init = float(bs_price(h.S0, h.K, d.T, h.v0**0.5, h.r))
    with torch.random.fork_rng(devices=[]):  # nn.Linear draws from the global RNG: undo it
        model = DeepHedgingNetwork(n_features, tuple(config.model.hidden), recurrent=cost > 0,
                                   activation=config.model.activation, y_init=y_init,
                                   n_instruments=len(config.hedging.instruments))
    generator = torch.Generator().manual_seed(config.model.init_seed if seed is None else seed)
    with torch.no_grad():
        for layer in model.layers:  # PyTorch's default (Kaiming-uniform) with our generator
            bound = 1 / layer.in_features**0.5
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    return model


@torch.no_grad()
def hedge_ratio(model: DeepHedgingNetwork, features: torch.Tensor,
                prev: torch.Tensor | None = None) -> torch.Tensor:
    """The network's position at single states: features (..., F), prev (...) → (...), or
    with several instruments prev (..., I) → (..., I).

    For a semi-recurrent network ``prev`` is the position held before (required).
    """
    if model.recurrent:
        if prev is None:
            raise ValueError("a semi-recurrent network needs the previous position 'prev'")
        prev = prev[..., None] if model.n_instruments == 1 else prev
        features = torch.cat([features, prev.to(features.dtype)], dim=-1)
    h = model.layers[0](features)
    return model.tail(h)
