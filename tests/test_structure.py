"""The pilot (the diagonal study notebook 03 ran before the registration, ``pilot``) on the
smoke config: its design, its pairing on the shared comparison code, and the small dense
control."""

import json

import pytest
import torch
from conftest import module_smoke_config

from lth_hedging.foundations.records import encode
from lth_hedging.studies import judging, pilot
from lth_hedging.studies.stages import open_store, train_dense
from lth_hedging.studies.tickets import Cell, one_shot_mask, run_cells


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return module_smoke_config(tmp_path_factory, "pilot")


@pytest.fixture(scope="module")
def controls(config):
    torch.set_num_threads(2)
    return json.loads(json.dumps(encode(pilot.controls_over_seeds(config)), default=float))


def test_the_pilot_is_the_diagonal_study_of_the_config(config, controls):
    assert judging.study_seeds(config) == controls["seeds"] == [0, 1, 2]
    cells = controls["cells"]
    assert [(c["learning_rate"], c["sparsity"]) for c in cells] == [(0.01, 0.8), (0.01, 0.95)]
    tested = [c for cell in cells for c in cell["comparisons"].values() if c["tested"]]
    assert controls["family_size"] == len(tested) <= 2 * 3  # sparsities × comparators
    assert all(set(c["comparisons"]) == {"dense", "reinit", "rescaled_mask"} for c in cells)
    p = controls["primary"]
    for cell in cells:
        for c in cell["comparisons"].values():  # the registered study's statistics
            assert c["endpoint"] == c["endpoints"][p]
            if c["tested"]:
                assert c["p_holm"] >= c["endpoint"]["p"]
    # the dense network from θ0 at the rate is the θ* whose magnitudes made the mask, and the
    # ticket replays its data order
    cell = cells[0]
    dense = train_dense(config, learning_rate=cell["learning_rate"], seed=1,
                        store=open_store(config))
    ticket = run_cells(config, [Cell("ticket", cell["sparsity"], cell["learning_rate"], 1,
                                     cell["learning_rate"])])[0]
    mask = one_shot_mask(config, dense.theta_star, cell["sparsity"])
    assert all(torch.equal(m, ticket.mask[k]) for k, m in mask.items())
    assert ticket.cell.data_order == "replay"
    assert cell["rows"]["dense"][1]["final_risk"] == pytest.approx(
        sum(r["val_risk"] for r in dense.history[-10:]) / 10)


def test_the_small_dense_control_keeps_as_many_weights_as_the_ticket(config):
    for sparsity in (0.8, 0.98):
        small = pilot.small_dense_config(config, sparsity)
        kept = (1 - sparsity) * pilot._n_weights(config, config.model.hidden)
        assert pilot._n_weights(small, small.model.hidden) == pytest.approx(kept, rel=0.15,
                                                                            abs=20)
        assert len(small.model.hidden) == len(config.model.hidden)
    wide = pilot.widened(config, 2.0)
    assert wide.model.hidden == tuple(2 * h for h in config.model.hidden)
    assert pilot.widened(config, 1.0) is config
