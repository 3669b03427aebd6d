"""Where networks train: stacks refilled as networks finish, and Ray workers, give the same
results as one local process."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from test_ensemble import RISK_TOLERANCE, WEIGHT_TOLERANCE

from lth_hedging.nets import runtime
from lth_hedging.studies.tickets import Cell, run_cells

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray with 2 CPUs: two one-thread workers on this 2-core machine."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
             logging_level="ERROR", configure_logging=False)
    yield
    ray.shutdown()


def sweep(config):
    """Three seeds' dense networks (θ*), and the tickets, re-inits and random masks of each."""
    lr = config.training.learning_rate
    cells = [Cell(kind, 0.8, lr, seed, lr) for seed in range(3)
             for kind in ("ticket", "reinit", "random_mask")]
    return {r.cell: r for r in run_cells(config, cells)}


def same(a, b):
    """The same cell, as the README promises across executors: Ray cuts the sweep into other
    stacks than the local run, so float32 sums may round in another order (the tolerances of
    ``test_ensemble.close_run``)."""
    return ([r["step"] for r in a.history] == [r["step"] for r in b.history]
            and [r["val_risk"] for r in a.history] == pytest.approx(
                [r["val_risk"] for r in b.history], rel=RISK_TOLERANCE)
            and all(torch.allclose(a.state[k], b.state[k], rtol=0, atol=WEIGHT_TOLERANCE)
                    for k in a.state)
            and torch.allclose(a.test_pnl, b.test_pnl, rtol=RISK_TOLERANCE, atol=0))


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def descends_from_us(pid: int) -> bool:
    while pid > 1:
        pid = parent(pid)
        if pid == os.getpid():
            return True
    return False


def ray_titles() -> list[int]:
    """Processes of this test's Ray running our task (Ray titles a busy worker
    'ray::<task name>')."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(
                    b"ray::fit_chunk") and descends_from_us(int(proc.name)):
                pids.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def test_a_sweep_on_ray_equals_the_local_sweep_even_when_a_worker_dies(make_smoke_config,
                                                                       ray_cluster, tmp_path):
    overrides = {"runtime.num_threads": 1}
    local = sweep(make_smoke_config({**overrides, "experiments.directory":
                                     str(tmp_path / "local")}))
    config = make_smoke_config({**overrides, "runtime.executor": "ray",
                                "experiments.directory": str(tmp_path / "ray")})
    killed = []

    def kill_one_worker():
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for pid in ray_titles()[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    on_ray = sweep(config)
    killer.join()
    assert killed, "no Ray worker was seen training"
    assert on_ray.keys() == local.keys()
    assert all(same(local[cell], on_ray[cell]) for cell in local)


@pytest.mark.parametrize("n, size, workers, expected", [
    (6, 8, 2, [3, 3]), (100, 8, 2, [32, 32, 32, 4]), (1, 8, 4, [1]), (5, 2, 1, [5])])
def test_chunks_keep_every_worker_busy_and_stay_small(n, size, workers, expected):
    parts = runtime.chunks(n, size, workers)
    assert [len(p) for p in parts] == expected
    assert [i for p in parts for i in p] == list(range(n))
