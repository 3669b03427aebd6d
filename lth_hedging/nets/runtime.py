"""Where networks train: the device (``runtime.device``), the stack size for it, and the
executor (``runtime.executor``): ``local`` trains every stack in this process, ``ray`` makes
each stack a Ray task, on this machine or on a cluster (``runtime.ray_address``), and the
arithmetic: threads, TF32 on CUDA, bfloat16 matmuls on the CPU (``runtime.precision``).

Results do not depend on where they were computed, for one device type: a network's result
does not depend on its stack (``fitting.fit_ensemble``), and a Ray worker runs the same
code with the same thread count as a local run. A GPU rounds differently from the CPU, so the
device (and TF32) enter the key of every training stage, and only where it is not the CPU:
CPU keys are those of runs made before the option existed. So does a precision other than
float32: bfloat16 matmuls change the results beyond rounding.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

from ..foundations.code import TRAINING, fingerprint
from ..foundations.config import Config
from ..market.features import HedgingData
from .fitting import Job, Network, fit_ensemble
from .train import TrainResult

DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("float32", "bfloat16")
EXECUTORS = ("local", "ray")
STACK_SIZES = {"cpu": 8, "cuda": 64}  # measured: benchmarks/bench_ensemble.py
TASK_STACKS = 4  # on Ray: a task trains at most this many stack-fulls of networks, one
# refilled stack (a lost worker costs at most one task; a straggler is not left alone long)


def device(config: Config) -> torch.device:
    """``runtime.device`` resolved: ``auto`` is CUDA where torch sees one, else the CPU —
    on the machine that runs the notebook (on a GPU cluster driven from a CPU-only machine,
    say ``cuda``)."""
    name = config.runtime.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def device_key(config: Config) -> dict:
    """What the device and the precision add to a training stage's key: nothing on the CPU
    in float32."""
    key = {} if device(config).type == "cpu" else {"device": device(config).type,
                                                    "tf32": config.runtime.tf32}
    if config.runtime.precision != "float32":
        key["precision"] = config.runtime.precision
    return key


@cache
def bfloat16_matmuls() -> bool:
    """Whether float32 matmuls on this CPU are computed in bfloat16 when asked (oneDNN does so
    where it finds AVX-512; AMX or AVX512-BF16 make it fast), tried on the two kinds training
    runs (a matmul, ``Trainer``'s layers; a batched one, a stack's): 1 + 2⁻¹² is 1 in
    bfloat16, so a sum of 64 of them is 64 there and not in float32."""
    before = torch.backends.mkldnn.matmul.fp32_precision
    a, b = torch.full((64, 64), 1 + 2**-12), torch.ones(64, 64)
    try:
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        return bool((a @ b == 64).all() and (torch.baddbmm(b[None], a[None], b[None]) == 65).all())
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = before


def stack_size(config: Config) -> int:
    """Networks per stack: ``runtime.ensemble_size``, or the device's default."""
    size = config.runtime.ensemble_size
    return STACK_SIZES[device(config).type] if size is None else size


@cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` says)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def blas() -> str:
    """The BLAS torch was built with (its config's first math-library line), the CPU
    capability its kernels dispatch on and MKL's code path when one is forced (``MKL_CBWR``):
    what decides how a float32 sum is rounded."""
    lines = [line.strip(" -") for line in torch.__config__.show().splitlines()
             if "Math Kernel Library" in line or "OpenBLAS" in line or "BLAS_INFO" in line]
    name = lines[0].split(" for ")[0] if lines else "unknown BLAS"
    path = f"; MKL_CBWR={os.environ['MKL_CBWR']}" if os.environ.get("MKL_CBWR") else ""
    return f"{name}; kernels {torch.backends.cpu.get_cpu_capability()}{path}"


def machine(where: torch.device, precision: str) -> dict:
    """This process's CPU, BLAS, torch and threads, and the device (the GPU's name) and matmul
    precision it computes with."""
    out = {"cpu": cpu_model(), "blas": blas(), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "device": where.type, "precision": precision}
    if where.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(where)
    return out


_TRAINED_ON = threading.local()  # the Ray worker whose networks ``on_done`` is storing


@contextmanager
def trained_on(worker: dict) -> Iterator[None]:
    """Within it, ``provenance`` names ``worker`` (a Ray worker's ``machine``): the results
    being stored were computed there, not in this process."""
    _TRAINED_ON.machine = worker
    try:
        yield
    finally:
        _TRAINED_ON.machine = None


def provenance(config: Config) -> dict:
    """Where results are made: this process's ``machine`` — or, while the networks of a Ray
    task are handed to ``on_done``, the worker's that trained them."""
    worker = getattr(_TRAINED_ON, "machine", None)
    return worker or machine(device(config), config.runtime.precision)


def setup(config: Config) -> None:
    """Fixed thread count (the same config gives bit-identical results on a machine), the
    TF32 setting of CUDA matmuls and the precision of CPU matmuls."""
    set_arithmetic(config.runtime.num_threads, config.runtime.tf32, config.runtime.precision)


def set_arithmetic(num_threads: int, tf32: bool, precision: str) -> None:
    torch.set_num_threads(num_threads)
    # left alone in float32 unless set before (torch's own setting then, and no mix of its
    # legacy and new precision APIs); a float32 run after a bfloat16 one is float32 again
    if precision == "bfloat16" or torch.backends.mkldnn.matmul.fp32_precision != "none":
        torch.backends.mkldnn.matmul.fp32_precision = "bf16" if precision == "bfloat16" \
            else "ieee"
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


def fit_networks(config: Config, train: HedgingData, val: HedgingData,
                 networks: list[Network], job: Job,
                 on_done: Callable[[int, TrainResult], None], progress: bool = False) -> None:
    """Train every network where ``runtime`` says (device, stack size, executor).
    ``on_done(i, result)`` is called in this process for each network as it comes back."""
    where = dict(stack_size=stack_size(config), device=device(config))
    if config.runtime.executor == "local":
        fit_ensemble(networks, train, val, job, **where, on_done=on_done, progress=progress)
    else:
        fit_on_ray(config, train, val, networks, job, where, on_done)


def fit_chunk(train: HedgingData, val: HedgingData, networks: list[Network], job: Job,
              where: dict, arithmetic: tuple[int, bool, str],
              code: str) -> tuple[list[TrainResult], dict]:
    """A Ray task: one refilled stack over a chunk of the networks (``where``: stack size and
    device), with the run's ``arithmetic`` (threads, TF32, precision) — and the driver's code
    (else its results would be stored under keys that name other code); its results, and
    the worker's ``machine``."""
    num_threads, tf32, precision = arithmetic
    if fingerprint(TRAINING) != code:
        raise RuntimeError("this Ray worker's lth_hedging differs from the driver's: install "
                           "the same commit on every node (pip install -e '.[ray]')")
    if precision == "bfloat16" and not bfloat16_matmuls():
        raise RuntimeError(f"runtime.precision = bfloat16: oneDNN does not compute bfloat16 "
                           f"matmuls on this Ray worker's CPU ({cpu_model()}): its results "
                           f"would be float32 under a bfloat16 key")
    set_arithmetic(num_threads, tf32, precision)
    results = fit_ensemble(networks, train, val, job, **where)
    return results, machine(where["device"], precision)


def chunks(n: int, size: int, workers: int) -> list[range]:
    """Networks 0 … n−1 in consecutive chunks: enough to keep every worker busy, none more
    than ``TASK_STACKS`` stack-fulls."""
    per_task = max(1, min(TASK_STACKS * size, math.ceil(n / max(workers, 1))))
    return [range(start, min(start + per_task, n)) for start in range(0, n, per_task)]


def ray_workers(config: Config, ray) -> int:
    """How many tasks the cluster runs at once: its GPUs, or its CPUs over the threads each
    task takes."""
    resources = ray.cluster_resources()
    if device(config).type == "cuda":
        gpus = int(resources.get("GPU", 0))
        if gpus == 0:
            raise ValueError("config key 'runtime.device' = 'cuda' is invalid: the Ray cluster "
                             "has no GPU")
        return gpus
    threads = config.runtime.num_threads
    largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]),
                  default=0)
    if threads > largest:
        raise ValueError(f"config key 'runtime.num_threads' = {threads} is more than any node "
                         f"of the Ray cluster has ({largest:g} CPUs): no task could ever start; "
                         f"set it to at most {int(largest)}")
    return max(1, int(resources.get("CPU", 1)) // threads)


RAY_CONNECT_SECONDS = 30  # how long an unreachable ray_address may take to be named


def reachable(address: str, timeout: float) -> str | None:
    """Why ``address`` (``host:port`` or ``ray://host:port``) cannot be reached within
    ``timeout`` seconds (a TCP connection to it), or None when it can. ``auto`` and other
    forms are Ray's to resolve."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:6379
    if not host or not port.isdigit():
        return None
    answer: list[str | None] = []

    def probe() -> None:  # the name lookup too, which create_connection's timeout leaves out
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                answer.append(None)
        except OSError as err:
            answer.append(f"{type(err).__name__}: {err}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return answer[0] if answer else f"no answer (name lookup or connection) within {timeout:g} s"


def start_ray(config: Config):
    """Ray, started here or joined at ``runtime.ray_address`` (once per process). An address
    that cannot be reached fails within ``RAY_CONNECT_SECONDS`` naming the key (Ray itself
    retries for minutes); a ``ray://`` address needs Ray's client (``pip install -e
    '.[ray]'`` installs it)."""
    try:
        import ray
    except ImportError as error:
        raise ImportError("runtime.executor 'ray' needs Ray: pip install -e '.[ray]'") from error
    if ray.is_initialized():
        return ray
    address = config.runtime.ray_address
    if address is not None:
        if address.startswith("ray://"):
            try:
                import grpc  # noqa: F401
                import ray.util.client  # noqa: F401 - needs grpcio (ray[client])
            except ImportError as error:
                raise ValueError(f"config key 'runtime.ray_address' = {address!r} needs Ray's "
                                 "client: pip install -e '.[ray]' (ray[client]), or give the "
                                 "cluster's GCS address HOST:6379") from error
        why = reachable(address, RAY_CONNECT_SECONDS)
        if why is not None:
            raise ValueError(f"config key 'runtime.ray_address' = {address!r} cannot be "
                             f"reached: a TCP connection to it failed within "
                             f"{RAY_CONNECT_SECONDS} s ({why}); start the cluster (ray start "
                             "--head) or give its address, or set it to null to start Ray here")
    try:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR",
                 configure_logging=False)
    except ConnectionError as error:  # "auto" (or RAY_ADDRESS) and no cluster running
        why = " ".join(str(error).split()[:8])
        if address is None:  # Ray read RAY_ADDRESS from the environment
            raise ValueError(f"RAY_ADDRESS = {os.environ.get('RAY_ADDRESS')!r} (environment) "
                             f"found no Ray cluster to join ({why}…): unset it to start Ray "
                             "here, or start the cluster (ray start --head)") from None
        raise ValueError(f"config key 'runtime.ray_address' = {address!r} found no Ray cluster "
                         f"to join ({why}…): start one (ray start --head), give its address, "
                         "or set it to null to start Ray here") from None
    if address is None:  # this process started Ray: its processes end with it
        guard = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("ray_guard.py")), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        guard.stdout.readline()  # it has seen Ray's processes
        guard.stdout.close()
        _GUARDS.append(guard)
    return ray


# The guard of a Ray started here (``ray_guard``): kept open for the life of this process,
# whose end closes the guard's stdin.
_GUARDS: list[subprocess.Popen] = []


def fit_on_ray(config: Config, train: HedgingData, val: HedgingData, networks: list[Network],
               job: Job, where: dict, on_done: Callable[[int, TrainResult], None]) -> None:
    """Each chunk of networks a Ray task (``num_threads`` CPUs, or one GPU, each); results
    come back to this process, which alone calls ``on_done`` (and so alone writes the
    store). A task whose worker dies is retried by Ray."""
    ray = start_ray(config)
    rt = config.runtime
    cuda = where["device"].type == "cuda"
    # a GPU task asks for one GPU and one CPU (a node may have fewer CPUs than num_threads)
    task = ray.remote(max_retries=3)(fit_chunk).options(
        num_cpus=1 if cuda else rt.num_threads, num_gpus=1 if cuda else 0, name="fit_chunk")
    train_ref, val_ref = ray.put(train), ray.put(val)
    pending = {}
    for part in chunks(len(networks), where["stack_size"], ray_workers(config, ray)):
        ref = task.remote(train_ref, val_ref, networks[part.start:part.stop], job, where,
                          (rt.num_threads, rt.tf32, rt.precision), fingerprint(TRAINING))
        pending[ref] = part
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                part = pending.pop(ref)
                results, worker = ray.get(ref)
                with trained_on(worker):
                    for i, result in zip(part, results):
                        on_done(i, result)  # stored at once: a later failure loses nothing
    finally:
        for ref in pending:  # a task failed for good (or the run was interrupted)
            ray.cancel(ref)
