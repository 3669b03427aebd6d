import warnings

import pytest
import torch

from lth_hedging import load_config


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


def module_smoke_config(tmp_path_factory, name: str):
    """The smoke config as ``make smoke`` runs it, in a store of its own (module fixtures)."""
    tmp = tmp_path_factory.mktemp(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config("configs/smoke.yaml", {
            "caching.directory": str(tmp / "cache"),
            "experiments.directory": str(tmp / "experiments"), "runtime.progress": False})
