"""How a trained network is judged, in notebooks 02 and 03 alike: the one definition of
the dense reference R_d and of the matching margins at a learning rate, and ``Judge``, which
describes a network as a typed row (speed, test metrics, the paired difference to its dense
network) beside the floor controls.

Every network is described by the measures of ``speed`` (steps to close 50/60/75/90 % of the
gap from the floor's validation risk to the dense reference R_d, AUC, best step) and by its
test metrics, paired with the dense network of the same seed and learning rate. R_d at a rate
is the one every comparison at that rate uses (``study_references``: the median over the
study's seeds). The speed-up of a ticket is T_dense / T_ticket at the registered endpoint
(``registration.endpoint``); a network that never reaches a level counts at its budget,
flagged. The matching margins (``study_margin``): one in test risk for "matches the dense
network", one in validation risk for a curve's own "matches" and best step.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

import torch

from ..foundations import code as code_sets
from ..foundations.config import Config
from ..foundations.records import Record, entry
from ..foundations.store import Store
from ..measures.metrics import Difference, compute_all_metrics, paired_difference, tails_with
from ..measures.speed import (
    ENDPOINTS,
    References,
    Speed,
    final_risk,
    reference_levels,
    speed,
)
from ..nets.losses import empirical_cvar, risk_measure
from .references import floor, floor_run, risk_statistic
from .stages import (
    DenseRun,
    Plan,
    budget_steps,
    deep_hedge_pnl,
    load_model,
    load_split,
    open_store,
    stage_key,
    train_dense_runs,
)
from .stages import dense_spec as make_dense_spec
from .tickets import CellResult

REPORTED = ("cvar_05", "sharpe_ratio", "pnl_mean", "pnl_std")
FLOORS = ("bs_delta", "min_variance_delta")  # classical hedges frozen, only y may train


@dataclass(frozen=True, kw_only=True)
class Margin(Record):
    """The matching margins in money (``study_margin``, ``confirmation.margins``)."""

    margin: float  # in test risk: "matches the dense network"
    dense_sd: float  # the dense networks' seed-to-seed SD of test risk
    val_margin: float  # in validation risk: a curve's own "matches" and best step
    val_sd: float | None = entry(optional=True)
    source: str
    learning_rate: float | None = entry(optional=True)
    n_seeds: int | None = entry(optional=True)


@dataclass(frozen=True, kw_only=True)
class Curve(Speed):
    """A curve's speed measures and the curve itself, [step, validation risk] pairs."""

    curve: list[list[float]]




@dataclass(frozen=True, kw_only=True)
class Run(Curve):
    """A network's curve, speed measures and test risk (at ``loss.alpha``); its seed where a
    study has several."""

    seed: int | None = entry(optional=True)
    test_risk: float


@dataclass(frozen=True, kw_only=True)
class NetworkRow(Run):
    """One trained network as ``Judge`` describes it: speed, training summary, test metrics
    (``REPORTED``, with intervals) and, where it has a dense partner, the paired test-CVaR
    difference; a ticket's sparsities; IMP's overlap with the one-shot mask."""

    best_val_risk: float
    steps_run: int
    diverged: bool
    cvar_05: float
    sharpe_ratio: float
    pnl_mean: float
    pnl_std: float
    cvar_05_ci: list[float]
    sharpe_ratio_ci: list[float]
    pnl_mean_ci: list[float]
    pnl_std_ci: list[float]
    cvar_05_vs_dense: Difference | None = entry(optional=True)
    test_matches: bool | None = entry(optional=True)
    sparsity: float | None = entry(optional=True)
    effective_sparsity: float | None = entry(optional=True)
    overlap_with_one_shot: float | None = entry(optional=True)


def curve_of(history: list[dict]) -> list[list[float]]:
    return [[r["step"], r["val_risk"]] for r in history]


def study_seeds(config: Config) -> list[int]:
    """``model.init_seed`` and the next ``pilot.n_seeds`` − 1 seeds."""
    return [config.model.init_seed + i for i in range(config.pilot.n_seeds)]


def dense_runs(config: Config, learning_rate: float, seeds: list[int],
               store: Store) -> list[DenseRun]:
    specs = [make_dense_spec(config, learning_rate=learning_rate, seed=s) for s in seeds]
    return train_dense_runs(config, specs, store)


def study_margin(config: Config, learning_rate: float | None = None,
                 store: Store | None = None) -> Margin:
    """The matching margins in money, from the dense networks from θ0 at ``learning_rate``
    (default: the first ``pilot.learning_rates``) over ``study_seeds`` (trained if
    missing): ``margin`` for test CVaR, the registered ``registration.match_margin`` (from
    the pilot), else ``metrics.match_margin``, else twice the seed-to-seed SD of their test
    CVaR; ``val_margin`` for the validation risk, twice the SD of their final validation
    risk."""
    m, store = config.metrics, store or open_store(config)
    lr = config.pilot.learning_rates[0] if learning_rate is None else learning_rate
    runs = dense_runs(config, lr, study_seeds(config), store)
    test = load_split(config, "test")
    risks = [float(empirical_cvar(deep_hedge_pnl(load_model(config, r.theta_star, cost=r.cost),
                                                 test, r.cost), config.loss.alpha))
             for r in runs]
    sd = statistics.stdev(risks)
    registered, configured = config.registration.match_margin, m.match_margin
    margin, source = ((registered, "registered") if registered is not None else
                      (configured, "configured") if configured is not None else
                      (2 * sd, "2 × the dense networks' test-CVaR SD"))
    val_sd = statistics.stdev([final_risk(r.history, m.final_evals) for r in runs])
    return Margin(margin=margin, dense_sd=sd, val_margin=2 * val_sd, val_sd=val_sd,
                  source=source, learning_rate=lr, n_seeds=len(risks))


def references(config: Config, runs: list[DenseRun], margin: float) -> References:
    """R_d from the dense networks ``runs`` (one per seed), R_BS (``references.floor``), and
    the validation-risk margin (``study_margin``'s ``val_margin``)."""
    name, risk = floor(config)
    return reference_levels([r.history for r in runs], risk, floor_name=name,
                            final_evals=config.metrics.final_evals, margin=margin)


def study_references(config: Config, learning_rate: float,
                     store: Store) -> tuple[References, Margin]:
    """R_d at ``learning_rate`` — the one definition every comparison at that rate uses, in
    notebooks 02 and 03 alike: the median final validation risk of the dense networks from
    θ0 at that (constant) rate over ``study_seeds`` — with the margins (``study_margin``)."""
    margin = study_margin(config, learning_rate, store)
    runs = dense_runs(config, learning_rate, study_seeds(config), store)
    return references(config, runs, margin.val_margin), margin


class Judge:
    """Describes trained networks of one (config, learning rate) as rows: speed against
    ``refs``, test metrics with intervals, and the paired test CVaR difference to the dense
    network of the same seed, which "matches" when its interval's upper bound is within
    ``test_margin``. Sharpe is charged notebook 01's network's indifference price."""

    def __init__(self, config: Config, store: Store, refs: References, learning_rate: float,
                 test_margin: float):
        self.config, self.store, self.refs, self.test_margin = config, store, refs, test_margin
        self.budget = budget_steps(config, learning_rate)
        self.test = load_split(config, "test")
        base = dense_runs(config, config.training.learning_rate, [config.model.init_seed],
                          store)[0]
        self.premium = float(empirical_cvar(self.dense_pnl(base), config.loss.alpha))

    def dense_pnl(self, run: DenseRun, config: Config | None = None) -> torch.Tensor:
        model = load_model(config or self.config, run.theta_star, cost=run.cost)
        return deep_hedge_pnl(model, self.test, run.cost)

    def test_metrics(self, stage: str, name: str, pnl: torch.Tensor,
                     dense: tuple[str, torch.Tensor] | None) -> dict:
        """Metrics with intervals and the paired CVaR difference to ``dense`` = (its stored
        folder's name, its test P&L) (stored)."""
        m = self.config.metrics
        boot = dict(n_bootstrap=m.n_bootstrap, confidence=m.confidence, seed=m.seed)
        key = stage_key(self.config, "test_metrics", ("metrics", "loss"), code=code_sets.METRICS,
                        source=[stage, name],
                        premium=self.premium, dense=None if dense is None else dense[0])
        statistic = risk_statistic(self.config)

        def compute() -> dict:
            metrics = compute_all_metrics(pnl, premium=self.premium, **boot,
                                          tails=tails_with(self.config.loss.alpha))
            metrics["test_risk"] = float(risk_measure(pnl, self.config))
            if dense is not None:  # in the trained tail: the margin's statistic
                metrics["vs_dense"] = paired_difference(pnl, dense[1], statistic,
                                                        **boot).to_json()
            return {"metrics.json": metrics}

        return self.store.cached("test_metrics", key, compute)[0]["metrics.json"]

    def describe(self, history: list[dict], summary: dict, pnl: torch.Tensor, stage: str,
                 name: str, dense: tuple[str, torch.Tensor] | None = None) -> NetworkRow:
        m = self.config.metrics
        metrics = self.test_metrics(stage, name, pnl, dense)
        paired = Difference.from_json(metrics["vs_dense"]) if "vs_dense" in metrics else None
        measured = speed(history, self.refs, budget=self.budget, window=m.window,
                         final_evals=m.final_evals)
        return NetworkRow(
            **vars(measured), curve=curve_of(history),
            best_val_risk=summary["best_val_risk"], steps_run=summary["steps_run"],
            diverged=summary["diverged"], test_risk=metrics["test_risk"],
            **{k: metrics[k] for k in REPORTED},
            **{f"{k}_ci": metrics[f"{k}_ci"] for k in REPORTED},
            cvar_05_vs_dense=paired,
            test_matches=None if paired is None else paired.ci[1] <= self.test_margin)

    def describe_cell(self, result: CellResult, dense: tuple[str, torch.Tensor]) -> NetworkRow:
        return replace(self.describe(result.history, result.summary, result.test_pnl, "ticket",
                                     result.folder.name, dense),
                       sparsity=result.summary["mask"]["total"],
                       effective_sparsity=result.summary["mask"]["effective"])

    def describe_dense(self, run: DenseRun, config: Config | None = None,
                       dense: tuple[str, torch.Tensor] | None = None) -> NetworkRow:
        return self.describe(run.history, run.summary, self.dense_pnl(run, config), "dense",
                             run.folder.name, dense)




def floor_rows(config: Config, refs: References, budget: int, plan: Plan,
               store: Store) -> dict[str, Curve]:
    """The floor controls of networks trained as ``plan`` says: each classical hedge of
    ``FLOORS`` frozen, and not hedging where it is the floor (``references.floor``), only y
    free to train (at ``loss.oce_level`` "batch" y is exact: nothing trains), measured like a
    network against ``refs`` (it must never look like one)."""
    out = {}
    extra = ("no_hedge",) if refs.floor_name == "no_hedge" else ()
    m = config.metrics
    for name in (*FLOORS, *extra):
        result = floor_run(config, name, plan, store=store)
        measured = speed(result.history, refs, budget=budget, window=m.window,
                         final_evals=m.final_evals)
        out[name] = Curve(**vars(measured), curve=curve_of(result.history))
    return out


def floor_reached(floors: dict[str, Curve], dense_aucs: list[float]) -> list[str]:
    """The measures a floor control passes wrongly: every endpoint some floor model reaches,
    "AUC" where a floor's AUC is no worse than some dense network's (``dense_aucs``), and
    "matches" / "best step" where one matches the dense reference or gets a best step."""
    out = [e for e in ENDPOINTS if any(f.levels[e] is not None for f in floors.values())]
    if min(f.auc for f in floors.values()) <= max(dense_aucs):
        out.append("AUC")
    if any(f.matches for f in floors.values()):
        out.append("matches")
    if any(f.best_step is not None for f in floors.values()):
        out.append("best step")
    return out
