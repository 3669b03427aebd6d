import warnings

import pytest
import torch
import yaml

from lth_hedging import load_config
from lth_hedging.foundations.config import resolve
from lth_hedging.studies import confirmation as cf
from lth_hedging.studies import structure as ch


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture
def make_smoke_config(tmp_path):
    """``make(overrides)``: the smoke config, its cache and store in a temporary folder."""

    def make(overrides=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the Feller warning is tested in test_config
            return load_config("configs/smoke.yaml", {
                "caching.directory": str(tmp_path / "cache"),
                "experiments.directory": str(tmp_path / "experiments"),
                "runtime.progress": False, **(overrides or {})})

    return make


@pytest.fixture
def smoke_config(make_smoke_config):
    return make_smoke_config()


def module_smoke_config(tmp_path_factory, name: str, overrides: dict | None = None):
    """The smoke config as ``make smoke`` runs it, in the session's store named ``name``
    (module fixtures; modules that name the same store share what it holds), with
    ``overrides``."""
    tmp = tmp_path_factory.getbasetemp() / name
    tmp.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config("configs/smoke.yaml", {
            "caching.directory": str(tmp / "cache"),
            "experiments.directory": str(tmp / "experiments"), "runtime.progress": False,
            **(overrides or {})})


def registration1_at_smoke_size() -> dict:
    """Registration 1's design (``configs/registration1.yaml``) with the smoke config's seeds,
    warmup and margin: the first study's notebook 03 at toy size."""
    with open(resolve("configs/registration1.yaml")) as f:
        design = yaml.safe_load(f)["registration"]
    with open(resolve("configs/smoke.yaml")) as f:
        smoke = yaml.safe_load(f)["registration"]
    return {f"registration.{k}": v for k, v in {**design, **smoke}.items()}


def characterization(config) -> dict:
    """Notebook 03's characterization of the registered tickets (every registration runs it):
    layer collapse, the hedge, the weights, one-shot vs IMP."""
    sources = cf.mask_sources(config)
    thetas = {seed: (run.theta0, run.theta_star) for seed, run in sources.items()}
    rate = ch.study_rate(config)
    return {"collapse": ch.layer_collapse(config, thetas),
            "hedge": ch.hedge_vs_sparsity(config, rate),
            "weights": ch.weight_geometry(config, thetas,
                                          cf.study_results(config, "warmup", "ticket"),
                                          cf.study_results(config, "warmup", "reinit")),
            "imp": ch.one_shot_vs_imp(config, rate)}
