"""Notebook 03's experiments on the smoke config: pairing, structure, geometry, IMP, and the
reference notebook printing exactly what its results say."""

import json
import math
import warnings

import pytest
import torch
from test_tickets import printed_summary

from lth_hedging import characterization as ch
from lth_hedging import findings, lottery
from lth_hedging.anatomy import weight_distance
from lth_hedging.config import load_config, project_root
from lth_hedging.experiment import open_store, train_dense
from lth_hedging.pruning import sparsity_report
from lth_hedging.tickets import Cell, one_shot_mask, run_cells


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """The smoke config as ``make smoke`` runs it, in a store of its own."""
    tmp = tmp_path_factory.mktemp("characterization")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config("configs/smoke.yaml", {
            "caching.directory": str(tmp / "cache"),
            "experiments.directory": str(tmp / "experiments"), "runtime.progress": False})


@pytest.fixture(scope="module")
def results(config):
    """The five results as notebook 03 writes them (through JSON, as a reader sees them)."""
    torch.set_num_threads(2)
    rate = ch.study_rate(config)
    out = {"controls": ch.controls_over_seeds(config),
           "structure": ch.mask_structure(config, rate),
           "hedge": ch.hedge_vs_sparsity(config, rate), "weights": ch.weight_geometry(config, rate),
           "imp": ch.one_shot_vs_imp(config, rate)}
    return {"learning_rate": rate, **json.loads(json.dumps(out))}


def test_the_study_design_comes_from_the_config(config, results):
    assert lottery.study_seeds(config) == [0, 1, 2]
    cells = results["controls"]["cells"]
    assert [(c["learning_rate"], c["sparsity"]) for c in cells] == [(0.01, 0.8), (0.01, 0.95)]
    tested = [c for cell in cells for c in cell["comparisons"].values() if c["tested"]]
    assert results["controls"]["family_size"] == len(tested) <= 2 * 3  # sparsities × comparators
    assert all(set(c["comparisons"]) == {"dense", "reinit", "rescaled_mask"} for c in cells)


def test_each_ticket_is_paired_with_its_own_seeds_comparators(config, results):
    controls = results["controls"]
    p = controls["primary"]
    for cell in controls["cells"]:
        rows = cell["rows"]
        for kind, net in rows.items():
            assert [r["seed"] for r in net] == [0, 1, 2]
            assert cell["networks"][kind]["cvar_05"]["mean"] == pytest.approx(
                sum(r["cvar_05"] for r in net) / 3)
            assert cell["networks"][kind][p]["reached"] == sum(r[p] is not None for r in net)
            assert all(r["curve"][-1][0] == cell["budget"] for r in net)  # whole budget
        for other, c in cell["comparisons"].items():
            steps = [[r[p] if r[p] is not None else r["budget"] for r in rows[k]]
                     for k in (other, "ticket")]
            assert c[p]["log_ratios"] == pytest.approx(
                [math.log(o / max(t, 1)) for o, t in zip(*steps)])
            assert c[p]["censored_reference"] == sum(r[p] is None for r in rows[other])
            assert c["test_cvar"]["per_seed"] == pytest.approx(
                [t["cvar_05"] - o["cvar_05"] for t, o in zip(rows["ticket"], rows[other])])
            n_out = (c[p]["censored_reference"], c[p]["censored_other"])
            assert c["tested"] == (3 not in n_out)  # one side never reaches: an outcome
            if 3 in n_out:  # every run of one side censored: no speed-up to test
                assert c["verdict"] in ("neither reaches", "never reaches",
                                        "only the ticket reaches") and "p_holm" not in c
            else:
                assert c["p_holm"] >= c[p]["p"]  # Holm only ever raises a p-value
                decided = c["p_holm"] < controls["alpha"]
                assert (c["verdict"] != "indistinguishable") == decided
            assert c["detectable"] > 1 or (math.isnan(c["detectable"]) and c[p]["sd"] == 0)
        # the dense network from θ0 at the rate is the θ* whose magnitudes made the mask
        for seed in (0, 1):
            dense = train_dense(config, learning_rate=cell["learning_rate"], seed=seed,
                                store=open_store(config))
            ticket = run_cells(config, [Cell("ticket", cell["sparsity"], cell["learning_rate"],
                                             seed, cell["learning_rate"])])[0]
            mask = one_shot_mask(config, dense.theta_star, cell["sparsity"])
            assert all(torch.equal(m, ticket.mask[k]) for k, m in mask.items())
    first = controls["cells"][0]["rows"]["ticket"]
    assert len({r["final_risk"] for r in first}) == 3  # own θ0, θ*, mask and data per seed


def test_the_mask_structure_is_that_of_the_stored_masks(config, results):
    s = results["structure"]
    assert all(n["nested_seeds"] == 3 for n in s["nesting"])
    for n in s["nesting"]:  # nested masks overlap by the ratio of their densities
        assert n["overlap"]["mean"] == pytest.approx(n["overlap_if_nested"]["mean"])
    theta_star = train_dense(config, learning_rate=results["learning_rate"], seed=1,
                             store=open_store(config)).theta_star
    for level in s["levels"]:
        report_1 = sparsity_report(one_shot_mask(config, theta_star, level["sparsity"]))
        for name, d in level["layer_density"].items():
            assert d["range"][0] <= 1 - report_1["layers"][name] <= d["range"][1]
        inputs = level["inputs"]
        assert sum(v["mass_share"]["mean"] for v in inputs.values()) == pytest.approx(1.0)
        assert list(inputs) == ["log_moneyness", "time_to_maturity", "volatility",
                                "previous_position"]
        assert 0 < level["random_overlap"] < 1


def test_the_hedge_rows_agree_with_the_dense_network(config, results):
    h = results["hedge"]
    controls = results["controls"]["cells"][0]["rows"]["dense"]
    assert h["dense"]["cvar_05"] == pytest.approx(controls[0]["cvar_05"])  # seed 0, same rate
    assert h["min_variance_delta"]["position_rms_vs_min_variance"] == 0
    assert [r["sparsity"] for r in h["results"]] == list(config.pruning.sparsities)
    for r in h["results"]:
        diff = r["cvar_05_vs_dense"]["difference"]
        assert diff == pytest.approx(r["cvar_05"] - h["dense"]["cvar_05"], abs=1e-9)
        assert r["position_rms_vs_dense"] > 0


def test_weight_geometry_measures_the_stored_weights(config, results):
    level = results["weights"]["levels"][0]
    row = level["per_seed"][0]
    cell = Cell("ticket", level["sparsity"], results["learning_rate"], 0,
                results["learning_rate"])
    ticket = run_cells(config, [cell])[0]
    dense = train_dense(config, learning_rate=results["learning_rate"], seed=0,
                        store=open_store(config))
    assert row["ticket_to_theta_star"] == pytest.approx(
        weight_distance(ticket.state, dense.theta_star, ticket.mask))
    assert row["theta0_to_theta_star"] == pytest.approx(
        weight_distance(dense.theta0, dense.theta_star, ticket.mask))
    assert row["ticket_moved"] > 0 and row["kept_magnitude_theta0"] > 1
    assert row["ticket_sign_theta0"] <= 1 and 0 <= row["reinit_sign_theta_star"] <= 1


def test_imp_is_compared_with_the_one_shot_ticket_from_theta0(config, results):
    imp = results["imp"]
    variants = {(v["method"], v["rewind_epoch"]): v for v in imp["variants"]}
    assert set(variants) == {("one-shot", 0), ("one-shot", 1), ("IMP", 0), ("IMP", 1)}
    reference = variants[("one-shot", 0)]
    assert reference["cvar_05_vs_one_shot"][0]["difference"] == 0
    assert reference["rows"][0]["overlap_with_one_shot"] == 1
    assert reference["speedup_vs_one_shot"]["speedup"] == 1
    for key in (("IMP", 0), ("IMP", 1)):
        row = variants[key]["rows"][0]
        assert row["sparsity"] == pytest.approx(0.8, abs=0.03)
        assert row["overlap_with_one_shot"] < 1  # iterative pruning found another mask
        assert variants[key]["rounds"] == config.pruning.imp_rounds
    one_shot = variants[("one-shot", 1)]["rows"][0]
    assert one_shot["overlap_with_one_shot"] == 1  # same mask, another starting point


def test_notebook_03_prints_what_its_results_say(results):
    """The reference notebook's summary is ``characterization_conclusions`` of the results
    JSON, and the JSON's own numbers back the verdicts."""
    sections = findings.characterization_conclusions(
        results["controls"], results["structure"], results["hedge"], results["weights"],
        results["imp"])
    lines = [line for section in sections.values() for line in section]
    reference = project_root() / "tests" / "notebooks" / "03_characterization.ipynb"
    assert printed_summary(reference) == lines
    controls = results["controls"]
    text = "\n".join(sections["Controlled study (confirmatory)"])
    boosting = [c for c in controls["cells"] if c["verdict"]["boosting"]]
    assert ("No boosting ticket shown" in text) == (not boosting)
    both = [c["comparisons"]["dense"] for c in controls["cells"]
            if c["comparisons"]["dense"]["verdict"] in ("faster", "slower", "indistinguishable")]
    if both:
        upper = max(d[controls["primary"]]["upper"] for d in both)
        assert f"speed-ups up to {findings.times(upper)} open" in text
    for cell in controls["cells"]:
        d = cell["comparisons"]["dense"]["test_cvar"]["ci"][1]
        assert cell["verdict"]["matches_dense"] == (d <= controls["margin"]["margin"])
        assert f"{findings.cell_label(cell)}: ticket speed-up" in text
    nested = sum(n["nested_seeds"] == 3 for n in results["structure"]["nesting"])
    first = sections["Mask structure (exploratory)"][0]
    assert "nested (every weight" in first
    assert f"at {nested} of {len(results['structure']['nesting'])} steps" in first


def test_the_small_dense_control_keeps_as_many_weights_as_the_ticket(config):
    for sparsity in (0.8, 0.98):
        small = ch.small_dense_config(config, sparsity)
        kept = (1 - sparsity) * ch._n_weights(config, config.model.hidden)
        assert ch._n_weights(small, small.model.hidden) == pytest.approx(kept, rel=0.15, abs=20)
        assert len(small.model.hidden) == len(config.model.hidden)
    wide = ch.widened(config, 2.0)
    assert wide.model.hidden == tuple(2 * h for h in config.model.hidden)
    assert ch.widened(config, 1.0) is config
