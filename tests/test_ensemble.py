import math

import pytest
import torch

from lth_hedging import Trainer, create_loss_function, create_model
from lth_hedging.ensemble import fit_ensemble
from lth_hedging.experiment import load_split
from lth_hedging.features import HedgingData
from lth_hedging.pruning import magnitude_mask


def as_dtype(data, dtype):
    return HedgingData(data.features.to(dtype), data.S.to(dtype), data.Z.to(dtype))


def setting(config, dtype=torch.float32):
    """Four networks: different seeds, masks (one dense) and learning rates; one learning rate
    too small to improve, so that its early stopping fires long before the others'."""
    inits, masks = [], []
    for seed, sparsity in [(0, None), (1, 0.8), (2, 0.5), (0, 0.9)]:
        state = {k: v.to(dtype) for k, v in create_model(config, seed).state_dict().items()}
        inits.append(state)
        masks.append(magnitude_mask(state, sparsity) if sparsity else None)
    return inits, masks, [5e-3, 1e-2, 1e-9, 2e-3]


def data(config, dtype=torch.float32):
    return [as_dtype(load_split(config, split), dtype) for split in ("train", "val")]


KW = dict(cost=0.001, batch_size=500, epochs=7, patience=2, min_delta=1e-4, weight_decay=1e-3,
          shuffle_seed=3)


def test_ensemble_equals_one_by_one_training(smoke_config):
    # float64, so that the only differences left are those of summation order
    train, val = data(smoke_config, torch.float64)
    inits, masks, lrs = setting(smoke_config, torch.float64)
    loss_fn = create_loss_function(smoke_config)
    together = fit_ensemble(inits, masks, lrs, train, val, loss_fn=loss_fn, activation="relu",
                            **KW)
    assert together[2].stopped_early and not together[0].stopped_early
    for i in range(4):
        model = create_model(smoke_config).double()
        model.load_state_dict(inits[i])
        alone = Trainer(model, loss_fn, learning_rate=lrs[i], mask=masks[i], **KW).fit(train, val)
        ours = together[i]
        assert (ours.best_epoch, ours.stopped_early, ours.diverged, len(ours.history)) == \
               (alone.best_epoch, alone.stopped_early, alone.diverged, len(alone.history))
        for a, b in zip(alone.history, ours.history):
            assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-12)
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-12)
        for k, v in alone.best_state.items():
            torch.testing.assert_close(ours.best_state[k], v, rtol=1e-11, atol=1e-12)


def test_a_models_result_does_not_depend_on_its_companions(smoke_config):
    train, val = data(smoke_config)
    inits, masks, lrs = setting(smoke_config)
    loss_fn = create_loss_function(smoke_config)
    together = fit_ensemble(inits, masks, lrs, train, val, loss_fn=loss_fn, activation="relu",
                            **KW)
    alone = fit_ensemble(inits[1:2], masks[1:2], lrs[1:2], train, val, loss_fn=loss_fn,
                         activation="relu", **KW)[0]
    assert [r["val_loss"] for r in alone.history] == [r["val_loss"] for r in together[1].history]
    assert all(torch.equal(v, together[1].best_state[k]) for k, v in alone.best_state.items())


def test_pruned_weights_stay_zero_and_done_models_are_reported_once(smoke_config):
    train, val = data(smoke_config)
    inits, masks, lrs = setting(smoke_config)
    done = []
    results = fit_ensemble(inits, masks, lrs, train, val,
                           loss_fn=create_loss_function(smoke_config), activation="relu",
                           snapshot_epoch=1, on_done=lambda i, r: done.append((i, r)), **KW)
    assert sorted(i for i, _ in done) == [0, 1, 2, 3]
    assert done[0][0] == 2  # the model that stopped early is handed over first
    assert all(r is results[i] for i, r in done)
    for result, mask in zip(results, masks):
        assert result.snapshot is not None
        for k, m in (mask or {}).items():
            assert torch.all(result.best_state[k][~m] == 0.0)
            assert torch.all(result.snapshot[k][~m] == 0.0)
            assert torch.all(result.best_state[k][m] != 0.0)


def test_a_diverging_model_is_marked_and_the_others_train_on(smoke_config):
    train, val = data(smoke_config)
    inits, masks, lrs = setting(smoke_config)
    inits[1]["layers.2.weight"].fill_(math.inf)
    loss_fn = create_loss_function(smoke_config)
    results = fit_ensemble(inits, masks, lrs, train, val, loss_fn=loss_fn, activation="relu",
                           **KW)
    assert results[1].diverged and results[1].best_state is None
    alone = fit_ensemble(inits[:1], masks[:1], lrs[:1], train, val, loss_fn=loss_fn,
                         activation="relu", **KW)[0]
    assert [r["val_loss"] for r in alone.history] == [r["val_loss"] for r in results[0].history]


def test_mismatched_arguments_are_rejected(smoke_config):
    train, val = data(smoke_config)
    inits, masks, lrs = setting(smoke_config)
    with pytest.raises(ValueError, match="as many masks"):
        fit_ensemble(inits, masks[:2], lrs, train, val,
                     loss_fn=create_loss_function(smoke_config), activation="relu", **KW)
