"""Notebook 03 on the smoke config with registration 1's design (``configs/registration1.yaml``):
the registered study's design, pairing and statistics, its exploratory sections, and the
reference notebook printing exactly what they say (registration 2: test_registration2.py)."""

import json
import math
import statistics

import pytest
import torch
from conftest import characterization, module_smoke_config, registration1_at_smoke_size

from lth_hedging.foundations.records import encode
from lth_hedging.measures.anatomy import weight_distance
from lth_hedging.measures.speed import ENDPOINTS, final_risk
from lth_hedging.nets.pruning import magnitude_mask, sparsity_report
from lth_hedging.presentation import verdicts
from lth_hedging.studies import confirmation as cf
from lth_hedging.studies import judging
from lth_hedging.studies import registration as reg
from lth_hedging.studies import sensitivity as xp
from lth_hedging.studies import structure as ch
from lth_hedging.studies.stages import data_order_seed
from lth_hedging.studies.tickets import run_cells


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return module_smoke_config(tmp_path_factory, "notebook03", registration1_at_smoke_size())


@pytest.fixture(scope="module")
def results(config):
    """Everything notebook 03 computes, through JSON as a reader sees it."""
    torch.set_num_threads(2)
    rate = ch.study_rate(config)
    study = cf.confirmatory_study(config, departures=reg.departures(config))
    out = {"study": study, "replay": xp.replay_effect(config, study),
           "scope": xp.scope_effect(config, study), "crossing": xp.crossings(config, study),
           "steady": xp.steadiness(config, study), **characterization(config)}
    stored = json.loads(json.dumps(encode(out), default=float))
    return {"learning_rate": rate, **stored, "typed": read_back(stored)}


TYPES = {"study": cf.Study, "replay": xp.Replay, "scope": xp.Scope, "crossing": xp.Crossings,
         "steady": xp.Steadiness, "hedge": ch.Hedge, "weights": ch.Weights, "imp": ch.Imp}


def read_back(stored: dict) -> dict:
    """The results as a reader of the JSON gets them back: typed, through ``from_json``."""
    out = {name: kind.from_json(stored[name]) for name, kind in TYPES.items()}
    out["collapse"] = {k: ch.MaskStructure.from_json(v) for k, v in stored["collapse"].items()}
    return out


def test_the_results_json_reads_back_as_written(results):
    """The documented form round-trips: every results file read back into its types and
    written again is the same JSON, number for number and key for key, in order."""
    for name, typed in results["typed"].items():
        again = json.dumps(encode(typed), default=float)
        assert again == json.dumps(results[name]), name  # every key in order, every number


def test_the_design_is_the_registered_one(config, results):
    study, r = results["study"], config.registration
    assert study["seeds"] == [1000, 1001, 1002] == cf.registered_seeds(config)
    assert not set(study["seeds"]) & set(judging.study_seeds(config))  # fresh: not the pilot's
    assert [(c["schedule"], c["sparsity"]) for c in study["cells"]] == [
        ("warmup", 0.8), ("warmup", 0.9), ("constant", 0.8), ("constant", 0.9)]
    for cell in study["cells"]:
        kinds = {"ticket", "dense", *(r.controls if cell["schedule"] == "warmup" else ())}
        assert set(cell["rows"]) == kinds
        families = {k: c["family"] for k, c in cell["comparisons"].items()}
        assert families == {k: "A" if k == "dense" else "B" for k in kinds - {"ticket"}}
    assert study["families"]["A"]["members"] == 4
    assert study["families"]["B"]["members"] == 2 * len(r.controls)
    # every cell retrains at the larger rate on a fresh order, warmup from the mask's rate
    cell = cf.study_cell(config, "reinit", 0.8, 1000, "warmup")
    assert (cell.learning_rate, cell.mask_lr, cell.data_order, cell.scope) == (
        r.learning_rate, r.mask_lr, "fresh", "layer")
    assert (cell.warmup_steps, cell.warmup_from) == (r.warmup_steps, r.mask_lr)
    assert cell.dense(config.hedging.cost) == cf.dense_comparator(config, 1000, "warmup")
    assert cf.study_cell(config, "ticket", 0.8, 1000, "constant").warmup_steps == 0
    assert data_order_seed(config, 1000, "fresh") != data_order_seed(config, 1000)


def test_the_mask_is_the_layer_wise_magnitude_of_theta_star_at_the_mask_rate(config):
    sources = cf.mask_sources(config)
    ticket = cf.study_results(config, "warmup", "ticket")[0.8]
    at_init = cf.study_results(config, "warmup", "init_magnitude")[0.8]
    for seed, run in sources.items():
        assert run.summary["learning_rate"] == config.registration.mask_lr
        assert "data_order" not in run.summary  # θ* trained on the seed's own order
        mask = magnitude_mask(run.theta_star, 0.8, scope="layer",
                              output_rate=config.pruning.output_rate)
        assert all(torch.equal(m, ticket[seed].mask[k]) for k, m in mask.items())
        for k, m in mask.items():  # same per-layer counts, the largest |θ0|
            assert int(at_init[seed].mask[k].sum()) == int(m.sum())
            kept = at_init[seed].mask[k]
            assert run.theta0[k][kept].abs().min() >= run.theta0[k][~kept].abs().max()


def test_each_comparison_is_paired_by_seed_and_corrected_within_its_family(results):
    study = results["study"]
    e, refs = study["endpoint"], study["references"]
    constant = next(c for c in study["cells"] if c["schedule"] == "constant")["rows"]["dense"]
    assert refs["dense"] == pytest.approx(statistics.median(
        final_risk([{"val_risk": v} for _, v in r["curve"]], 10) for r in constant))
    for cell in study["cells"]:
        rows = cell["rows"]
        for kind, net in rows.items():
            assert [r["seed"] for r in net] == study["seeds"]
            assert all(r["curve"][-1][0] == study["budget"] for r in net)  # whole budget
            assert cell["networks"][kind][e]["reached"] == sum(r[e] is not None for r in net)
        for other, c in cell["comparisons"].items():
            steps = [[r[e] if r[e] is not None else r["budget"] for r in rows[k]]
                     for k in (other, "ticket")]
            assert c["endpoint"]["log_ratios"] == pytest.approx(
                [math.log(o / max(t, 1)) for o, t in zip(*steps)])
            assert c["test_risk"]["per_seed"] == pytest.approx(
                [t["test_risk"] - o["test_risk"] for t, o in zip(rows["ticket"], rows[other])])
            n_out = (c["endpoint"]["censored_reference"], c["endpoint"]["censored_other"])
            assert c["tested"] == (3 not in n_out)  # one side never reaches: an outcome
            if c["tested"]:
                assert c["p_holm"] >= c["endpoint"]["p"]  # Holm only ever raises a p-value
                decided = c["p_holm"] < study["registration"]["alpha"]
                assert (c["verdict"] != "indistinguishable") == decided
            else:
                assert c["p_holm"] is None and c["verdict"] in (
                    "neither reaches", "never reaches", "only the ticket reaches")
        v, d = cell["verdict"], cell["comparisons"]["dense"]
        assert v["matches_dense"] == (d["test_risk"]["ci"][1] <= study["margin"]["margin"])
        assert v["boosting"] == (v["matches_dense"] and v["primary_passes_floor"]
                                 and d["verdict"] == "faster")
    for family, f in study["families"].items():
        tested = [c for cell in study["cells"] for c in cell["comparisons"].values()
                  if c["family"] == family and c["tested"]]
        assert f["size"] == len(tested)


def test_the_floor_controls_are_measured_at_every_schedule(results):
    study = results["study"]
    floors = list(study["floors"].values())
    assert len(floors) == 2 and floors[0].keys() == floors[1].keys()
    for name, f in floors[0].items():  # positions frozen: the same flat risk at each schedule
        assert f["final_risk"] == pytest.approx(floors[1][name]["final_risk"])
        assert f["curve"][0][1] == pytest.approx(f["final_risk"])
    reached = {x for f in floors for row in f.values() for x in ENDPOINTS if row[x] is not None}
    assert reached <= set(study["floor_reached"])
    assert all(c["verdict"]["primary_passes_floor"] == (study["endpoint"] not in reached)
               for c in study["cells"])


def test_replay_trains_on_theta_stars_order_beside_the_fresh_pair(config, results):
    replay = results["replay"]
    assert replay["seeds"] == cf.registered_seeds(config)[:config.pilot.replay_seeds]
    cells = [cf.study_cell(config, "ticket", 0.8, s, "warmup", "replay") for s in replay["seeds"]]
    stored = run_cells(config, cells)
    for result, curve in zip(stored, replay["curves"]["replay"]["ticket"]):
        assert result.cell.data_order == "replay"
        assert [r["step"] for r in result.history] == [step for step, _ in curve]
        assert [r["val_risk"] for r in result.history] == pytest.approx([v for _, v in curve])
    assert replay["curves"]["replay"]["ticket"] != replay["curves"]["fresh"]["ticket"]
    assert replay["curves"]["fresh"]["ticket"][0][0] == replay["curves"]["replay"]["ticket"][0][0]


def test_the_other_ranking_is_paired_with_the_same_dense_networks(config, results):
    scope, study = results["scope"], results["study"]
    assert (scope["scope"], scope["registered_scope"]) == ("global", "layer")
    dense = study["cells"][0]["rows"]["dense"]
    cells = [cf.study_cell(config, "ticket", 0.8, s, "warmup", scope="global")
             for s in scope["seeds"]]
    ranked = run_cells(config, cells)
    steps = [r.summary["best_step"] for r in ranked]
    assert all(c.cell.scope == "global" for c in ranked) and len(steps) == len(dense)
    assert scope["vs_dense"]["endpoint"]["n"] == len(study["seeds"])
    masks = [c.mask for c in ranked]
    registered = cf.study_results(config, "warmup", "ticket")[0.8]
    assert not all(torch.equal(m[k], registered[s].mask[k])
                   for m, s in zip(masks, scope["seeds"]) for k in m)


def test_crossings_time_where_each_curve_stays_below_the_level(results):
    crossing, study = results["crossing"], results["study"]
    for c, cell in zip(crossing["cells"], study["cells"]):
        for kind in ("ticket", "dense"):
            rows = cell["rows"][kind]
            first = [r[study["endpoint"]] for r in rows]
            assert c["stayed"][kind] <= sum(f is not None for f in first)
            assert c["crossed_back"][kind] <= sum(f is not None for f in first)
        assert c["auc"] == cell["comparisons"]["dense"]["auc"]
        assert c["stay"]["n"] == len(study["seeds"])


def test_outcomes_report_reach_counts_not_ratios(results):
    for cell in results["study"]["cells"]:
        for c in cell["comparisons"].values():
            t, reach = c["endpoint"], c["reach"]
            assert reach["reached"] == t["n"] - t["censored_other"]
            assert reach["other_reached"] == t["n"] - t["censored_reference"]
            if not c["tested"]:
                assert verdicts.speed_text(cf.Comparison.from_json(c)).startswith("reached ")


def test_steadiness_reads_the_late_half_of_each_curve(results):
    steady = results["steady"]
    row = results["study"]["cells"][0]["rows"]["ticket"][0]
    late = [v for s, v in row["curve"] if s > results["study"]["budget"] / 2]
    assert xp.late_swing(row["curve"], results["study"]["budget"]) == pytest.approx(
        statistics.stdev(late))
    assert set(steady["networks"]) == {"ticket, warmup", "dense, warmup", "ticket, constant",
                                       "dense, constant", "θ*, LR 0.005"}
    assert steady["budgets"]["θ*, LR 0.005"] > steady["budgets"]["ticket, warmup"]


def test_layer_collapse_compares_the_rankings_of_the_same_masks(config, results):
    collapse = results["collapse"]
    sources = cf.mask_sources(config)
    theta_star = sources[1001].theta_star
    for scope in ("global", "layer"):
        for level in collapse[scope]["levels"]:
            report = sparsity_report(magnitude_mask(theta_star, level["sparsity"], scope=scope,
                                                    output_rate=config.pruning.output_rate))
            for name, d in level["layer_density"].items():
                assert d["range"][0] <= 1 - report["layers"][name] <= d["range"][1]
            assert sum(x["mean"] for x in level["dead_by_layer"]) == pytest.approx(
                level["dead_units"]["mean"])
    layer = collapse["layer"]["levels"][-1]["layer_density"]
    s = collapse["layer"]["levels"][-1]["sparsity"]
    assert all(d["mean"] == pytest.approx(1 - s, abs=0.02) for d in list(layer.values())[:-1])
    structure = collapse["layer"]
    assert all(n["nested_seeds"] == 3 for n in structure["nesting"])
    for n in structure["nesting"]:  # nested masks overlap by the ratio of their densities
        assert n["overlap"]["mean"] == pytest.approx(n["overlap_if_nested"]["mean"])


def test_the_hedge_rows_agree_with_the_dense_network(config, results):
    h = results["hedge"]
    assert h["min_variance_delta"]["position_rms_vs_min_variance"] == 0
    assert [r["sparsity"] for r in h["results"]] == list(config.pruning.sparsities)
    for r in h["results"]:
        diff = r["cvar_05_vs_dense"]["difference"]
        assert diff == pytest.approx(r["cvar_05"] - h["dense"]["cvar_05"], abs=1e-9)
        assert r["position_rms_vs_dense"] > 0


def test_weight_geometry_measures_the_registered_tickets(config, results):
    level = results["weights"]["levels"][0]
    row = level["per_seed"][0]
    ticket = cf.study_results(config, "warmup", "ticket")[level["sparsity"]][1000]
    source = cf.mask_sources(config)[1000]
    assert row["ticket_to_theta_star"] == pytest.approx(
        weight_distance(ticket.state, source.theta_star, ticket.mask))
    assert row["theta0_to_theta_star"] == pytest.approx(
        weight_distance(source.theta0, source.theta_star, ticket.mask))
    assert row["ticket_moved"] > 0 and row["kept_magnitude_theta0"] > 1


def test_imp_is_compared_with_the_one_shot_ticket_from_theta0(config, results):
    imp = results["imp"]
    variants = {(v["method"], v["rewind_epoch"]): v for v in imp["variants"]}
    assert set(variants) == {("one-shot", 0), ("one-shot", 1), ("IMP", 0), ("IMP", 1)}
    reference = variants[("one-shot", 0)]
    assert reference["cvar_05_vs_one_shot"][0]["difference"] == 0
    assert reference["speedup_vs_one_shot"]["speedup"] == 1
    for key in (("IMP", 0), ("IMP", 1)):
        row = variants[key]["rows"][0]
        assert row["sparsity"] == pytest.approx(0.8, abs=0.03)
        assert row["overlap_with_one_shot"] < 1  # iterative pruning found another mask
    assert variants[("one-shot", 1)]["rows"][0]["overlap_with_one_shot"] == 1


def test_the_summary_says_what_the_results_say(results):
    """Registration 1's summary sentences are computed from the results JSON, and the JSON's
    own numbers back the verdicts (the reference notebook runs registration 2:
    test_registration2.py)."""
    study, typed = results["study"], results["typed"]
    text = "\n".join(verdicts.conclusions(typed["study"]))
    assert text.startswith("Departs from registration 1: exploratory")  # smoke-sized
    boosting = [c for c in study["cells"] if c["verdict"]["boosting"]]
    assert ("No boosting ticket against the dense from θ0" in text) == (not boosting)
    for cell, label in zip(study["cells"], map(verdicts.cell_label, typed["study"].cells)):
        assert f"{label}: vs dense" in text
        d = cell["comparisons"]["dense"]
        assert ("does not match" in text.split(label)[1].split("\n")[0]) \
            == (not cell["verdict"]["matches_dense"])
        if d["verdict"] == "indistinguishable":
            assert f"boosts above {d['endpoint']['upper']:.2f}× excluded" in text
