"""The speed measures, their statistics, and the floor control that every measure must pass:
a hedge that learned nothing (classical positions frozen, only y trained) is never judged as
good as, or as fast as, a trained network."""

import math
import warnings

import pytest
import torch

from lth_hedging import load_config
from lth_hedging.measures.metrics import (
    detectable_speedup,
    holm,
    log_ratio_test,
    paired_over_seeds,
    sign_test,
)
from lth_hedging.measures.speed import (
    References,
    auc,
    best_step,
    censored,
    reach_step,
    reference_levels,
    settle_step,
    speed,
    stay_step,
)
from lth_hedging.studies import references
from lth_hedging.studies import stages as ex


def curve(*risks, every=10):
    return [{"step": every * i, "val_risk": r} for i, r in enumerate(risks)]


REFS = References(dense=1.0, floor=2.0, margin=0.05, dense_sd=0.02, n_dense=5)


def test_a_level_is_reached_by_the_trailing_mean_not_one_lucky_evaluation():
    h = curve(3.0, 1.05, 2.0, 1.1, 1.1, 1.1, 1.0)
    assert reach_step(h, 1.1, window=1) == 10  # one evaluation would do
    assert reach_step(h, 1.1, window=3) == 50  # three in a row: (1.1 + 1.1 + 1.1) / 3
    assert reach_step(h, 0.5, window=3) is None
    assert REFS.level(0.9) == pytest.approx(1.1) and REFS.level(0.5) == pytest.approx(1.5)


def test_staying_below_is_timed_from_the_last_crossing():
    h = curve(3.0, 1.05, 2.0, 1.1, 1.1, 1.1, 1.0)
    assert stay_step(h, 1.1, window=1) == 30  # crossed at 10, back above at 20, below from 30
    assert reach_step(h, 1.1, window=1) == 10
    assert stay_step(curve(3.0, 1.0, 1.2), 1.1, window=1) is None  # ends above: never stays
    assert stay_step(curve(3.0, 1.5, 1.4), 1.1, window=1) is None  # a frozen hedge never does


def test_settling_holds_the_level_for_a_fixed_span_whatever_the_budget():
    dip = curve(3.0, 1.0, 1.5, 1.5, 1.0, 1.0, 1.0, 1.2, 1.0)  # every 10 steps
    assert settle_step(dip, 1.1, window=1, hold=20) == 40  # the dip at 10 does not hold
    # the rule looks 20 steps ahead, not to the end: a longer budget leaves step 40 as it is,
    # where staying below to the end (``stay_step``) moves with what comes after
    assert settle_step(dip[:7], 1.1, window=1, hold=20) == 40 == stay_step(dip[:7], 1.1, 1)
    assert stay_step(dip, 1.1, window=1) == 80
    assert settle_step(dip[:6], 1.1, window=1, hold=20) is None  # not yet held 20 steps


def test_the_floor_model_never_settles():
    frozen = curve(*[1.45] * 30)  # a hedge frozen above the level: flat, never below it
    assert settle_step(frozen, 1.1, window=3, hold=20) is None
    assert settle_step(frozen, 1.5, window=3, hold=20) == 20  # below a level it already meets:
    # the floor control is what rules such a level out (a frozen hedge passes it)


def test_a_sign_test_counts_the_seeds_where_only_one_side_reaches():
    t = sign_test([True] * 12 + [False] * 4, [False] * 16)
    assert (t.only, t.only_other, t.reached, t.other_reached) == (12, 0, 12, 0)
    assert t.p == pytest.approx(2 * 0.5**12)
    assert math.isnan(sign_test([True, False], [True, False]).p)


def test_auc_is_the_mean_clipped_normalised_excess_risk_over_the_budget():
    h = curve(3.0, 1.5, 0.8)  # steps 0, 10, 20: clipped values 1, 0.5, 0
    assert auc(h, REFS, budget=40) == pytest.approx((1 * 10 + 0.5 * 10 + 0 * 20) / 40)
    assert auc(curve(2.5), REFS, budget=40) == 1.0  # never better than the floor


def test_best_step_only_where_the_best_risk_matches():
    assert best_step(curve(3.0, 1.04, 1.2), REFS) == 10
    assert best_step(curve(3.0, 1.06, 1.2), REFS) is None


def test_reference_levels_take_the_median_and_twice_the_seed_spread():
    histories = [curve(*([5.0] + [v] * 10)) for v in (1.0, 1.2, 1.1)]
    refs = reference_levels(histories, 2.0, final_evals=10)
    assert refs.dense == pytest.approx(1.1) and refs.margin == pytest.approx(2 * 0.1)
    assert reference_levels(histories, 2.0, final_evals=10, margin=0.3).margin == 0.3
    with pytest.raises(ValueError, match="floor"):
        reference_levels(histories, 1.0, final_evals=10)
    with pytest.raises(ValueError, match="match_margin"):
        reference_levels(histories[:1], 2.0, final_evals=10)


def test_censored_runs_enter_at_the_budget_and_are_flagged():
    assert censored(None, 300) == (300, True) and censored(40, 300) == (40, False)
    ref = [(100, False), (120, False), (300, True)]
    other = [(50, False), (60, False), (150, False)]
    t = log_ratio_test(ref, other)
    assert t.speedup == pytest.approx(2.0) and t.censored_reference == 1
    assert math.isnan(t.p) and math.isnan(t.upper)  # no spread at all: no t-test
    noisy = log_ratio_test([(100, False)] * 4, [(90, False), (110, False), (80, False),
                                                (125, False)])
    r = [math.log(100 / x) for x in (90, 110, 80, 125)]
    assert noisy.speedup == pytest.approx(math.exp(sum(r) / 4))
    assert noisy.ci[0] < noisy.speedup < noisy.ci[1] == noisy.upper
    assert 0.5 < noisy.p <= 1


def test_holm_and_paired_t_over_seeds():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    d = paired_over_seeds([1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 2.0, 3.5])
    assert d.mean == pytest.approx(0.75) and d.per_seed == [0.5, 1.0, 1.0, 0.5]
    assert d.ci[0] > 0 and d.p < 0.05


def test_eight_seeds_can_reject_a_consistent_boost():
    """With ≥ 8 seeds the confirmatory test can reject at Holm's strictest level (with 5, an
    exact sign-flip test never could); how large a boost it can see depends on the spread."""
    ref = [(130 + 3 * (i % 3), False) for i in range(8)]
    other = [(100 + 2 * (i % 4), False) for i in range(8)]
    t = log_ratio_test(ref, other)
    assert t.p < 0.05 / 6 and t.ci[0] > 1.2  # rejects even under Holm over 6
    assert detectable_speedup(t.sd, 8, 0.05 / 6) < 1.1  # a tight spread sees small boosts
    assert detectable_speedup(0.4, 8, 0.05 / 6) > 1.5  # a loose one does not


@pytest.fixture(scope="module")
def floor_setting(tmp_path_factory):
    """10 bps on enough paths and dates that a trained network beats the min-variance delta:
    dense networks on three seeds, at the default ("batch") OCE level and at the old learned
    level, and the floor model (min-variance delta frozen, only y trained) beside them."""
    tmp = tmp_path_factory.mktemp("floor")
    torch.set_num_threads(2)

    def config(level):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_config("configs/smoke.yaml", {
                "caching.directory": str(tmp / "cache"),
                "experiments.directory": str(tmp / "experiments"), "runtime.progress": False,
                "hedging.cost": 0.001, "data.n_steps": 30, "model.hidden": [32, 32],
                "data.n_paths": {"train": 10000, "val": 4000, "test": 2000},
                "training.learning_rate": 0.01, "training.batch_size": 500,
                "training.epochs": 15, "loss.oce_level": level})

    out = {}
    for level, seeds in (("batch", (0, 1, 2)), ("learned", (0,))):
        c = config(level)
        runs = ex.train_dense_runs(c, [ex.dense_spec(c, seed=s) for s in seeds])
        out[level] = (c, runs, references.floor_run(c, "min_variance_delta", ex.Plan(0.01, 0)))
    return out


def test_the_floor_model_is_never_judged_as_good_or_as_fast(floor_setting):
    config, runs, floor = floor_setting["batch"]
    m = config.metrics
    refs = reference_levels([r.history for r in runs], references.floor(config)[1],
                            final_evals=m.final_evals)
    budget = ex.budget_steps(config, 0.01)
    kw = dict(budget=budget, window=m.window, final_evals=m.final_evals)
    frozen = speed(floor.history, refs, **kw)
    dense = [speed(r.history, refs, **kw) for r in runs]
    assert all(frozen.levels[e] is None for e in ("T50", "T75", "T90"))
    assert not frozen.matches and frozen.best_step is None
    assert all(d.levels["T90"] is not None and d.matches for d in dense)
    assert frozen.auc > max(d.auc for d in dense)
    # its validation risk is the min-variance delta's, whatever y does
    assert len({row["val_risk"] for row in floor.history}) == 1


# The first study's convergence criterion, kept here only to show that it fails its floor
# control (the package measures speed with ``measures.speed``).
def epochs_to_threshold(history: list[dict], threshold: float, consecutive: int = 5,
                        key: str = "val_loss") -> int | None:
    """First epoch (1-based) after which ``key`` stays ≤ threshold for ``consecutive``
    epochs; None when never reached."""
    run = 0
    for i, value in enumerate(row[key] for row in history):
        run = run + 1 if value <= threshold else 0
        if run == consecutive:
            return i - consecutive + 2
    return None


def within_tolerance_level(reference: float, tolerance: float) -> float:
    """The loss level within ``tolerance`` of ``reference``: reference + tolerance·|reference|."""
    return reference + tolerance * abs(reference)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_old_criterion_is_sign_aware(sign):
    # losses fall towards a best of ±2: the level "within 5 %" is above it in both cases
    reference = 2.0 * sign
    level = within_tolerance_level(reference, 0.05)
    assert level == pytest.approx(reference + 0.1)
    history = [{"val_loss": reference + d}
               for d in (1.0, 0.5, 0.05, 0.3, 0.05, 0.04, 0.03, 0.02, 0.01)]
    assert epochs_to_threshold(history, level, consecutive=5) == 5
    assert epochs_to_threshold(history, level, consecutive=6) is None
    assert epochs_to_threshold(history[:4], level, consecutive=1) == 3


def test_under_the_old_criterion_the_floor_model_matches_the_dense_network(floor_setting):
    """The first study's measure — epochs until the OCE validation loss (y learned) stays
    within 5 % of the dense network's best for 5 epochs — passes the floor model: it timed y."""
    config, (run,), floor = floor_setting["learned"]
    per_epoch = ex.steps_per_epoch(config.data.n_paths["train"], config.training.batch_size)

    def epochs(history):
        return [row for row in history if row["step"] and row["step"] % per_epoch == 0]

    threshold = within_tolerance_level(min(r["val_loss"] for r in epochs(run.history)), 0.05)
    assert epochs_to_threshold(epochs(floor.history), threshold, consecutive=5) is not None
    assert epochs_to_threshold(epochs(run.history), threshold, consecutive=5) is not None
    # ...while on the y-free validation risk it stays where the min-variance delta is
    assert floor.history[-1]["val_risk"] > run.summary["best_val_risk"] + 0.05


def test_a_stored_validation_risk_is_that_of_the_stored_weights(floor_setting):
    config, runs, _ = floor_setting["batch"]
    val = ex.load_split(config, "val")
    for run in runs:
        model = ex.load_model(config, run.theta_star, cost=config.hedging.cost)
        risk = float(ex.risk_function(config)(ex.deep_hedge_pnl(model, val, run.cost)))
        row = next(r for r in run.history if r["step"] == run.summary["best_step"])
        assert risk == pytest.approx(row["val_risk"], rel=1e-6)
        assert all({"step", "val_risk", "val_loss", "y"} <= set(r) for r in run.history)
