"""Notebook 03's experiments on the smoke config: pairing, structure, geometry, IMP, and the
reference notebook printing exactly what its results say."""

import json
import warnings

import pytest
import torch
from test_tickets import printed_summary

from lth_hedging import characterization as ch
from lth_hedging import lottery, report
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
    lr = lottery.lr_exploration(config)["best_lr"]
    out = {"controls": ch.controls_over_seeds(config, lr), "structure": ch.mask_structure(config),
           "hedge": ch.hedge_vs_sparsity(config, lr), "weights": ch.weight_geometry(config, lr),
           "imp": ch.one_shot_vs_imp(config, lr)}
    return {"learning_rate": lr, **json.loads(json.dumps(out))}


def test_the_study_seeds_and_sparsities_come_from_the_config(config):
    assert ch.study_seeds(config) == [0, 1, 2]
    assert ch.control_sparsities(config) == [0.8, 0.95]  # the target 0.8 is among them


def test_each_ticket_is_paired_with_its_own_seeds_controls(results):
    controls = results["controls"]
    assert [lv["sparsity"] for lv in controls["levels"]] == [0.8, 0.95]
    for level in controls["levels"]:
        for kind in ("ticket", "reinit", "random_mask", "dense"):
            rows = level[kind]["seeds"]
            assert [r["seed"] for r in rows] == [0, 1, 2]
            assert all(len(r["val_curve"]) == r["epochs_run"] for r in rows)
            assert level[kind]["cvar_05"]["mean"] == pytest.approx(
                sum(r["cvar_05"] for r in rows) / 3)
            assert level[kind]["reached"] == sum(r["epochs_to_baseline"] is not None
                                                 for r in rows)
        for other in ("reinit", "random_mask", "dense"):
            paired = level[f"ticket_minus_{other}"]
            for d, t, o in zip(paired["cvar_05"]["per_seed"], level["ticket"]["seeds"],
                               level[other]["seeds"]):
                assert d["difference"] == pytest.approx(t["cvar_05"] - o["cvar_05"], abs=1e-9)
                assert d["ci"][0] <= d["difference"] <= d["ci"][1]
            for e, t, o in zip(paired["epochs_to_baseline"]["per_seed"],
                               level["ticket"]["seeds"], level[other]["seeds"]):
                te, oe = t["epochs_to_baseline"], o["epochs_to_baseline"]
                assert e == (None if te is None or oe is None else te - oe)
    first = controls["levels"][0]["ticket"]["seeds"]
    assert len({r["best_val_loss"] for r in first}) == 3  # own θ0, θ* and mask per seed
    assert len({b["best_val_loss"] for b in controls["baselines"]}) == 3


def test_the_mask_structure_is_that_of_the_stored_masks(config, results):
    s = results["structure"]
    assert all(n["nested_seeds"] == 3 for n in s["nesting"])
    for n in s["nesting"]:  # nested masks overlap by the ratio of their densities
        assert n["overlap"]["mean"] == pytest.approx(n["overlap_if_nested"]["mean"])
    theta_star = train_dense(config, seed=1, store=open_store(config)).theta_star
    for level in s["levels"]:
        report_1 = sparsity_report(one_shot_mask(config, theta_star, level["sparsity"]))
        for name, d in level["layer_density"].items():
            assert d["range"][0] <= 1 - report_1["layers"][name] <= d["range"][1]
        inputs = level["inputs"]
        assert sum(v["mass_share"]["mean"] for v in inputs.values()) == pytest.approx(1.0)
        assert list(inputs) == ["log_moneyness", "time_to_maturity", "volatility",
                                "previous_position"]
        assert 0 < level["random_overlap"] < 1


def test_the_hedge_rows_agree_with_the_baseline(config, results):
    h = results["hedge"]
    base = lottery.Baseline(config, open_store(config))
    assert h["dense"]["cvar_05"] == pytest.approx(base.metrics["cvar_05"])
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
                config.training.learning_rate)
    ticket = run_cells(config, [cell])[0]
    dense = train_dense(config, seed=0, store=open_store(config))
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
    assert reference["cvar_05_vs_one_shot"]["per_seed"][0]["difference"] == 0
    assert reference["seeds"][0]["overlap_with_one_shot"] == 1
    for key in (("IMP", 0), ("IMP", 1)):
        row = variants[key]["seeds"][0]
        assert row["sparsity"] == pytest.approx(0.8, abs=0.03)
        assert row["overlap_with_one_shot"] < 1  # iterative pruning found another mask
        assert variants[key]["rounds"] == config.pruning.imp_rounds
    one_shot = variants[("one-shot", 1)]["seeds"][0]
    assert one_shot["overlap_with_one_shot"] == 1  # same mask, another starting point


def test_notebook_03_prints_what_its_results_say(results):
    """The reference notebook's summary is ``characterization_conclusions`` of the results
    JSON, and the JSON's own numbers back the verdicts."""
    findings = report.characterization_conclusions(
        results["controls"], results["structure"], results["hedge"], results["weights"],
        results["imp"])
    lines = [line for section in findings.values() for line in section]
    reference = project_root() / "tests" / "notebooks" / "03_characterization.ipynb"
    assert printed_summary(reference) == lines
    controls = results["controls"]
    text = "\n".join(findings["Controls over seeds"])
    boosting = [f"{lv['sparsity']:.0%}" for lv in controls["levels"]
                if lv["ticket_minus_dense"]["epochs_to_baseline"]["over_seeds"]["ci"][1] < 0]
    assert ("no boosting ticket" in text) == (not boosting)
    for lv in controls["levels"]:
        d = lv["ticket_minus_reinit"]["cvar_05"]["over_seeds"]
        s = f"{lv['sparsity']:.0%}"
        verdict = ("lower" if d["ci"][1] < 0 else "higher" if d["ci"][0] > 0
                   else "indistinguishable")
        line = next(x for x in findings["Controls over seeds"] if "random re-init:" in x)
        risk = line.split("Epochs")[0]
        assert f"{verdict} at" in risk and s in risk
        assert f"{s}: {lv['ticket']['reached']}/3 vs {lv['reinit']['reached']}/3" in line
    nested = sum(n["nested_seeds"] == 3 for n in results["structure"]["nesting"])
    assert "nested (every weight" in findings["Mask structure"][0]
    assert f"at {nested} of {len(results['structure']['nesting'])} steps" in \
        findings["Mask structure"][0]
