import hashlib
import json
import multiprocessing
import os
import pickle
import shutil
import stat
import time
import warnings

import pytest
import torch

from lth_hedging.foundations.store import Store, decode, encode
from lth_hedging.studies.stages import write_results


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


def hammer(root, n, out):
    """One process's share of the save race: save one stage n times, load it after each."""
    store, failures = Store(root), 0
    for i in range(n):
        try:
            store.save("s", "k", {"w.pt": {"a": torch.arange(3.0)}, "h.json": [i % 1]})
            failures += store.load("s", "k") is None
        except Exception:  # noqa: BLE001 — counted, that is the test
            failures += 1
    out.put(failures)


def test_two_processes_saving_one_stage_never_fail(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=hammer, args=(tmp_path, 200, out)) for _ in range(2)]
    for p in procs:
        p.start()
    failures = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    assert failures == [0, 0]
    assert [p.name for p in (tmp_path / "s").iterdir() if not p.name.endswith(".lock")] == ["k"]


def slow_compute(root, log, barrier):
    def compute():
        with open(log, "a") as f:
            f.write("computed\n")
        time.sleep(1.0)
        return files()
    barrier.wait(timeout=60)  # both processes ask for the stage at the same moment
    Store(root).cached("s", "k", compute)


def test_one_process_computes_a_stage_while_the_other_waits_and_loads(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    log = tmp_path / "log"
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=slow_compute, args=(tmp_path / "store", log, barrier))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert log.read_text() == "computed\n"


def test_a_valid_stage_is_never_replaced(tmp_path):
    store = Store(tmp_path)
    store.save("s", "k", files())
    first = (tmp_path / "s" / "k" / "manifest.json").stat().st_ino
    store.save("s", "k", files())
    assert (tmp_path / "s" / "k" / "manifest.json").stat().st_ino == first
    assert not [p for p in (tmp_path / "s").iterdir() if p.name.endswith(".tmp")]


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        Store(tmp_path).save("s", "k", files())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "s" / "k").stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "s" / "k").iterdir()} == {0o644}


def damage_with_pickle(folder):
    data = encode({"x": Evil()}, ".pt")  # a pickle under a manifest that vouches for it
    (folder / "w.pt").write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["w.pt"] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def replace_with_file(folder):
    shutil.rmtree(folder)
    folder.write_text("not a folder")


def replace_with_symlink(folder):
    shutil.rmtree(folder)
    other = folder.parent / "elsewhere"
    other.mkdir()
    folder.symlink_to(other)


@pytest.mark.parametrize("damage", [
    damage_with_pickle, replace_with_file, replace_with_symlink,
    lambda f: (f / "manifest.json").write_text('{"files": ["w.pt"]}'),
    lambda f: (f / "manifest.json").write_text('[1, 2]'),
    lambda f: (f / "manifest.json").write_text('{"files": {"../../x": "00"}}'),
], ids=["pickle", "file", "symlink", "manifest-list", "manifest-array", "manifest-path"])
def test_any_damage_is_named_and_recomputed(tmp_path, damage, capfd):
    store = Store(tmp_path)
    store.save("s", "k", files())
    damage(tmp_path / "s" / "k")
    with pytest.warns(UserWarning, match=r"s/k is damaged"):
        _, cached = store.cached("s", "k", files)
    assert not cached
    assert "s/k is damaged" in capfd.readouterr().err  # on the terminal too, not only a warning
    again, cached = store.cached("s", "k", pytest.fail)
    assert cached and again["h.json"] == files()["h.json"]


def test_results_that_cannot_be_written_name_the_place_and_the_key(make_smoke_config, tmp_path):
    blocked = tmp_path / "store"
    blocked.write_text("a file where the store's folder should be")
    config = make_smoke_config({"experiments.directory": str(blocked)})
    with pytest.raises(OSError, match=r"cannot write the results to .*'experiments.directory'"):
        write_results(config, "x.json", {"a": 1})
