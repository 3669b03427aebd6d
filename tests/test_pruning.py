import pytest
import torch

from lth_hedging import create_loss_function, create_model
from lth_hedging.foundations.store import Store
from lth_hedging.nets.pruning import (
    apply_mask,
    density,
    expected_jaccard,
    imp_round,
    magnitude_mask,
    prunable_names,
    random_mask,
    sparsity_report,
    validate_mask,
)
from lth_hedging.nets.train import Trainer
from lth_hedging.studies.stages import load_split, risk_function, schedule


def toy_state():
    return {"layers.0.weight": torch.tensor([[1.0, -5.0], [0.1, 3.0]]),
            "layers.0.bias": torch.tensor([9.0, 9.0]),
            "layers.1.weight": torch.tensor([[2.0, -0.5]]),
            "layers.1.bias": torch.tensor([0.0]), "y": torch.tensor(1.0)}


def test_known_answer_global_layer_and_output_rates():
    s = toy_state()
    m = magnitude_mask(s, 0.5, output_rate="none")
    assert m["layers.0.weight"].tolist() == [[False, True], [False, True]]
    assert m["layers.1.weight"].tolist() == [[True, True]]
    m = magnitude_mask(s, 0.5, output_rate="same")
    assert m["layers.1.weight"].tolist() == [[True, False]]
    assert set(m) == {"layers.0.weight", "layers.1.weight"}  # never biases, never y


def test_a_ranking_can_spare_the_input_layer_or_prune_it_at_a_lower_rate():
    s = {"layers.0.weight": torch.arange(1.0, 9.0).reshape(2, 4),
         "layers.1.weight": torch.arange(1.0, 9.0).reshape(4, 2),
         "layers.2.weight": torch.arange(1.0, 5.0).reshape(1, 4)}
    kept = {scope: {n: int(m.sum()) for n, m in magnitude_mask(s, 0.5, scope=scope).items()}
            for scope in ("layer", "layer_spare_input", "layer_input_quarter")}
    assert kept["layer"] == {"layers.0.weight": 4, "layers.1.weight": 4, "layers.2.weight": 3}
    assert kept["layer_spare_input"] == {**kept["layer"], "layers.0.weight": 8}
    assert kept["layer_input_quarter"] == {**kept["layer"], "layers.0.weight": 7}  # 8 × 0.125


def test_global_and_layerwise_differ_where_layers_differ_in_scale():
    s = {"layers.0.weight": torch.arange(1.0, 9.0).reshape(2, 4),
         "layers.1.weight": 100 * torch.arange(1.0, 9.0).reshape(4, 2),
         "layers.2.weight": torch.ones(1, 4)}
    g = magnitude_mask(s, 0.5, scope="global", output_rate="none")
    lw = magnitude_mask(s, 0.5, scope="layer", output_rate="none")
    assert int(g["layers.0.weight"].sum()) == 0 and int(g["layers.1.weight"].sum()) == 8
    assert int(lw["layers.0.weight"].sum()) == 4 and int(lw["layers.1.weight"].sum()) == 4


def square_state(width=64, depth=3):
    g = torch.Generator().manual_seed(0)
    s = {f"layers.{i}.weight": torch.randn(width, width, generator=g) for i in range(depth)}
    s[f"layers.{depth}.weight"] = torch.randn(1, width, generator=g)
    return s


@pytest.mark.parametrize("rate", [0.5, 0.75])
def test_imp_density_is_exactly_one_minus_p_to_the_rounds(rate):
    s = square_state()
    mask = {n: torch.ones_like(v, dtype=torch.bool) for n, v in s.items()}
    for r in range(1, 4):
        new = imp_round(s, mask, rate, output_rate="same")
        assert all((new[n] <= mask[n]).all() for n in mask)  # nested: nothing revives
        mask = new
        assert density(mask) == pytest.approx((1 - rate) ** r, abs=0)


def test_random_mask_keeps_every_layers_density():
    s = square_state()
    m = magnitude_mask(s, 0.8)
    r = random_mask(m, torch.Generator().manual_seed(1))
    for n in m:
        assert int(r[n].sum()) == int(m[n].sum()) and not torch.equal(r[n], m[n])
    assert expected_jaccard(0.2) == pytest.approx(0.2 / 1.8)


def test_effective_sparsity_counts_dead_units():
    m = {"layers.0.weight": torch.tensor([[True, True], [False, False]]),  # unit 1: no input
         "layers.1.weight": torch.tensor([[True, True], [True, False]]),
         "layers.2.weight": torch.tensor([[True, False]])}  # hidden-2 unit 1: no output
    r = sparsity_report(m)
    assert r["total"] == pytest.approx(1 - 6 / 10)  # 2 + 3 + 1 kept of 10
    # effective: layer 0 row 0 (2), layer 1 [0,0] (1), layer 2 [0,0] (1) = 4 of 10
    assert r["effective"] == pytest.approx(1 - 4 / 10)
    assert r["dead_units"] == 2 and r["layers"]["layers.0.weight"] == 0.5


def test_validation_names_the_problem(smoke_config):
    model = create_model(smoke_config)
    mask = magnitude_mask(model.state_dict(), 0.5)
    assert validate_mask(mask, model) is mask
    with pytest.raises(ValueError, match="do not match"):
        validate_mask({k: v for k, v in list(mask.items())[1:]}, model)
    bad = dict(mask, **{"layers.0.weight": mask["layers.0.weight"].float()})
    with pytest.raises(ValueError, match="layers.0.weight"):
        validate_mask(bad, model)
    with pytest.raises(ValueError, match="sparsity"):
        magnitude_mask(model.state_dict(), 1.0)


def test_pruned_weights_stay_exactly_zero_through_adam_and_weight_decay(smoke_config):
    model = create_model(smoke_config)
    mask = magnitude_mask(create_model(smoke_config, seed=5).state_dict(), 0.8)
    train, val = load_split(smoke_config, "train"), load_split(smoke_config, "val")
    start = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, create_loss_function(smoke_config), risk_function(smoke_config),
                      cost=smoke_config.hedging.cost, learning_rate=1e-2, batch_size=200,
                      schedule=schedule(smoke_config, 1e-2, 40), weight_decay=1e-2, mask=mask)
    trainer.fit(train, val)
    state = model.state_dict()
    for name, m in mask.items():
        assert (state[name][~m] == 0.0).all()
        assert not torch.equal(state[name][m], start[name][m])  # the kept weights trained
    fresh = create_model(smoke_config)
    fresh.load_state_dict(state)  # plain state dict: no masking machinery inside
    apply_mask(fresh, mask)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())


def test_masks_round_trip_through_the_store(tmp_path, smoke_config):
    model = create_model(smoke_config)
    mask = magnitude_mask(model.state_dict(), 0.7)
    store = Store(tmp_path)
    store.save("masks", "k", {"mask.pt": mask, "report.json": sparsity_report(mask)})
    loaded = store.load("masks", "k")
    assert all(torch.equal(loaded["mask.pt"][n], mask[n]) for n in mask)
    validate_mask(loaded["mask.pt"], model)
    assert loaded["report.json"]["total"] == pytest.approx(sparsity_report(mask)["total"])
    assert prunable_names(model) == list(mask)
