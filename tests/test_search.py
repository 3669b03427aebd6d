"""Notebook 02's search: the rule the config fixes (its sample, its own seeds, successive
halving), the measures beside the score with their floor controls, and the reference notebook
printing what the results say."""

import json
import math

import pytest
import torch
from conftest import module_smoke_config
from test_tickets import printed_summary

from lth_hedging.foundations.config import project_root
from lth_hedging.foundations.records import encode
from lth_hedging.presentation import speed_text
from lth_hedging.studies import confirmation, judging, search


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return module_smoke_config(tmp_path_factory, "search")


@pytest.fixture(scope="module")
def found(config):
    torch.set_num_threads(2)
    return search.run_search(config)


def test_the_sample_and_the_seeds_are_the_rules(smoke_config):
    s = smoke_config.search
    points = search.sample(smoke_config)
    assert points == search.sample(smoke_config) and len(points) == s.cells  # a seeded draw
    assert all(p in search.space(smoke_config) for p in points)
    assert not any(p.warmup == "mask" and p.mask_lr > p.learning_rate
                   for p in search.space(smoke_config))  # a warmup that would not warm up
    seeds = set(search.search_seeds(smoke_config))
    assert len(seeds) == s.seeds[-1]
    assert not seeds & set(judging.study_seeds(smoke_config))  # not the pilot's, nor tests'
    assert not seeds & set(confirmation.registered_seeds(smoke_config))


class Scripted:
    """A searcher whose scores are given: the halving rule alone."""

    def __init__(self, scores):
        self.scores, self.trained = scores, []

    def train(self, points, seeds):
        self.trained.append((list(points), list(seeds)))

    def score(self, p, round_, seeds):
        return Result(p, round_, seeds, self.scores[p.learning_rate])


class Result:
    """The fields of ``search.Scored`` that ``halve`` reads."""

    def __init__(self, point, round_, seeds, score):
        self.point, self.round, self.seeds, self.score = point, round_, seeds, score


def test_halving_promotes_the_best_matching_share_on_more_seeds(smoke_config):
    points = [search.Point(learning_rate=lr, warmup="none", decay="constant", width=1.0)
              for lr in (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08)]
    scores = {0.01: 0.1, 0.02: None, 0.03: 0.5, 0.04: -0.2, 0.05: 0.4, 0.06: None, 0.07: 0.0,
              0.08: 0.3}  # None: the ticket does not match
    config = smoke_config  # seeds (2, 3), keep 0.25
    scripted = Scripted(scores)
    results, survivors = search.halve(config, points, scripted)
    assert [len(seeds) for _, seeds in scripted.trained] == list(config.search.seeds)
    promoted = math.ceil(config.search.keep * len(points))
    assert [p.learning_rate for p in scripted.trained[1][0]] == [0.03, 0.05][:promoted]
    assert [p.learning_rate for p in survivors] == [0.03, 0.05][:promoted]
    assert {r.point.learning_rate: r.round for r in results}[0.03] == 1
    nothing = Scripted({lr: None for lr in scores})  # no ticket matches: the search stops
    assert search.halve(config, points, nothing)[1] == []
    assert len(nothing.trained) == 1


def test_the_search_runs_by_its_rule(config, found):
    s = config.search
    first = [x for x in found.tickets if x.point.width == s.widths[0]]
    assert len(first) == s.cells
    for x in found.tickets:
        assert x.seeds == found.seeds[:s.seeds[x.round]]
        assert x.paired.endpoint.n == len(x.seeds)
        if x.matches:
            assert x.score == pytest.approx(sum(x.paired.endpoint.log_ratios) / len(x.seeds))
        assert x.matches == (x.paired.test_risk.mean <= found.margin)
        ticket, dense = x.rows["ticket"], x.rows["dense"]
        assert [r.seed for r in ticket] == [r.seed for r in dense] == x.seeds
    promoted = [x for x in first if x.round >= 1]  # each matched on the round it left
    assert len(promoted) <= max(1, math.ceil(s.keep * s.cells))
    assert all(x.matches for x in first if x.point.label() in found.survivors)
    for label in found.survivors:  # on every seed, and at every further width
        x = next(x for x in first if x.point.label() == label)
        assert x.round == len(s.seeds) - 1
        assert sum(y.point.construction == x.point.construction and y.point.width != x.point.width
                   and y.point.sparsity == x.point.sparsity for y in found.tickets) >= \
            len(s.widths) - 1


def test_the_results_read_back_and_the_notebook_prints_them(found):
    stored = json.loads(json.dumps(encode(found), default=float))
    again = search.Search.from_json(stored)
    assert json.dumps(encode(again), default=float) == json.dumps(stored)
    reference = project_root() / "tests" / "notebooks" / "02_lottery_tickets.ipynb"
    assert printed_summary(reference) == speed_text.search_lines(again)
