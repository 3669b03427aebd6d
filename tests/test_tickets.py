import dataclasses
from dataclasses import replace

import nbformat
import pytest
import torch

import lth_hedging.nets.runtime as runtime
from lth_hedging import create_loss_function, create_model
from lth_hedging.foundations import code as code_sets
from lth_hedging.foundations.config import Config
from lth_hedging.foundations.store import Store
from lth_hedging.nets.pruning import density, magnitude_mask, rescale_kept
from lth_hedging.nets.train import Trainer
from lth_hedging.studies.stages import (
    data_order_seed,
    deep_hedge_pnl,
    derived_seed,
    load_split,
    open_store,
    risk_function,
    schedule,
    train_dense,
)
from lth_hedging.studies.tickets import (
    KINDS,
    Cell,
    cell_init,
    cell_key,
    imp_cell,
    random_mask_seed,
    run_cells,
)


def cells_for(config):
    lr = config.training.learning_rate
    one_shot = [Cell(kind, 0.8, lr, 0, lr) for kind in KINDS]  # ticket, then the controls
    return one_shot + [Cell("ticket", 0.8, 1e-2, 0, lr, rounds=2),
                       Cell("ticket", 0.8, lr, 0, lr, rounds=2, rewind_epoch=1)]


def test_imp_cells_follow_the_config(make_smoke_config):
    config = make_smoke_config({"pruning.imp_rounds": 4})
    cell = imp_cell(config, "reinit", 0.9, 1e-3, 5, rewind_epoch=2)
    assert (cell.rounds, cell.rewind_epoch, cell.mask_lr) == (4, 2, 1e-3)  # the diagonal
    assert (1 - cell.round_rate) ** 4 == pytest.approx(0.1)
    chain = [cell.as_ticket()]
    while chain[-1].parent() is not None:
        chain.append(chain[-1].parent())
    assert [c.rounds for c in chain] == [4, 3, 2, 1]
    assert [c.sparsity for c in chain] == pytest.approx([1 - (0.1 ** 0.25) ** r
                                                         for r in (4, 3, 2, 1)])


def test_masks_and_initialisations_of_each_kind(smoke_config):
    ticket, reinit, rand, rescaled, at_init, permuted, imp, rewound = run_cells(
        smoke_config, cells_for(smoke_config))
    dense = train_dense(smoke_config)
    assert all(torch.equal(m, ticket.mask[k])
               for k, m in magnitude_mask(dense.theta_star, 0.8).items())
    assert all(torch.equal(m, reinit.mask[k]) for k, m in ticket.mask.items())
    for k, m in ticket.mask.items():  # same per-layer density, other positions
        assert int(rand.mask[k].sum()) == int(m.sum())
        assert torch.equal(rescaled.mask[k], rand.mask[k])  # the same random mask...
    assert any(not torch.equal(rand.mask[k], m) for k, m in ticket.mask.items())
    scaled = rescale_kept(dense.theta0, rand.mask, ticket.mask)  # ...on θ0 at the ticket's norm
    for k, m in rand.mask.items():
        assert scaled[k].norm() == pytest.approx(float((dense.theta0[k] * ticket.mask[k]).norm()),
                                                 rel=1e-5)
        assert scaled[k][m].abs().mean() > dense.theta0[k][m].abs().mean()
    first = rescaled.history[0]["val_risk"]  # the stored cell started from exactly that
    model = create_model(smoke_config)
    model.load_state_dict(scaled)
    pnl = deep_hedge_pnl(model, load_split(smoke_config, "val"), smoke_config.hedging.cost)
    assert float(risk_function(smoke_config)(pnl)) == pytest.approx(first, rel=1e-5)
    for result in (ticket, reinit, rand, rescaled, permuted, imp, rewound):
        for k, m in result.mask.items():
            assert torch.all(result.state[k][~m] == 0.0)
        assert result.summary["mask"]["total"] == pytest.approx(1 - density(result.mask))
    # magnitude at θ0: the ticket's per-layer counts, the largest |θ0| in each layer, on θ0
    for k, m in ticket.mask.items():
        kept = at_init.mask[k]
        assert int(kept.sum()) == int(m.sum()) and not torch.equal(kept, m)
        assert dense.theta0[k][kept].abs().min() >= dense.theta0[k][~kept].abs().max()
    # the initialisations differ: the risk at step 0 tells them apart
    # permuted init: the ticket's mask, each layer's kept θ0 values at other kept positions
    assert all(torch.equal(m, permuted.mask[k]) for k, m in ticket.mask.items())
    cell = cells_for(smoke_config)[KINDS.index("permuted")]
    start = cell_init(smoke_config, cell, {(0, cell.mask_lr): dense}, {}, ticket.mask,
                      ticket.mask)
    for k, m in ticket.mask.items():
        assert torch.equal(start[k][m].sort().values, dense.theta0[k][m].sort().values)
        assert not torch.equal(start[k][m], dense.theta0[k][m])
    firsts = {r.history[0]["val_risk"]
              for r in (ticket, reinit, rand, rescaled, at_init, permuted)}
    assert len(firsts) == 6 and all(r.history[0]["step"] == 0 for r in (ticket, rescaled))
    # IMP: two rounds of p = 1 − √0.2 each; the second round prunes inside the first's mask
    p = 1 - 0.2 ** 0.5
    parent = run_cells(smoke_config, [imp.cell.parent()])[0]
    assert density(parent.mask) == pytest.approx(1 - p * 0.95, abs=0.02)  # output at half
    assert all(torch.all(parent.mask[k] | ~m) for k, m in imp.mask.items())
    assert density(imp.mask) < density(parent.mask)


def test_a_ticket_cell_is_the_one_by_one_training_of_its_mask(smoke_config):
    cell = cells_for(smoke_config)[0]
    result = run_cells(smoke_config, [cell])[0]
    dense = train_dense(smoke_config)
    model = create_model(smoke_config)
    model.load_state_dict(dense.theta0)
    t = smoke_config.training
    alone = Trainer(model, create_loss_function(smoke_config), risk_function(smoke_config),
                    cost=smoke_config.hedging.cost, learning_rate=cell.learning_rate,
                    batch_size=t.batch_size, schedule=schedule(smoke_config, cell.learning_rate),
                    patience=t.patience, min_delta=t.min_delta,
                    shuffle_seed=data_order_seed(smoke_config, cell.seed),  # the seed's order
                    mask=result.mask).fit(load_split(smoke_config, "train"),
                                          load_split(smoke_config, "val"))
    assert [r["val_risk"] for r in result.history] == pytest.approx(
        [r["val_risk"] for r in alone.history], rel=1e-4)
    assert result.summary["best_step"] == alone.best_step


def test_an_interrupted_sweep_resumes_where_it_stopped(smoke_config, monkeypatch):
    cells = cells_for(smoke_config)[:3]  # ticket, re-init, random mask
    open_store(smoke_config)  # same folder for both runs
    saved, real_save = [], Store.save

    def save_then_die(self, stage, key, files):
        real_save(self, stage, key, files)
        saved.append((stage, key))
        if stage == "ticket":
            raise KeyboardInterrupt  # killed right after the first cell was stored

    monkeypatch.setattr(Store, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_cells(smoke_config, cells)
    monkeypatch.setattr(Store, "save", real_save)
    done = [key for stage, key in saved if stage == "ticket"]
    assert len(done) == 1
    trained = []
    real_fit = runtime.fit_ensemble
    monkeypatch.setattr(runtime, "fit_ensemble",
                        lambda inits, *a, **k: trained.append(len(inits)) or
                        real_fit(inits, *a, **k))
    results = run_cells(smoke_config, cells)
    assert trained == [2]  # the dense network and the stored cell were not retrained
    assert [r.folder.name for r in results].count(done[0]) == 1
    trained.clear()
    run_cells(smoke_config, cells)
    assert trained == []  # a complete sweep is a pure cache hit


def test_cells_are_keyed_by_what_makes_them(smoke_config, make_smoke_config):
    a, b = cells_for(smoke_config)[:2]
    assert cell_key(smoke_config, a) != cell_key(smoke_config, b)
    layer = make_smoke_config({"pruning.scope": "layer"})
    assert cell_key(smoke_config, a) != cell_key(layer, a)
    other_list = make_smoke_config({"pruning.sparsities": [0.5]})
    assert cell_key(smoke_config, a) == cell_key(other_list, a)
    with pytest.raises(ValueError, match="kind"):
        Cell("winning", 0.8, 1e-3, 0, 1e-3)
    with pytest.raises(ValueError, match="sparsity"):
        Cell("ticket", 1.0, 1e-3, 0, 1e-3)


def test_a_new_cell_field_with_a_default_changes_no_key_and_no_random_mask(monkeypatch):
    monkeypatch.setattr(code_sets, "fingerprint", lambda modules: "code")
    config = Config()
    cell = Cell("random_mask", 0.8, 0.01, 3, 0.01)
    key = cell_key(config, cell)

    @dataclasses.dataclass(frozen=True)
    class NewCell(Cell):
        new_field: int = 0

    assert cell_key(config, NewCell("random_mask", 0.8, 0.01, 3, 0.01)) == key
    assert cell_key(config, NewCell("random_mask", 0.8, 0.01, 3, 0.01, new_field=1)) != key
    assert key == "1f6b1b0560e5"  # pinned: stored cells are found by it (STAGE_VERSION 4)
    seed = random_mask_seed(cell)
    assert seed == random_mask_seed(NewCell("random_mask", 0.8, 0.01, 3, 0.01))
    assert seed == random_mask_seed(replace(cell, kind="rescaled_mask"))  # one mask for both
    # as before: the seed's fields are those Cell had when it was written
    assert seed == derived_seed("random_mask", *dataclasses.astuple(cell)[:7])


def printed_summary(path):
    nb = nbformat.read(path, as_version=4)
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    text = "".join(o.get("text", "") for o in last.outputs)
    bullets = []  # report.bullets wraps each sentence: "- " then lines indented by two
    for line in text.splitlines():
        if line.startswith("- "):
            bullets.append(line[2:])
        elif line.startswith("  ") and bullets:
            bullets[-1] += " " + line[2:]
    return bullets




def test_a_diverging_cell_is_stored_as_diverged(smoke_config, monkeypatch):
    import lth_hedging.studies.tickets as tickets

    real_init = tickets.cell_init

    def broken(config, cell, dense, rewinds, mask, ticket):
        state = {k: v.clone() for k, v in
                 real_init(config, cell, dense, rewinds, mask, ticket).items()}
        state["layers.2.weight"].fill_(float("inf"))
        return state

    monkeypatch.setattr(tickets, "cell_init", broken)
    cell = Cell("ticket", 0.5, 1e-3, 0, smoke_config.training.learning_rate)
    result = run_cells(smoke_config, [cell])[0]
    assert result.summary["diverged"] and result.summary["best_step"] == 0
    assert result.summary["test_risk"] != result.summary["test_risk"]  # NaN: nothing to test


def test_a_control_alone_trains_no_ticket(smoke_config):
    lr = smoke_config.training.learning_rate
    run_cells(smoke_config, [Cell("random_mask", 0.7, lr, 0, lr)])
    store = open_store(smoke_config)
    assert store.load("ticket", cell_key(smoke_config, Cell("ticket", 0.7, lr, 0, lr))) is None


def test_a_cell_retrains_as_its_plan_says(smoke_config):
    """Warmup and data order are the cell's: a fresh order is not the replay order, the dense
    comparator of a cell trains on the cell's own plan, and every default keeps its key."""
    lr, mask_lr = 1e-2, smoke_config.training.learning_rate
    base = Cell("ticket", 0.8, lr, 0, mask_lr)
    fresh = replace(base, data_order="fresh")
    warm = replace(fresh, warmup_steps=10, warmup_from=mask_lr)
    layer = replace(base, scope="layer")
    keys = {cell_key(smoke_config, c) for c in (base, fresh, warm, layer)}
    assert len(keys) == 4
    assert cell_key(smoke_config, replace(base, scope="global")) == cell_key(smoke_config, base)
    assert data_order_seed(smoke_config, 0, "fresh") != data_order_seed(smoke_config, 0)
    results = run_cells(smoke_config, [base, fresh, warm, layer])
    curves = [[r["val_risk"] for r in x.history] for x in results]
    assert curves[0][0] == curves[1][0] == curves[2][0]  # same start (θ0 ⊙ the same mask)...
    assert curves[0][1:] != curves[1][1:] != curves[2][1:]  # ...other orders, other rates
    assert not all(torch.equal(m, results[3].mask[k]) for k, m in results[0].mask.items())
    assert warm.dense(0.001).plan == warm.plan()
    plan = schedule(smoke_config, lr, warmup_steps=10, warmup_from=mask_lr)
    assert [plan.learning_rate(lr, k) for k in (1, 6, 11, 12)] == pytest.approx(
        [mask_lr, mask_lr + (lr - mask_lr) / 2, lr, lr])
    with pytest.raises(ValueError, match="data_order"):
        replace(base, data_order="shuffled")
    with pytest.raises(ValueError, match="warmup_from"):
        replace(base, warmup_steps=5, warmup_from=0.5)
    with pytest.raises(ValueError, match="scope"):
        replace(base, scope="row")
