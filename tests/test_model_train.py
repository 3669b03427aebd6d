import copy
import math

import pytest
import torch

from lth_hedging import create_loss_function, create_model
from lth_hedging.nets.losses import empirical_cvar
from lth_hedging.nets.model import hedge_ratio
from lth_hedging.nets.train import Trainer
from lth_hedging.studies.stages import (
    deep_hedge_pnl,
    load_split,
    risk_function,
    schedule,
    train_dense,
)

INSTRUMENTS = [["stock"], ["stock", "variance_swap"]]


@pytest.mark.parametrize("instruments", INSTRUMENTS)
def test_semi_recurrent_forward_equals_step_by_step(make_smoke_config, instruments):
    model = create_model(make_smoke_config({"hedging.instruments": instruments}), cost=0.01)
    assert model.recurrent
    x = torch.randn(7, 5, 3)
    deltas, y = model(x)
    shape = (7,) if len(instruments) == 1 else (7, len(instruments))
    assert deltas.shape == (7, 5, *shape[1:])
    prev = torch.zeros(shape)
    for t in range(5):
        prev = hedge_ratio(model, x[:, t], prev)
        torch.testing.assert_close(deltas[:, t], prev)
    assert y.shape == ()


def test_without_costs_positions_do_not_depend_on_the_past(smoke_config):
    model = create_model(smoke_config, cost=0.0)
    assert not model.recurrent
    x = torch.randn(4, 6, 3)
    torch.testing.assert_close(model(x)[0][:, 3], hedge_ratio(model, x[:, 3]))


def test_init_is_seeded_and_leaves_the_global_rng_alone(smoke_config):
    state = torch.random.get_rng_state()
    a, b = create_model(smoke_config, 1), create_model(smoke_config, 1)
    c = create_model(smoke_config, 2)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (k, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(),
                               c.state_dict().values()):
        assert torch.equal(pa, pb)
        if k != "y":
            assert not torch.equal(pa, pc)


def make_trainer(config, model, steps=None, **kw):
    t = config.training
    args = dict(cost=config.hedging.cost, learning_rate=t.learning_rate,
                batch_size=t.batch_size, schedule=schedule(config, t.learning_rate, steps),
                patience=t.patience, shuffle_seed=0)
    args.update(kw)
    return Trainer(model, create_loss_function(config), risk_function(config), **args)


def test_training_is_deterministic_and_beats_no_hedge(smoke_config):
    train, val = load_split(smoke_config, "train"), load_split(smoke_config, "val")
    runs = []
    for _ in range(2):
        model = create_model(smoke_config)
        result = make_trainer(smoke_config, model, steps=32).fit(train, val)
        runs.append((result, model))
    (r1, m1), (r2, m2) = runs
    assert [h["val_risk"] for h in r1.history] == [h["val_risk"] for h in r2.history]
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(),
                                                 m2.state_dict().values()))
    assert [h["step"] for h in r1.history] == list(range(0, 33, 2))  # metrics.eval_every
    assert r1.history[-1]["val_risk"] < r1.history[0]["val_risk"]
    test = load_split(smoke_config, "test")
    hedged = empirical_cvar(deep_hedge_pnl(m1, test, smoke_config.hedging.cost), 0.05)
    naked = empirical_cvar(-test.Z, 0.05)
    assert hedged < 0.6 * naked


def test_divergence_is_marked_not_raised(smoke_config):
    train, val = load_split(smoke_config, "train"), load_split(smoke_config, "val")
    model = create_model(smoke_config)
    with torch.no_grad():
        model.layers[-1].weight.fill_(math.inf)
    result = make_trainer(smoke_config, model).fit(train, val)
    assert result.diverged and result.best_state is None


def test_early_stopping_fires_and_keeps_the_best_weights(smoke_config):
    train, val = load_split(smoke_config, "train"), load_split(smoke_config, "val")
    model = create_model(smoke_config)
    # a learning rate this small cannot improve by min_delta = 50 % per evaluation
    trainer = make_trainer(smoke_config, model, learning_rate=1e-7, steps=200, patience=2,
                           min_delta=0.5)
    result = trainer.fit(train, val)
    assert result.stopped_early and len(result.history) == 3 and result.best_step == 0
    best = copy.deepcopy(model.state_dict())
    assert all(torch.equal(best[k], v) for k, v in result.best_state.items())


def test_dense_stage_is_a_cache_hit_the_second_time(smoke_config, monkeypatch):
    first = train_dense(smoke_config)
    assert not first.cached and first.summary["steps_run"] >= 1
    import lth_hedging.nets.runtime as runtime

    monkeypatch.setattr(runtime, "fit_ensemble", lambda *a, **k: pytest.fail("retrained"))
    second = train_dense(smoke_config)
    assert second.cached and second.history == first.history
    assert all(torch.equal(first.theta_star[k], v) for k, v in second.theta_star.items())
    # θ0 is the seeded initialisation, saved once
    fresh = create_model(smoke_config).state_dict()
    assert all(torch.equal(fresh[k], v) for k, v in second.theta0.items())


@pytest.mark.parametrize("activation", ["relu", "tanh", "silu"])
def test_every_activation_builds_and_trains(make_smoke_config, activation):
    config = make_smoke_config({"model.activation": activation, "loss.type": "entropic"})
    model = create_model(config)
    train = load_split(config, "train")
    before = copy.deepcopy(model.state_dict())
    make_trainer(config, model).train_step(train.slice(0, 100))
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_entropic_loss_is_selected_by_config(make_smoke_config):
    from lth_hedging.nets.losses import entropic_loss

    config = make_smoke_config({"loss.type": "entropic", "loss.risk_aversion": 2.0})
    pnl = torch.randn(100, dtype=torch.float64)
    loss = create_loss_function(config)(pnl, torch.tensor(123.0))  # y is ignored
    assert loss.item() == pytest.approx(entropic_loss(pnl, 2.0).item())
