import dataclasses
import hashlib
import json
import warnings

import pytest
import torch

import lth_hedging.foundations.config as config_module
from lth_hedging import load_config
from lth_hedging.foundations import code as code_sets
from lth_hedging.foundations.config import (
    Config,
    TrainingConfig,
    config_hash,
    parse_config,
    resolve,
)
from lth_hedging.nets import runtime
from lth_hedging.studies.stages import DenseSpec, Plan, dense_key


def quiet_load(path=None, overrides=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config(path, overrides)


def test_config_yaml_spells_out_the_defaults():
    # smoke.yaml and paper.yaml list only what differs from config.yaml: they must agree.
    assert quiet_load(resolve("configs/config.yaml")) == Config()


def test_paper_config_has_the_original_scale():
    c = quiet_load(resolve("configs/paper.yaml"))
    h = c.data.heston
    assert (h.S0, h.K, h.r, h.v0, h.kappa, h.theta, h.xi, h.rho) == (
        100, 100, 0.02, 0.0175, 1.5768, 0.0398, 0.5751, -0.5711)
    assert c.data.n_paths == {"train": 150000, "val": 15000, "test": 15000}
    assert c.model.hidden == (256, 256, 128) and c.hedging.cost == 0.001
    assert (c.training.epochs, c.training.patience, c.training.batch_size) == (150, None, 1024)


def test_overrides_use_dotted_keys_and_merge_mappings():
    c = quiet_load("configs/smoke.yaml", {"data.heston.K": 110, "data.n_steps": 12,
                                          "data.n_paths": {"test": 777}})
    assert c.data.heston.K == 110.0 and c.data.n_steps == 12
    assert c.data.n_paths == {"train": 2000, "val": 1000, "test": 777}


@pytest.mark.parametrize("key, value, words", [
    ("data.heston.kappa", -1.0, "> 0"), ("data.heston.theta", -0.01, "> 0"),
    ("data.heston.xi", -0.3, "> 0"), ("data.heston.v0", -0.01, ">= 0"),
    ("data.heston.rho", 1.0, "-1 < rho < 1"), ("data.heston.rho", -1.5, "-1 < rho < 1"),
    ("data.heston.S0", 0.0, "> 0"), ("data.heston.K", "abc", "must be a number"),
    ("data.n_steps", 0, ">= 1"), ("data.n_steps", 2.5, "integer"), ("data.T", -1, "> 0"),
    ("data.scheme", "milstein", "one of"), ("data.n_paths.train", 1, ">= 2"),
    ("loss.type", "mse", "one of"), ("loss.alpha", 1.5, "0 < alpha < 1"),
    ("hedging.cost", -0.001, "0 <= cost < 1"), ("model.hidden", [], "non-empty"),
    ("model.activation", "gelu", "one of"), ("training.learning_rate", 0, "0 < learning_rate"),
    ("training.batch_size", 0, ">= 1"), ("training.batch_size", 5000, "[1, "),
    ("training.epochs", -3, ">= 1"),
    ("pruning.sparsities", [0.5, 1.0], "[0, 1)"), ("pruning.target_sparsity", -0.1, "(0, 1)"),
    ("metrics.n_bootstrap", 3, ">= 10"), ("metrics.eval_every", 0, ">= 1"),
    ("metrics.eval_late_from", -5, ">= 0"), ("metrics.match_margin", -0.1, "null"),
    ("loss.oce_level", "exact", "one of"), ("training.patience", 0, "null (off)"),
    ("pilot.comparators", ["cousin"], "names in"),
    ("pilot.comparators", ["dense", "dense"], "without repeats"),
    ("pilot.primary", "T99", "one of"),
    ("pilot.learning_rates", [], "non-empty"),
    ("pilot.learning_rates", [2.0], "(0, 1)"),
    ("pilot.widths", [0], "(0, 16]"),
    ("pruning.scope", "both", "one of"), ("pruning.output_rate", "quarter", "one of"),
    ("pruning.imp_rounds", 0, ">= 1"),
    ("pilot.rewind_epochs", [40], "[0, training.epochs = 30)"),
    ("pilot.n_seeds", 2, ">= 3"), ("pilot.imp_seeds", 4, "[0, pilot.n_seeds = 3]"),
    ("pilot.sparsities", [1.0], "(0, 1)"),
    ("search.mask_lrs", [0.0], "(0, 1)"), ("runtime.ensemble_size", 0, ">= 1"),
    ("runtime.device", "tpu", "'cpu', 'cuda', 'auto'"),
    ("runtime.executor", "dask", "'local', 'ray'"),
    ("runtime.tf32", "yes", "true or false"), ("runtime.ray_address", "", "null or"),
    ("runtime.precision", "bf16", "one of"),
    # what fault injection found accepted and failing later (or never ending)
    ("data.heston.K", float("inf"), "finite"), ("data.heston.xi", float("nan"), "finite"),
    ("data.seeds.train", 2**63, "[0, 2^63)"), ("model.init_seed", -1, "[0, 2^63)"),
    ("training.shuffle_seed", "abc", "[0, 2^63)"), ("metrics.seed", 1.5, "[0, 2^63)"),
    ("search.learning_rates", [], "non-empty"), ("search.seeds", [3, 2], "increasing"),
    ("search.keep", 1.0, "(0, 1)"), ("pruning.sparsities", [], "non-empty"),
    ("pruning.target_sparsity", 0, "(0, 1)"), ("experiments.directory", "", "non-empty"),
    ("caching.directory", " ", "non-empty"),
])
def test_bad_values_name_key_value_and_range(key, value, words):
    with pytest.raises(ValueError) as err:
        quiet_load("configs/smoke.yaml", {key: value})
    message = str(err.value)
    assert key.split(".")[-1] in message and words in message


@pytest.mark.parametrize("key, value, words", [
    ("registration.n_seeds", 0, ">= 3"),  # not pilot.replay_seeds, which it bounds
    ("training.epochs", 0, ">= 1"),  # not pilot.rewind_epochs
    ("loss.alpha", 0, "0 < alpha < 1"),  # not data.n_paths, whose floor it sets
    ("pilot.n_seeds", 2, ">= 3"),  # not pilot.imp_seeds
    ("registration.learning_rate", 2.0, "(0, 1)"),  # not registration.mask_lr
])
def test_a_keys_own_range_is_checked_before_any_rule_across_keys(key, value, words):
    with pytest.raises(ValueError) as err:
        quiet_load("configs/smoke.yaml", {key: value})
    assert str(err.value).startswith(f"config key '{key}' = {value!r}") and words in str(err.value)


@pytest.mark.parametrize("overrides, key", [
    ({"registration.mask_lr": 0.02, "registration.alpha": 5}, "registration.alpha"),
    ({"loss.type": "mse", "training.batch_size": 5000}, "loss.type"),  # a name is its range
    ({"registration.mask_lr": 2.0}, "registration.mask_lr"),
])
def test_every_own_range_and_name_comes_before_the_rules_across_keys(overrides, key):
    with pytest.raises(ValueError, match=f"config key '{key}' = "):
        quiet_load("configs/smoke.yaml", overrides)


@pytest.mark.parametrize("key, value", [("data.heston.theta", 1e300), ("data.heston.v0", 1e60),
                                        ("data.heston.S0", 1e300), ("data.heston.kappa", 1e300)])
def test_heston_parameters_whose_paths_are_not_finite_are_refused_at_load(key, value):
    with pytest.raises(ValueError) as err:
        quiet_load("configs/smoke.yaml", {key: value})
    assert str(err.value).startswith(f"config key '{key}' = {value!r}")
    assert "finite" in str(err.value)


def test_a_section_renamed_after_its_concept_names_the_new_name(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("characterization: {n_seeds: 4}\n")
    for source, overrides in ((path, None), (None, {"characterization.n_seeds": 4})):
        with pytest.raises(ValueError, match="section 'characterization' is now 'pilot'"):
            quiet_load(source, overrides)
    assert quiet_load(None, {"pilot.n_seeds": 4}).pilot.n_seeds == 4


def test_the_schema_checks_values_and_the_loader_above_it_checks_names():
    # the schema (the bottom layer) knows no registry; the loader a user calls does
    bad = {"data.scheme": "milstein", "loss.type": "mse", "registration.controls": ["cousin"]}
    assert parse_config(None, bad).data.scheme == "milstein"
    for key, value in bad.items():
        with pytest.raises(ValueError, match=key.split(".")[-1]):
            quiet_load(None, {key: value})
    with pytest.raises(ValueError, match="'data.n_steps' = 0"):
        parse_config(None, {"data.n_steps": 0})


@pytest.mark.parametrize("overrides", [["training.epochs", 5], "training.epochs=5", 5])
def test_overrides_that_are_not_a_mapping_are_named(overrides):
    with pytest.raises(ValueError, match="overrides = .* allowed a mapping"):
        quiet_load(None, overrides)


def test_yaml_numbers_in_exponent_form_are_floats(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training: {learning_rate: 1e-3, weight_decay: 5E-4}\n")
    t = quiet_load(path).training
    assert (t.learning_rate, t.weight_decay) == (0.001, 0.0005)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_where_there_is_none_is_one_clear_error():
    with pytest.raises(ValueError, match="'runtime.device' = 'cuda' .* no CUDA device"):
        quiet_load(None, {"runtime.device": "cuda"})
    assert runtime.device(quiet_load(None, {"runtime.device": "auto"})).type == "cpu"


def test_the_device_enters_training_keys_only_off_the_cpu(monkeypatch):
    c = Config()
    assert runtime.device_key(c) == {}
    on_cpu = dense_key(c, DenseSpec(0.001, Plan(1e-3, 0)))
    monkeypatch.setattr(runtime, "device", lambda config: torch.device("cuda"))
    assert runtime.device_key(c) == {"device": "cuda", "tf32": False}
    assert dense_key(c, DenseSpec(0.001, Plan(1e-3, 0))) != on_cpu


def test_bfloat16_matmuls_enter_training_keys_and_only_on_the_cpu(monkeypatch):
    monkeypatch.setattr(runtime, "bfloat16_matmuls", lambda: True)
    c = quiet_load(None, {"runtime.precision": "bfloat16"})
    assert runtime.device_key(c) == {"precision": "bfloat16"}
    spec = DenseSpec(0.001, Plan(1e-3, 0))
    assert dense_key(c, spec) != dense_key(Config(), spec)
    with pytest.raises(ValueError, match="'runtime.precision' = 'bfloat16' .* off the CPU"):
        quiet_load(None, {"runtime.precision": "bfloat16", "runtime.device": "cuda",
                          "runtime.executor": "ray"})


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_bfloat16_where_the_cpu_does_not_compute_it_is_refused(monkeypatch, executor):
    # else a bfloat16 key would hold float32 results; on Ray this process still evaluates what
    # the workers train (and each worker checks its own CPU)
    monkeypatch.setattr(runtime, "bfloat16_matmuls", lambda: False)
    with pytest.raises(ValueError, match="'runtime.precision' = 'bfloat16' .* does not compute"):
        quiet_load(None, {"runtime.precision": "bfloat16", "runtime.executor": executor})


def test_provenance_names_this_machine_or_the_worker_that_trained():
    c = quiet_load(None, {"runtime.num_threads": 1})
    runtime.setup(c)
    try:
        here = runtime.provenance(c)
    finally:
        runtime.setup(Config())
    assert here == {"cpu": runtime.cpu_model(), "blas": runtime.blas(), "torch": torch.__version__,
                    "threads": 1, "device": "cpu", "precision": "float32"}
    assert here["cpu"] and here["blas"].split(";")[0] != "unknown BLAS"
    worker = {**here, "cpu": "the worker's CPU", "threads": 4}
    with runtime.trained_on(worker):
        assert runtime.provenance(c) == worker
    assert runtime.provenance(c)["cpu"] == here["cpu"]


@pytest.mark.parametrize("key", ["training.epochz", "data.heston.sigma", "nonsense"])
def test_unknown_key_is_named(key):
    with pytest.raises(ValueError, match=f"unknown config key '{key}'"):
        quiet_load("configs/smoke.yaml", {key: 1})


def test_unknown_key_in_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training: {learning_rat: 0.1}\n")
    with pytest.raises(ValueError, match="training.learning_rat"):
        quiet_load(path)


def test_feller_violation_warns_not_raises():
    with pytest.warns(UserWarning, match="Feller"):
        load_config("configs/config.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config("configs/config.yaml", {"data.heston.xi": 0.3})  # 2κθ > ξ²: silent


@pytest.fixture
def fixed_code(monkeypatch):
    """Stage keys without the code fingerprint's value (it changes with every code edit)."""
    monkeypatch.setattr(code_sets, "fingerprint", lambda modules: "code")


def test_hashes_are_pinned(fixed_code):
    # Results on disk are named by these hashes: a change here orphans every stored run.
    c = Config()
    assert config_hash(c) == config_hash(quiet_load(resolve("configs/config.yaml")))
    # the whole config's hash names no stage (stages hash the sections they read); it changed
    # when the registration section was added (an empty section is hashed as {}) and when
    # the characterization section was renamed pilot, and when the search section replaced
    # notebook 02's one-seed grid (pruning.pruning_lr_candidates, mask_lr_candidates)
    assert config_hash(c) == WHOLE  # only values that differ from the defaults
    assert dense_key(c, DenseSpec(0.001, Plan(1e-3, 0))) == PINNED_DENSE
    paper = quiet_load("configs/paper.yaml")
    assert dense_key(paper, DenseSpec(0.001, Plan(1e-3, 0))) == PINNED_PAPER


# STAGE_VERSION 4 (the package in layers: every key moved, no number changed)
PINNED_DENSE, PINNED_PAPER, WHOLE = "4f7284ac8bab", "193b894d09cb", "cdc7b7be7f4c"


def test_defaults_are_pinned():
    # Keys hash only what differs from the defaults, so a changed default would silently give
    # stored results a new meaning: if this fails because a default changed, bump
    # STAGE_VERSION (or DATASET_VERSION); if a key was added, update the pin.
    payload = json.dumps(Config().to_dict(), sort_keys=True, default=float)
    # registration 2 and search.match_margin
    assert hashlib.sha256(payload.encode()).hexdigest()[:12] == "9e59680bb23c"


def test_a_new_key_with_a_default_leaves_every_key_unchanged(fixed_code, monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Training(TrainingConfig):
        new_option: int = 3

    @dataclasses.dataclass(frozen=True)
    class Extended(Config):
        training: Training = dataclasses.field(default_factory=Training)

    monkeypatch.setattr(config_module, "Config", Extended)
    for c, same in [(Extended(), True), (Extended(training=Training(new_option=4)), False)]:
        assert config_hash(c) == WHOLE if same else config_hash(c) != WHOLE
        key = dense_key(c, DenseSpec(0.001, Plan(1e-3, 0)))
        assert (key == PINNED_DENSE) is same


def test_hash_ignores_sections_not_asked_for():
    a = Config()
    b = quiet_load(None, {"pruning.target_sparsity": 0.5, "runtime.progress": False})
    assert config_hash(a, ("data", "model")) == config_hash(b, ("data", "model"))
    assert config_hash(a) != config_hash(b)


def test_a_scalar_where_a_list_belongs_is_named():
    with pytest.raises(ValueError, match="'hedging.reference_costs' = 0.0 .* allowed a list"):
        quiet_load("configs/smoke.yaml", {"hedging.reference_costs": 0.0})


def test_a_key_below_a_value_is_unknown():
    with pytest.raises(ValueError, match="unknown config key 'training.epochs.x'"):
        quiet_load(None, {"training.epochs.x": 1})


def test_every_key_is_in_the_config_reference():
    reference = resolve("configs/README.md").read_text()

    def dotted(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and k not in ("n_paths", "seeds"):
                yield from dotted(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    missing = [k for k in dotted(Config().to_dict()) if f"| `{k}` |" not in reference]
    assert missing == []


def test_a_key_of_the_one_seed_grid_names_the_search_that_replaced_it():
    with pytest.raises(ValueError, match="'pruning.mask_lr_candidates' is gone.*search.mask_lrs"):
        quiet_load(None, {"pruning.mask_lr_candidates": [0.01]})
    with pytest.raises(ValueError, match="method one of"):
        quiet_load(None, {"search.constructions": ["once:global"]})
    with pytest.raises(ValueError, match=r"search.constructions \(ranking\)"):
        quiet_load(None, {"search.constructions": ["imp:nowhere"]})
