"""Lottery-ticket cells: which mask, which initialisation, how it is retrained — trained
together, each stored on its own.

A cell is (kind, sparsity, retraining learning rate, seed, mask learning rate, IMP rounds,
rewind epoch) and how it is retrained (warmup, data order; ``stages.Plan``), and
the ranking of its mask (``scope``; None: ``pruning.scope``). Its kind (``KINDS``):

- ``ticket``: the mask from θ* (the dense network trained from θ0(seed) at the mask learning
  rate, on the seed's own data order), applied to θ0 — or, with ``rewind_epoch`` k, to the
  dense weights after epoch k;
- ``reinit``: the same mask on a fresh initialisation (random re-init control);
- ``random_mask``: a random mask with the same per-layer density on the ticket's
  initialisation (random mask control);
- ``rescaled_mask``: the same random mask with its kept weights rescaled to the ticket's
  kept norm in every layer (the ticket keeps large |θ0| weights; a plain random mask keeps a
  typical sample), so that it differs from the ticket only in which weights it keeps;
- ``init_magnitude``: the largest |θ0| in every layer, as many as the ticket keeps there
  (magnitude pruning at initialisation), on θ0: what the mask would be without training —
  whatever the ticket does beyond it comes from θ*;
- ``permuted``: the ticket's mask on θ0's kept weights permuted within each layer (Vischer
  et al. 2022): does the ticket's initialisation matter beyond its mask and the values it
  keeps?

On the "replay" data order (the default) a cell trains on the minibatch order of the θ* that
made its mask; on the "fresh" order it does not (``stages.data_order_seed``).

The dense network from θ0 trained the same way is the comparator (``dense_spec``). With
``rounds`` R > 1 the mask comes from iterative magnitude pruning: R rounds at the per-round
rate p = 1 − (1 − s)^{1/R}, each round retraining the previous round's ticket (at the mask
learning rate) and pruning p of what remains. Every cell is a stored stage; missing cells
train together as stacks (``fit_ensemble``) and are saved as each one finishes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..foundations.config import Config
from ..foundations.store import Store
from ..nets.losses import risk_measure
from ..nets.model import create_model
from ..nets.pruning import (
    SCOPES,
    Mask,
    apply_mask,
    imp_round,
    magnitude_like,
    magnitude_mask,
    permute_kept,
    random_mask,
    rescale_kept,
    sparsity_report,
)
from ..nets.runtime import provenance
from ..nets.train import TrainResult, steps_per_epoch
from .stages import (
    DenseSpec,
    Plan,
    deep_hedge_pnl,
    derived_seed,
    fit_stacks,
    load_model,
    load_split,
    network,
    open_store,
    train_dense_runs,
    training_key,
)


@dataclass(frozen=True)
class Arm:
    """A kind of cell: what it trains beside the ticket. ``mask(cell, ticket, theta0)`` makes
    its mask from the ticket's mask (``ticket_mask``) and θ0; ``init(config, cell, start,
    mask, ticket)`` its initial weights from ``start`` (θ0, or the rewind point)."""

    label: str
    mask: Callable[[Cell, Mask, dict], Mask]
    init: Callable[[Config, Cell, dict, Mask, Mask], dict]


def _the_ticket(cell: Cell, ticket: Mask, theta0: dict) -> Mask:
    return ticket


def _random(cell: Cell, ticket: Mask, theta0: dict) -> Mask:
    """The ticket's per-layer counts at random positions (one mask for both random arms)."""
    return random_mask(ticket, torch.Generator().manual_seed(random_mask_seed(cell)))


def _largest_at_init(cell: Cell, ticket: Mask, theta0: dict) -> Mask:
    """The ticket's per-layer counts, the largest |θ0|."""
    return magnitude_like(theta0, ticket)


def _start(config: Config, cell: Cell, start: dict, mask: Mask, ticket: Mask) -> dict:
    return start


def _reinit(config: Config, cell: Cell, start: dict, mask: Mask, ticket: Mask) -> dict:
    return reinit_state(config, cell.seed)


def _rescaled(config: Config, cell: Cell, start: dict, mask: Mask, ticket: Mask) -> dict:
    return rescale_kept(start, mask, ticket)


def _permuted(config: Config, cell: Cell, start: dict, mask: Mask, ticket: Mask) -> dict:
    seed = derived_seed("permuted", cell.seed, cell.sparsity, cell.learning_rate, cell.mask_lr)
    return permute_kept(start, mask, torch.Generator().manual_seed(seed))


# the registry of cell kinds (``KINDS``; the ticket and the controls trained beside it): a
# new control arm is its functions above and one line here
ARMS: dict[str, Arm] = {
    "ticket": Arm("ticket", _the_ticket, _start),
    "reinit": Arm("random re-init", _the_ticket, _reinit),
    "random_mask": Arm("random mask", _random, _start),
    "rescaled_mask": Arm("rescaled random mask", _random, _rescaled),
    "init_magnitude": Arm("magnitude at θ0", _largest_at_init, _start),
    "permuted": Arm("permuted init", _the_ticket, _permuted),
}
# the comparators that are dense networks (``judging``, ``pilot``), not cells
DENSE_ARMS = {"dense": "dense from θ0", "best_dense": "dense at its best schedule",
              "small_dense": "small dense"}
KIND_LABELS = {**{kind: arm.label for kind, arm in ARMS.items()}, **DENSE_ARMS}
KINDS = tuple(ARMS)
COMPARATORS = tuple(k for k in KIND_LABELS if k not in ("ticket", "best_dense"))  # the pilot's


@dataclass(frozen=True)
class Cell:
    kind: str  # one of KINDS
    sparsity: float  # fraction of prunable weights removed
    learning_rate: float  # retraining learning rate
    seed: int  # θ0 (and the dense network θ* whose weights make the mask)
    mask_lr: float  # the learning rate that trained θ*
    rounds: int = 1  # 1: one-shot pruning of θ*; R > 1: IMP
    rewind_epoch: int = 0  # 0: retrain from θ0; k: from the dense weights after epoch k
    warmup_steps: int = 0  # retraining: linear warmup from warmup_from (``Schedule``)
    warmup_from: float = 0.0
    data_order: str = "replay"  # retraining: θ*'s data order, or a "fresh" one
    scope: str | None = None  # magnitude ranking, "global" or "layer" (None: pruning.scope)
    decay: str = "constant"  # retraining: the rate after the warmup (``Schedule``)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"cell kind = {self.kind!r} is invalid: allowed {KINDS}")
        if not 0 < self.sparsity < 1:
            raise ValueError(f"cell sparsity = {self.sparsity!r} is invalid: allowed (0, 1)")
        if self.rounds < 1 or self.rewind_epoch < 0:
            raise ValueError(f"cell rounds = {self.rounds}, rewind_epoch = "
                             f"{self.rewind_epoch}: allowed rounds >= 1, rewind_epoch >= 0")
        if self.scope is not None and self.scope not in SCOPES:
            raise ValueError(f"cell scope = {self.scope!r} is invalid: allowed "
                             f"{tuple(SCOPES)} or None")
        self.plan()  # checks warmup and data order

    def plan(self) -> Plan:
        """How the cell is retrained."""
        return Plan(self.learning_rate, self.seed, self.warmup_steps, self.warmup_from,
                    self.data_order, decay=self.decay)

    def dense(self, cost: float) -> DenseSpec:
        """The comparator: the dense network from θ0 retrained exactly as the cell is."""
        return DenseSpec(cost, self.plan())

    @property
    def construction(self) -> str:
        """How its ticket's mask is made: a name of ``CONSTRUCTIONS``."""
        return "IMP" if self.rounds > 1 else "one-shot"

    @property
    def round_rate(self) -> float:
        """The IMP per-round rate p: R rounds of p reach the sparsity, (1 − p)^R = 1 − s."""
        return 1 - (1 - self.sparsity) ** (1 / self.rounds)

    def parent(self) -> Cell | None:
        """IMP: the previous round's ticket, retrained at the mask learning rate."""
        if self.rounds == 1:
            return None
        return Cell("ticket", 1 - (1 - self.round_rate) ** (self.rounds - 1), self.mask_lr,
                    self.seed, self.mask_lr, self.rounds - 1, self.rewind_epoch,
                    scope=self.scope)

    def as_ticket(self) -> Cell:
        return replace(self, kind="ticket")


def imp_cell(config: Config, kind: str, sparsity: float, learning_rate: float, seed: int,
             rewind_epoch: int = 0) -> Cell:
    """A cell pruned iteratively in ``pruning.imp_rounds`` rounds from θ* trained at
    ``learning_rate`` (every round retrained at it, from ``rewind_epoch``)."""
    return Cell(kind, sparsity, learning_rate, seed, learning_rate, config.pruning.imp_rounds,
                rewind_epoch)


@dataclass
class CellResult:
    cell: Cell
    state: dict  # best validation weights (the initialisation if it diverged at once)
    mask: Mask
    history: list[dict]
    summary: dict  # training summary, sparsity report, test risk
    test_pnl: torch.Tensor
    folder: Path


def cell_key(config: Config, cell: Cell) -> str:
    """The cell's stage key: its fields (those at their defaults left out, so that a new
    field with a default leaves every key as it was) and the pruning settings it uses."""
    p = config.pruning
    extra = {"rescale": "ticket_norm"} if cell.kind == "rescaled_mask" else {}
    fields = {f.name: getattr(cell, f.name) for f in dataclasses.fields(cell)
              if f.name != "scope" and (f.default is dataclasses.MISSING
                                        or getattr(cell, f.name) != f.default)}
    return training_key(config, "ticket", cell=fields, scope=mask_scope(config, cell),
                        output_rate=p.output_rate, **extra)


def mask_scope(config: Config, cell: Cell) -> str:
    return cell.scope or config.pruning.scope


def run_cells(config: Config, cells: list[Cell], store: Store | None = None) -> list[CellResult]:
    """Every cell's result, training what the store lacks (dependencies first: the θ* of
    every mask; the dense comparators are the caller's, ``Cell.dense``)."""
    store = store or open_store(config)
    needed = _with_dependencies(cells)
    sources = list(dict.fromkeys(DenseSpec(config.hedging.cost, Plan(c.mask_lr, c.seed))
                                 for c in needed))
    dense = {(s.seed, s.learning_rate): run
             for s, run in zip(sources, train_dense_runs(config, sources, store))}
    rewinds = _rewind_points(config, needed, store)
    for rounds in sorted({c.rounds for c in needed}):  # round r's masks need round r − 1
        todo = [c for c in needed if c.rounds == rounds
                and store.load("ticket", cell_key(config, c)) is None]
        _train(config, todo, dense, rewinds, store)
    return [load_cell(config, c, store) for c in cells]


def load_cell(config: Config, cell: Cell, store: Store) -> CellResult:
    key = cell_key(config, cell)
    files = store.load("ticket", key)
    if files is None:
        raise ValueError(f"{cell} has not been trained (run_cells trains it)")
    return CellResult(cell, files["state.pt"], files["mask.pt"], files["history.json"],
                      files["summary.json"], files["test_pnl.pt"], store.stage_dir("ticket", key))


def _with_dependencies(cells: list[Cell]) -> list[Cell]:
    """The cells and, for IMP, the earlier rounds' tickets their masks come from (a one-shot
    control needs only θ*: its mask is the ticket's, recomputed, not the trained ticket)."""
    out: dict[Cell, None] = {}
    for cell in cells:
        chain = [cell]
        while chain[-1].parent() is not None:
            chain.append(chain[-1].parent())
        for c in reversed(chain):
            out[c] = None
    return list(out)


def _rewind_points(config: Config, cells: list[Cell], store: Store) -> dict:
    """The dense weights after epoch k for each (seed, mask_lr, k > 0): a short stored run."""
    points = {}
    for seed, lr, k in sorted({(c.seed, c.mask_lr, c.rewind_epoch) for c in cells
                               if c.rewind_epoch > 0}):
        key = training_key(config, "rewind", seed=seed, learning_rate=lr, epoch=k)

        def compute(seed=seed, lr=lr, k=k) -> dict:
            out = {}
            init = create_model(config, seed).state_dict()
            step = k * steps_per_epoch(config.data.n_paths["train"], config.training.batch_size)
            fit_stacks(config, [network(config, init, None, Plan(lr, seed, budget=step))],
                       cost=config.hedging.cost, snapshot_step=step,
                       on_done=lambda i, result: out.update({"state.pt": result.snapshot}))
            return out

        points[(seed, lr, k)] = store.cached("rewind", key, compute)[0]["state.pt"]
    return points


def one_shot_mask(config: Config, theta_star: dict, sparsity: float,
                  scope: str | None = None) -> Mask:
    """The ticket's mask: magnitude pruning of θ* ranked as ``scope`` (None:
    ``pruning.scope``) says, the output layer at ``pruning.output_rate``."""
    p = config.pruning
    return magnitude_mask(theta_star, sparsity, scope=scope or p.scope,
                          output_rate=p.output_rate)


def random_mask_seed(cell: Cell) -> int:
    """The seed of a (rescaled) random mask cell's mask, from named fields (those Cell had
    when it was written, in order), so that a new field leaves every random mask as it was."""
    return derived_seed("random_mask", "random_mask", cell.sparsity, cell.learning_rate,
                        cell.seed, cell.mask_lr, cell.rounds, cell.rewind_epoch)


@dataclass(frozen=True)
class Construction:
    """How a ticket's mask is made: ``mask(config, cell, dense, store)`` from the θ* of
    ``dense`` ((seed, mask LR) → ``DenseRun``) or from cells the store holds (``Cell.parent``,
    trained first). The ranking inside a round is the cell's scope (``pruning.SCOPES``)."""

    label: str
    mask: Callable[[Config, Cell, dict, Store], Mask]


def _one_shot(config: Config, cell: Cell, dense: dict, store: Store) -> Mask:
    return one_shot_mask(config, dense[(cell.seed, cell.mask_lr)].theta_star, cell.sparsity,
                         cell.scope)


def _imp(config: Config, cell: Cell, dense: dict, store: Store) -> Mask:
    trained = load_cell(config, cell.parent(), store)
    return imp_round(trained.state, trained.mask, cell.round_rate,
                     scope=mask_scope(config, cell), output_rate=config.pruning.output_rate)


# the registry of ticket constructions (``Cell.construction`` names one): a new one is its
# function above, one line here and the cell field that selects it
CONSTRUCTIONS: dict[str, Construction] = {
    "one-shot": Construction("one-shot magnitude pruning of θ*", _one_shot),
    "IMP": Construction("iterative magnitude pruning: one more round on the previous round's "
                        "trained ticket, rewound", _imp),
}


def ticket_mask(config: Config, cell: Cell, dense: dict, store: Store) -> Mask:
    """The mask of the ticket of ``cell``, as its construction makes it."""
    return CONSTRUCTIONS[cell.construction].mask(config, cell, dense, store)


def cell_mask(cell: Cell, ticket: Mask, dense: dict) -> Mask:
    """The cell's mask, from its ticket's (``ticket_mask``) as its arm says."""
    return ARMS[cell.kind].mask(cell, ticket, dense[(cell.seed, cell.mask_lr)].theta0)


def reinit_state(config: Config, seed: int) -> dict:
    """The random re-init control's initialisation for ``seed`` (a stream of its own)."""
    return create_model(config, derived_seed("reinit", seed)).state_dict()


def cell_init(config: Config, cell: Cell, dense: dict, rewinds: dict, mask: Mask,
              ticket: Mask) -> dict:
    """The cell's initial weights (θ0, or the rewind point, as its arm says)."""
    start = (rewinds[(cell.seed, cell.mask_lr, cell.rewind_epoch)] if cell.rewind_epoch > 0
             else dense[(cell.seed, cell.mask_lr)].theta0)
    return ARMS[cell.kind].init(config, cell, start, mask, ticket)


def _train(config: Config, cells: list[Cell], dense: dict, rewinds: dict, store: Store) -> None:
    if not cells:
        return
    tickets = [ticket_mask(config, c, dense, store) for c in cells]  # once per cell
    masks = [cell_mask(c, t, dense) for c, t in zip(cells, tickets)]
    inits = [cell_init(config, c, dense, rewinds, m, t)
             for c, m, t in zip(cells, masks, tickets)]
    test, cost = load_split(config, "test"), config.hedging.cost

    def save(i: int, result: TrainResult) -> None:
        cell, mask = cells[i], masks[i]
        state = result.best_state if result.best_state is not None else inits[i]
        model = load_model(config, state, cost=cost)
        apply_mask(model, mask)  # a diverged cell keeps its masked initialisation
        pnl = deep_hedge_pnl(model, test, cost)
        summary = {**result.summary(), "cell": asdict(cell), "mask": sparsity_report(mask),
                   "provenance": provenance(config),
                   "test_risk": float(risk_measure(pnl, config))
                   if result.best_state is not None else math.nan}
        store.save("ticket", cell_key(config, cell), {
            "state.pt": model.state_dict(), "mask.pt": mask, "history.json": result.history,
            "summary.json": summary, "test_pnl.pt": pnl})

    fit_stacks(config, [network(config, init, mask, c.plan())
                        for init, mask, c in zip(inits, masks, cells)], cost=cost, on_done=save)
