import pickle
import warnings

import pytest
import torch

from lth_hedging.store import Store, decode, encode


def files():
    return {"w.pt": {"a": torch.arange(3.0)}, "h.json": [{"epoch": 1, "loss": 0.5}],
            "m.npz": {"x": torch.ones(2).numpy()}}


def test_second_call_is_a_cache_hit(tmp_path):
    store = Store(tmp_path)
    calls = []
    first, cached = store.cached("s", "k", lambda: calls.append(1) or files())
    assert not cached and calls == [1]
    second, cached = store.cached("s", "k", lambda: pytest.fail("recomputed"))
    assert cached and torch.equal(second["w.pt"]["a"], first["w.pt"]["a"])
    assert second["h.json"] == first["h.json"]


@pytest.mark.parametrize("name", ["w.pt", "h.json", "m.npz", "manifest.json"])
def test_damaged_or_missing_file_means_recompute(tmp_path, name):
    store = Store(tmp_path)
    store.cached("s", "k", files)
    path = tmp_path / "s" / "k" / name
    path.write_bytes(path.read_bytes()[:-5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, cached = store.cached("s", "k", files)
    assert not cached
    _, cached = store.cached("s", "k", pytest.fail)
    assert cached


def test_unfinished_stage_without_manifest_is_recomputed(tmp_path):
    store = Store(tmp_path)
    (tmp_path / "s" / "k").mkdir(parents=True)
    (tmp_path / "s" / "k" / "w.pt").write_bytes(b"half")
    _, cached = store.cached("s", "k", files)
    assert not cached and sorted(p.name for p in (tmp_path / "s" / "k").iterdir()) == [
        "h.json", "m.npz", "manifest.json", "w.pt"]


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_loading_never_unpickles():
    with pytest.raises(pickle.UnpicklingError):
        decode(encode({"x": Evil()}, ".pt"), ".pt")
    with pytest.raises(ValueError):
        decode(encode({"x": torch.ones(1).numpy().astype(object)}, ".npz"), ".npz")


def test_unknown_file_type_is_named():
    with pytest.raises(ValueError, match="'.pkl'"):
        encode({}, ".pkl")
