import warnings

import pytest
import torch

from lth_hedging import load_config


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture
def smoke_config(tmp_path):
    """The smoke config with its cache and store in a temporary folder."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Feller warning: tested in test_config
        return load_config("configs/smoke.yaml", {
            "caching.directory": str(tmp_path / "cache"),
            "experiments.directory": str(tmp_path / "experiments"),
            "runtime.progress": False})
