"""The registration's evidence: the committed pilot reproduces the registered endpoint and
number of seeds by the stated rules, and the rules reject what they must."""

import math
import warnings

import pytest

from lth_hedging import load_config
from lth_hedging.measures.metrics import detectable_speedup
from lth_hedging.measures.speed import References
from lth_hedging.studies import registration


@pytest.fixture(scope="module")
def pilot():
    return registration.load_pilot()


def test_the_committed_pilot_gives_the_registered_endpoint_and_seeds(pilot):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = load_config("configs/registration1.yaml")
    analysis = registration.analyse(pilot, config)
    r = config.registration
    assert analysis["chosen"] == r.endpoint == pilot["analysis"]["chosen"]
    chosen = next(p for p in analysis["pooled"] if p["endpoint"] == r.endpoint)
    assert chosen["eligible"] and all(p["sd"] >= chosen["sd"] for p in analysis["pooled"]
                                      if p["eligible"])
    # the registered seeds give the power the registration claims, even at the SD's bound
    assert chosen["seeds_at_sd_upper"] <= r.n_seeds
    level = r.alpha / registration.family_sizes(config)["A"]
    assert detectable_speedup(chosen["sd_upper"], r.n_seeds, level, r.power) <= r.boost
    # the frozen min-variance delta closes T50's gap; a frozen hedge beats early areas
    assert not any(p["eligible"] for p in analysis["pooled"]
                   if p["endpoint"] in ("T50", "AUC40", "AUC60", "AUC80"))


def curve(*risks, every=5):
    return [[every * i, r] for i, r in enumerate(risks)]


def test_a_floor_that_reaches_a_level_or_a_level_the_ticket_never_reaches_is_rejected():
    refs = References(dense=1.0, floor=2.0, margin=0.1, dense_sd=0.05, n_dense=3)
    fast = [curve(2.5, 1.6, 1.2, 1.0, 1.0, 1.0, 1.0), curve(2.5, 1.8, 1.3, 1.0, 1.0, 1.0, 1.0),
            curve(2.5, 1.7, 1.1, 1.0, 1.0, 1.0, 1.0)]
    slow = [curve(2.5, 2.2, 1.9, 1.45, 1.4, 1.4, 1.4), curve(2.5, 2.1, 1.8, 1.5, 1.45, 1.45, 1.4),
            curve(2.5, 2.3, 1.9, 1.5, 1.4, 1.35, 1.4)]
    study = {"references": refs.to_json(), "budget": 30, "window": 1,
             "floors": {"min_variance_delta": curve(*[1.45] * 7)},
             "networks": {"ticket": slow, "dense": fast}}
    rows = {r["endpoint"]: r for r in registration.judge_candidates(study, (), 1.25, 0.05, 0.8)}
    assert not rows["T50"]["passes_floor"] and rows["T60"]["passes_floor"]  # frozen at 55 %
    assert rows["T60"]["compared_reach"] and not rows["T75"]["compared_reach"]
    assert rows["T60"]["mean_log_ratio"]["dense"] < 0  # the ticket is the slower one here


def test_seeds_needed_is_the_smallest_that_reaches_the_power():
    n = registration.seeds_needed(0.2, 1.25, 0.0125, 0.8)
    assert detectable_speedup(0.2, n, 0.0125, 0.8) <= 1.25 < detectable_speedup(0.2, n - 1,
                                                                                 0.0125, 0.8)
    assert registration.sd_upper(0.2, 8) > 0.2
    assert math.isclose(registration.pooled_sd([0.3, 0.4]), math.sqrt(0.125))
