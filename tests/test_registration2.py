"""Registration 2 (``registration/REGISTRATION2.md``): the committed search evidence gives the
registered endpoint and margin by the stated rules; the design confirms the search's ticket
against both dense rivals and three controls, with families of a fixed size and censoring at
the longer budget of each pair; the registration guards itself; and notebook 03's smoke
reference prints exactly what its results say."""

import dataclasses
import json
import math
import statistics
import warnings

import pytest
import torch
from conftest import characterization, module_smoke_config
from test_tickets import printed_summary

from lth_hedging import load_config
from lth_hedging.foundations.config import project_root
from lth_hedging.foundations.records import encode
from lth_hedging.measures.speed import final_risk
from lth_hedging.nets.pruning import permute_kept
from lth_hedging.presentation import speed_text, verdicts
from lth_hedging.studies import confirmation as cf
from lth_hedging.studies import registration as reg
from lth_hedging.studies import sensitivity as xp
from lth_hedging.studies.stages import budget_steps


def quiet(path, overrides=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config(path, overrides)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return module_smoke_config(tmp_path_factory, "notebook03")


@pytest.fixture(scope="module")
def results(config):
    """What notebook 03 computes on the smoke config (registration 2's design at toy size)."""
    torch.set_num_threads(2)
    study = cf.confirmatory_study(config, departures=reg.departures(config))
    out = {"study": study, "crossing": xp.crossings(config, study),
           **characterization(config)}
    stored = json.loads(json.dumps(encode(out), default=float))
    typed = {**out, "study": cf.Study.from_json(stored["study"])}
    return {"stored": stored, "typed": typed}


def test_the_committed_search_evidence_gives_the_registered_endpoint_and_margin():
    config = quiet("configs/config.yaml")
    evidence = reg.load_evidence(2)
    choice = reg.analyse_search(evidence, config, config.metrics.window)
    assert reg.SearchChoice.from_json(evidence["analysis"]) == choice  # the file is the rules'
    r = config.registration
    assert choice.chosen == r.endpoint == "T75"
    assert round(choice.margin, 4) == r.match_margin
    rows = {row.endpoint: row for row in choice.rows}
    assert not rows["T50"].floor_clear  # the min-variance delta closes about half the gap
    assert not rows["T90"].eligible  # the ticket does not reach it on every seed
    eligible = [row for row in choice.rows if row.eligible]
    assert choice.k == len(eligible) and min(x.sd_best for x in eligible) == choice.sd
    # the power REGISTRATION2.md states for its 16 seeds, from the conservative SD
    assert choice.sd_upper > choice.sd
    assert round(choice.detectable_at_n, 2) == 1.50
    assert round(choice.power_at_n, 2) == 0.29 and choice.seeds_for_boost == 48


def test_a_level_a_floor_nearly_closes_is_not_eligible():
    config = quiet("configs/config.yaml")

    def run(*risks, budget=30):
        return {"curve": [[5 * i, x] for i, x in enumerate(risks)], "budget": budget,
                "test_risk": 1.0}

    fast = [run(2.0, 1.5, 1.2, 1.0, 1.0, 1.0, 1.0), run(2.0, 1.4, 1.1, 1.0, 1.0, 1.0, 1.0),
            run(2.0, 1.6, 1.3, 1.0, 1.0, 1.0, 1.0)]
    pilot = {"seeds": [0, 1, 2], "references": {"dense": 1.0, "floor": 2.0,
                                                "floor_name": "bs_delta"},
             "floors": {"min_variance_delta": [[0, 1.45], [5, 1.45]]},  # closes 55 %
             "networks": {"ticket": fast, "dense": fast, "best_dense": fast}}
    rows = {r.endpoint: r for r in reg.analyse_search(pilot, config, 1).rows}
    assert not rows["T50"].floor_clear and not rows["T60"].floor_clear  # 60 < 55 + 10
    assert rows["T75"].floor_clear and rows["T75"].eligible


def test_the_exact_noncentral_t_asks_for_one_seed_more_than_registration_1_registered():
    sd = reg.load_pilot()["analysis"]["pooled"][4]["sd_upper"]  # T75's 80 % bound, 0.2316
    assert reg.seeds_needed(sd, 1.25, 0.0125, 0.8) == 15
    assert reg.seeds_needed_exact(sd, 1.25, 0.0125, 0.8) == 16
    assert reg.exact_power(sd, 15, 0.0125, 1.25) < 0.8 <= reg.exact_power(sd, 16, 0.0125, 1.25)


def test_the_registered_files_hold_each_configs_registration():
    for number, path in ((1, "configs/registration1.yaml"), (2, "configs/config.yaml")):
        config = quiet(path)
        assert config.registration.number == number
        assert reg.registered(number) == reg.registered_keys(config)
        assert reg.departures(config) == []


def test_a_changed_key_departs_from_the_registration_and_says_so():
    changed = quiet("configs/config.yaml", {"registration.endpoint": "T90",
                                            "registration.n_seeds": 12})
    departed = reg.departures(changed)
    assert departed == ["endpoint: registered 'T75', here 'T90'",
                        "n_seeds: registered 16, here 12"]
    line = reg.registration_status(changed, departed)
    assert line.startswith("departs from registration 2: exploratory")
    assert "confirmatory" not in line.replace("no verdict below is confirmatory", "")
    extras = quiet("configs/config.yaml", {"registration.extras": ["crossing", "replay"]})
    assert reg.departures(extras) == []  # which exploratory sections run is not the design
    model = quiet("configs/config.yaml", {"model.hidden": [64, 64]})  # beyond the section
    assert reg.departures(model) == ["model.hidden: registered [96, 96, 64], here [64, 64]"]
    where = quiet("configs/config.yaml", {"experiments.directory": "elsewhere",
                                          "runtime.progress": False})
    assert reg.departures(where) == []  # where results go is not the design
    unknown = quiet("configs/config.yaml", {"registration.number": 7})
    assert reg.departures(unknown) == ["number: no registered file registration7.json"]


def test_the_smoke_run_departs_and_every_output_says_so(config, results):
    study = results["typed"]["study"]
    assert study.departures and study.departures == reg.departures(config)
    assert verdicts.status(study) == "departs from registration 2: exploratory"
    text = "\n".join(verdicts.conclusions(study))
    assert text.startswith("Departs from registration 2: exploratory")
    assert "confirmatory" not in text.replace("No verdict below is confirmatory", "")
    assert verdicts.references_line(study).startswith("departs from registration 2")
    assert "departs from registration 2" in verdicts.comparisons_table(study).columns[-1]


def test_the_design_confirms_against_both_dense_rivals_and_three_controls(config, results):
    study, r = results["typed"]["study"], config.registration
    assert study.seeds == [2000, 2001, 2002]
    (cell,) = study.cells
    assert (cell.schedule, cell.sparsity) == ("warmup", 0.5)
    assert set(cell.rows) == {"ticket", "dense", "best_dense", *r.controls}
    assert set(r.controls) == {"reinit", "init_magnitude", "permuted"}
    assert {k: c.family for k, c in cell.comparisons.items()} == {
        "dense": "A", "best_dense": "A", "reinit": "B", "init_magnitude": "B", "permuted": "B"}
    assert (study.families["A"].size, study.families["B"].size) == (2, 3)  # fixed
    # each network on its own budget; R_d from the rival (the best-schedule dense networks)
    assert {run.budget for run in cell.rows["ticket"]} == {budget_steps(config, r.learning_rate)}
    rival = cell.rows["best_dense"]
    assert {run.budget for run in rival} == {budget_steps(config, r.rival_lr)}
    finals = [final_risk([{"step": s, "val_risk": v} for s, v in run.curve],
                         config.metrics.final_evals) for run in rival]
    assert study.references.dense == pytest.approx(statistics.median(finals))
    # a run that never reaches the level counts at the longer budget of its pair
    longest = max(budget_steps(config, r.learning_rate), budget_steps(config, r.rival_lr))
    c = cell.comparisons["best_dense"].endpoint
    for t, o, ratio in zip(cell.rows["ticket"], rival, c.log_ratios):
        steps = [x.levels[study.endpoint] for x in (t, o)]
        t_at, o_at = (max(s, 1) if s is not None else longest for s in steps)
        assert ratio == pytest.approx(math.log(o_at / t_at))


def test_a_fixed_family_keeps_an_outcomes_place_in_holm(results):
    study = results["typed"]["study"]
    (cell,) = study.cells
    reinit = cell.comparisons["reinit"]
    out = dataclasses.replace(reinit.endpoint, censored_reference=reinit.endpoint.n)
    cells = [dataclasses.replace(cell, comparisons={**cell.comparisons, "reinit": dataclasses
                                                    .replace(reinit, endpoint=out)})]
    fixed, _ = cf.adjust(cells, 0.05, 3, 0.8, "fixed")
    testable, _ = cf.adjust(cells, 0.05, 3, 0.8, "testable")
    assert (fixed["B"].size, testable["B"].size) == (3, 2)


def test_the_permuted_init_keeps_the_mask_and_each_layers_values():
    g = torch.Generator().manual_seed(0)
    state = {"w": torch.randn(6, 5, generator=g), "b": torch.randn(6, generator=g)}
    mask = {"w": torch.rand(6, 5, generator=g) > 0.5}
    out = permute_kept(state, mask, torch.Generator().manual_seed(1))
    kept = mask["w"]
    assert torch.equal(out["w"][~kept], state["w"][~kept])  # pruned entries untouched
    assert torch.equal(out["w"][kept].sort().values, state["w"][kept].sort().values)
    assert not torch.equal(out["w"][kept], state["w"][kept])  # values moved
    assert torch.equal(out["b"], state["b"])
    again = permute_kept(state, mask, torch.Generator().manual_seed(1))
    assert torch.equal(again["w"], out["w"])  # its own generator decides


def test_notebook_03_prints_what_its_results_say(results):
    typed = results["typed"]
    pilot = reg.load_pilot()
    lines = [*verdicts.conclusions(typed["study"]), *verdicts.crossing_lines(typed["crossing"]),
             *verdicts.collapse_lines(typed["collapse"], pilot),
             *(line for section in speed_text.characterization_conclusions(
                 typed["collapse"]["layer_spare_input"], typed["hedge"], typed["weights"],
                 typed["imp"]).values() for line in section)]
    reference = project_root() / "tests" / "notebooks" / "03_characterization.ipynb"
    assert printed_summary(reference) == lines
