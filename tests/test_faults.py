"""Faults and impossible inputs end in bounded time with one message that names the key and
the value: unreachable Ray addresses, a stage lock held by a stopped process, a full disk,
sizes no study can run."""

import errno
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest

import lth_hedging.foundations.store as store_module
from lth_hedging import load_config, project_root
from lth_hedging.foundations.config import parse_config
from lth_hedging.foundations.store import Store
from lth_hedging.market.heston import get_or_generate_dataset
from lth_hedging.measures.speed import reference_levels
from lth_hedging.nets import runtime


def quiet_load(overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config("configs/smoke.yaml", overrides)


@pytest.mark.timeout(90)  # a hang fails here instead of stalling the suite
@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://nohost.invalid:10001"])
def test_an_unreachable_ray_address_is_named_within_the_bound(make_smoke_config, address):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray already runs in this process")
    config = make_smoke_config({"runtime.executor": "ray", "runtime.ray_address": address})
    start = time.monotonic()
    with pytest.raises(ValueError, match="'runtime.ray_address' = .* cannot be reached"):
        runtime.start_ray(config)
    assert time.monotonic() - start < runtime.RAY_CONNECT_SECONDS + 5
    assert not ray.is_initialized()


@pytest.mark.timeout(90)
def test_ray_address_auto_without_a_cluster_is_one_error_naming_the_key(make_smoke_config,
                                                                        monkeypatch):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray already runs in this process")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = make_smoke_config({"runtime.executor": "ray", "runtime.ray_address": "auto"})
    with pytest.raises(ValueError, match="'runtime.ray_address' = 'auto' found no Ray cluster"):
        runtime.start_ray(config)
    assert not ray.is_initialized()


@pytest.mark.timeout(30)
def test_a_name_lookup_that_never_answers_is_bounded_too(monkeypatch):
    released = threading.Event()

    def never_answers(*args, **kwargs):
        released.wait(30)
        raise OSError("no answer")

    monkeypatch.setattr(runtime.socket, "create_connection", never_answers)
    start = time.monotonic()
    try:
        assert runtime.reachable("slow.invalid:6379", 0.5).startswith("no answer")
        assert time.monotonic() - start < 5
    finally:
        released.set()
    assert runtime.reachable("[::1]:1", 5) is not None  # IPv6 in brackets: refused, not skipped


@pytest.mark.timeout(120)
def test_more_threads_per_task_than_any_ray_node_has_is_named(make_smoke_config):
    ray = pytest.importorskip("ray")
    threads = (os.cpu_count() or 1) + 1
    config = make_smoke_config({"runtime.executor": "ray", "runtime.num_threads": threads})
    started_here = not ray.is_initialized()
    runtime.start_ray(config)
    try:
        with pytest.raises(ValueError, match=f"'runtime.num_threads' = {threads} is more than"):
            runtime.ray_workers(config, ray)
    finally:
        if started_here:
            ray.shutdown()


HOLDER = """
import sys, time
from lth_hedging.foundations.config import parse_config
from lth_hedging.foundations.store import Store
with Store(sys.argv[1]).lock("dense", "abc123"):
    print("held", flush=True)
    time.sleep(120)
"""


DRIVER = """
import os, time, warnings
warnings.simplefilter("ignore")
from lth_hedging import load_config
from lth_hedging.nets import runtime
ray = runtime.start_ray(load_config("configs/smoke.yaml", {"runtime.executor": "ray"}))
ray.get(ray.remote(lambda: os.getpid()).remote())  # a worker, as in a sweep
print(os.getpid(), flush=True)
time.sleep(600)
"""


@pytest.mark.timeout(120)
def test_rays_processes_end_with_a_driver_killed_mid_sweep():
    """Killed with SIGKILL, the driver cannot stop Ray; its guard (``ray_guard``) ends every
    process Ray started, within seconds (Ray's agents alone linger for a minute)."""
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("ray")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert int(driver.stdout.readline()) == driver.pid
        ray_processes = [p for p in psutil.Process(driver.pid).children(recursive=True)
                         if "ray_guard" not in " ".join(p.cmdline())]
        assert any("raylet" in " ".join(p.cmdline()) for p in ray_processes)
        assert any(p.name().startswith("ray::") or "ray::" in " ".join(p.cmdline())
                   for p in ray_processes)  # the agents and the worker
    finally:
        driver.kill()
        driver.wait()
    _, alive = psutil.wait_procs(ray_processes, timeout=15)
    assert not alive, f"outlived the driver: {[p.cmdline()[:1] for p in alive]}"


@pytest.mark.timeout(120)
def test_a_stopped_lock_holder_is_named_and_its_end_frees_the_stage(tmp_path, monkeypatch,
                                                                    capsys):
    run = "make smoke (configs/smoke.yaml), notebook 02_lottery_tickets, started 11:32:05"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "LTH_RUN": run})
    try:
        assert holder.stdout.readline().strip() == "held"
        os.kill(holder.pid, signal.SIGSTOP)  # stopped, not killed: the lock stays held
        monkeypatch.setattr(store_module, "LOCK_NOTICE_AFTER", 0.5)
        monkeypatch.setattr(store_module, "LOCK_NOTICE_EVERY", 0.5)
        threading.Timer(2.0, lambda: os.kill(holder.pid, signal.SIGKILL)).start()
        start = time.monotonic()
        files, cached = Store(tmp_path).cached("dense", "abc123", lambda: {"a.json": [1]})
        assert time.monotonic() - start < 15 and not cached and files == {"a.json": [1]}
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert "waiting" in err and "dense/abc123" in err and f"{holder.pid} {run}" in err
    assert f"kill -CONT {holder.pid}" in err


def test_a_full_disk_names_the_path_and_the_key(make_smoke_config, monkeypatch):
    config = make_smoke_config()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "fsync", full)
    store = Store(config.experiments["directory"])
    with pytest.raises(OSError, match="experiments.directory") as err:
        store.save("dense", "abc123", {"a.json": [1]})
    assert str(store.stage_dir("dense", "abc123")) in str(err.value)
    assert not store.stage_dir("dense", "abc123").exists()
    assert not list(store.stage_dir("dense", "abc123").parent.glob(".*.tmp"))
    with pytest.raises(OSError, match="caching.directory"):
        get_or_generate_dataset(config, "val")


@pytest.mark.parametrize("key, value, words", [
    ("runtime.num_threads", 100000, "[1, 256]"), ("runtime.num_threads", 1000, "[1, 256]"),
    ("training.batch_size", 1000000, "data.n_paths.train = 2000"),
    ("data.n_paths.val", 2, "at least 400 paths"), ("data.n_paths.test", 100, "at least 400"),
])
def test_impossible_sizes_are_refused_at_load(key, value, words):
    with pytest.raises(ValueError) as err:
        quiet_load({key: value})
    assert f"'{key}' = {value}" in str(err.value) and words in str(err.value)


def test_more_threads_than_cores_is_a_warning_not_an_error():
    with pytest.warns(UserWarning, match="more than this machine's"):
        load_config("configs/smoke.yaml", {"runtime.num_threads": (os.cpu_count() or 1) + 1})


def test_paths_that_are_not_finite_are_named_in_the_configs_terms(tmp_path):
    # the loader refuses these (test_config); past it, the generator still says so
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = parse_config("configs/smoke.yaml", {"data.heston.theta": 1e300,
                                                     "caching.directory": str(tmp_path)})
    with pytest.raises(ValueError, match="'r': 0.02.*not finite"):
        get_or_generate_dataset(config, "val")


def _as_from_a_shell():
    """A child started as a shell starts it: SIGINT at its default, no signal blocked (what
    earlier tests leave in this process must not decide whether Ctrl-C reaches the run)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


@pytest.mark.timeout(120)
def test_ctrl_c_during_a_run_prints_one_line_and_exits_130(tmp_path):
    # a terminal's Ctrl-C: SIGINT to the whole process group (the tool, papermill, kernel)
    overrides = (f"{{experiments.directory: {tmp_path / 'store'}, "
                 f"caching.directory: {tmp_path / 'cache'}}}")
    # a user's shell: torch sets TORCHINDUCTOR_CACHE_DIR in this process once an earlier test
    # imports its compiler, and with it inherited the run ignored this Ctrl-C (seen under make
    # test; why is not yet understood: the note of this change says so)
    env = {**{k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"},
           "LTH_PROGRESS": "0", "OVERRIDES": overrides}
    run = subprocess.Popen([sys.executable, "tools/execute_notebooks.py", "--config",
                            "configs/smoke.yaml", "--out", str(tmp_path / "out"), "--figures",
                            str(tmp_path / "figures"), "--target", "make smoke"],
                           cwd=project_root(), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True,
                           preexec_fn=_as_from_a_shell)
    assert run.stdout.readline().startswith("make smoke: configs/smoke.yaml")
    assert run.stdout.readline().strip() == "== 01_baseline"
    time.sleep(3)  # inside the first notebook
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.strip()]
    assert run.returncode == 130 and len(lines) == 1 and "interrupted" in lines[0], err
    assert not (tmp_path / "out" / "01_baseline_smoke.ipynb").exists()


def test_a_floor_below_the_dense_reference_names_the_keys_to_change():
    history = [{"step": 0, "val_risk": 3.0}] * 10
    with pytest.raises(ValueError, match="training.epochs.*data.n_paths.val"):
        reference_levels([history, history], 2.0, final_evals=10)


def test_what_kernels_print_goes_to_the_log_and_only_the_stores_notices_to_the_terminal(
        tmp_path):
    """``make all`` / ``make smoke`` run the kernels inside ``output_to``: Ray's shutdown
    messages (``*** SIGTERM received``), written by processes the kernel started, land in the
    run's log; a stage waiting for a lock still says so on the terminal."""
    child = ("import sys; print('*** SIGTERM received', file=sys.stderr); print('out'); "
             "print('store: waiting 5 s for stage dense/abc', file=sys.stderr); "
             "print('warning: store: dense/abc is damaged', file=sys.stderr)")
    script = f"""
import subprocess, sys
sys.path.insert(0, "tools")
from execute_notebooks import output_to
from pathlib import Path
with output_to(Path({str(tmp_path / 'run.log')!r})):
    subprocess.run([sys.executable, "-c", {child!r}])
print("after")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=project_root(), timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "after\n"
    assert run.stderr == ("store: waiting 5 s for stage dense/abc\n"
                          "warning: store: dense/abc is damaged\n")
    assert (tmp_path / "run.log").read_text().splitlines() == [
        "*** SIGTERM received", "out", "store: waiting 5 s for stage dense/abc",
        "warning: store: dense/abc is damaged"]


def test_a_full_disk_under_a_figure_names_its_path_and_parameter(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from lth_hedging.presentation import plots

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plots, "atomic_write_bytes", full)
    fig, _ = plt.subplots()
    with pytest.raises(OSError, match=f"no space left to write {tmp_path}/f.pdf .*figures_dir"):
        plots.save_figure(fig, "f", tmp_path)
    plt.close(fig)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("watched", [True, False])  # ipykernel forwards fd 2, or not (pytest)
def test_a_store_warning_in_a_notebook_shows_once_there_and_once_on_the_terminal(tmp_path,
                                                                                 watched):
    import nbformat
    import papermill

    source = ("from lth_hedging.foundations.store import notice, warn_damaged\n"
              "warn_damaged('stage X is DAMAGED')\nnotice('store: WAITING for stage Y')")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, tmp_path / "in.ipynb")
    script = ("import papermill; papermill.execute_notebook("
              f"'{tmp_path / 'in.ipynb'}', '{tmp_path / 'out.ipynb'}', kernel_name='python3', "
              "progress_bar=False)")
    env = {k: v for k, v in os.environ.items() if watched is False or k != "PYTEST_CURRENT_TEST"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=project_root(), timeout=110, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    shown = "".join(o.get("text", "") for o in
                    nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs)
    for words in ("DAMAGED", "WAITING"):
        assert shown.count(words) == 1 and run.stderr.count(words) == 1, (shown, run.stderr)
    assert papermill  # the kernel is papermill's, as under make
