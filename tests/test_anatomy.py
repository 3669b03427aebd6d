import math

import pytest
import torch

from lth_hedging import create_model
from lth_hedging.market.features import FEATURE_NAMES
from lth_hedging.measures.anatomy import (
    PREVIOUS_POSITION,
    complement,
    input_importance,
    input_names,
    is_nested,
    jaccard,
    kept_magnitude,
    layer_density,
    random_jaccard,
    sign_agreement,
    weight_distance,
)
from lth_hedging.measures.metrics import seed_interval
from lth_hedging.nets.pruning import expected_jaccard, magnitude_mask, random_mask


def full(state):
    return {k: torch.ones_like(v, dtype=torch.bool) for k, v in state.items()
            if k.startswith("layers.") and k.endswith(".weight")}


def test_jaccard_known_answers_and_the_random_expectation():
    a = {"layers.0.weight": torch.tensor([[True, True, False, False]])}
    b = {"layers.0.weight": torch.tensor([[True, False, True, False]])}
    assert jaccard(a, a) == 1.0 and jaccard(a, b) == pytest.approx(1 / 3)
    # two independent random masks at density d: d / (2 − d), here on 400k weights
    big = {"layers.0.weight": torch.ones(400, 1000, dtype=torch.bool)}
    big["layers.0.weight"][:, :300] = False  # density 0.7
    g = torch.Generator().manual_seed(0)
    r1, r2 = random_mask(big, g), random_mask(big, g)
    assert jaccard(r1, r2) == pytest.approx(expected_jaccard(0.7), abs=0.003)
    with pytest.raises(ValueError, match="different networks"):
        jaccard(a, big)


def test_one_shot_masks_of_one_theta_star_are_nested(smoke_config):
    state = create_model(smoke_config, 3).state_dict()
    masks = [magnitude_mask(state, s) for s in (0.5, 0.7, 0.9)]
    assert is_nested(masks[2], masks[1]) and is_nested(masks[1], masks[0])
    assert not is_nested(masks[0], masks[2])
    rand = random_mask(masks[2], torch.Generator().manual_seed(1))
    assert not is_nested(rand, masks[1])
    assert layer_density(masks[0])["layers.0.weight"] < 1.0
    assert layer_density(full(state)) == {k: 1.0 for k in full(state)}


def test_input_importance_counts_connections_and_mass(smoke_config):
    model = create_model(smoke_config, cost=0.001)  # semi-recurrent: 3 features + position
    state = model.state_dict()
    assert input_names(state) == [*FEATURE_NAMES, PREVIOUS_POSITION]
    mask = full(state)
    mask["layers.0.weight"][:, 0] = False  # log-moneyness cut off entirely
    mask["layers.0.weight"][::2, 3] = False  # half the position's connections
    out = input_importance(mask, state)
    hidden = state["layers.0.weight"].shape[0]
    assert out["log_moneyness"] == {"connections": 0, "kept_fraction": 0.0, "mass_share": 0.0}
    assert out[PREVIOUS_POSITION]["connections"] == hidden // 2
    assert sum(v["mass_share"] for v in out.values()) == pytest.approx(1.0)
    w = state["layers.0.weight"].abs()
    expected = float(w[:, 1].sum() / (w[:, 1:3].sum() + w[1::2, 3].sum()))
    assert out["time_to_maturity"]["mass_share"] == pytest.approx(expected, rel=1e-6)


def test_weight_distance_and_sign_agreement(smoke_config):
    b = create_model(smoke_config, 0).state_dict()
    a = {k: 2 * v for k, v in b.items()}
    neg = {k: -v for k, v in b.items()}
    mask = magnitude_mask(b, 0.5)
    assert weight_distance(b, b) == 0.0
    assert weight_distance(a, b) == pytest.approx(1.0) == weight_distance(a, b, mask)
    assert sign_agreement(a, b, mask) == 1.0 and sign_agreement(neg, b, mask) == 0.0
    moved = {k: v.clone() for k, v in b.items()}
    moved["layers.0.weight"][~mask["layers.0.weight"]] += 100.0  # only pruned entries move
    assert weight_distance(moved, b, mask) == 0.0 < weight_distance(moved, b)


def test_seed_interval():
    out = seed_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) · s / √n with s = 1
    assert out.mean == 2.0 and out.ci == pytest.approx([2 - half, 2 + half])
    assert math.isnan(seed_interval([1.0]).ci[0]) and seed_interval([1.0]).mean == 1.0
    assert math.isnan(seed_interval([1.0, math.nan]).mean)


def test_random_jaccard_is_the_expectation_of_random_masks():
    g = torch.Generator().manual_seed(0)
    like = {"layers.0.weight": torch.rand(400, 500, generator=g) < 0.3,
            "layers.1.weight": torch.rand(300, 400, generator=g) < 0.7}
    a, b = random_mask(like, g), random_mask(like, g)
    assert jaccard(a, b) == pytest.approx(random_jaccard(like), abs=2e-3)
    one = {"layers.0.weight": like["layers.0.weight"]}
    d = float(one["layers.0.weight"].float().mean())
    assert random_jaccard(one) == pytest.approx(expected_jaccard(d))


def test_kept_magnitude_and_complement(smoke_config):
    state = create_model(smoke_config, 0).state_dict()
    mask = magnitude_mask(state, 0.5, scope="layer", output_rate="same")
    assert kept_magnitude(state, full(state)) == pytest.approx(1.0)
    assert kept_magnitude(state, mask) > 1 > kept_magnitude(state, complement(mask))
    assert all(torch.equal(complement(complement(mask))[n], mask[n]) for n in mask)
