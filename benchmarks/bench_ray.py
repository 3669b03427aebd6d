"""What Ray costs on this machine: one sweep trained locally and as Ray tasks.

Local: one process, ``runtime.num_threads`` = 2 threads, stacks of ``ensemble_size``.
Ray, one worker of 2 threads: the same work, so the difference is Ray's overhead (shipping
the data and the networks, the task, returning results), reported per task. Ray, two workers
of one thread each: each worker gets its share of the cores as torch threads (two 2-thread
processes on 2 cores oversubscribe them). Ray is started before timing (a cluster is up
before a sweep); each Ray path is warmed up once. Results are checked equal to local.
"""

import time

import ray
import torch
from common import QUICK, header, job

from lth_hedging import create_model, load_config
from lth_hedging.nets import runtime
from lth_hedging.nets.fitting import Network
from lth_hedging.nets.pruning import magnitude_mask
from lth_hedging.studies.stages import load_split, schedule


def sweep(config, n):
    inits = [create_model(config, seed).state_dict() for seed in range(n)]
    return [Network(init, magnitude_mask(init, 0.8), 0.01, schedule(config, 0.01, 20), seed)
            for seed, init in enumerate(inits)]


def train(config, data, networks):
    results = {}
    start = time.perf_counter()
    runtime.fit_networks(config, *data, networks, job(config),
                         lambda i, r: results.update({i: r}))
    return time.perf_counter() - start, [results[i] for i in sorted(results)]


def main():
    small = {"model.hidden": [16, 16], "data.n_paths": {"train": 2000, "val": 1000,
                                                        "test": 1000}, "data.n_steps": 10}
    base = load_config("configs/config.yaml", small if QUICK else {})
    n = 4 if QUICK else 16
    header(f"{n} tickets x 20 steps: local vs Ray on this machine")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR",
             configure_logging=False)
    data = (load_split(base, "train"), load_split(base, "val"))
    networks = sweep(base, n)
    torch.set_num_threads(2)
    local, reference = train(base, data, networks)
    print(f"local, 2 threads: {local:.2f} s")
    for threads in (2, 1):
        config = load_config("configs/config.yaml", {
            **(small if QUICK else {}), "runtime.executor": "ray", "runtime.num_threads": threads})
        train(config, data, sweep(config, 2))  # warm-up: start the workers
        seconds, results = train(config, data, networks)
        tasks = len(runtime.chunks(n, runtime.stack_size(config),
                                   runtime.ray_workers(config, ray)))
        same = all(a.history[-1]["val_risk"] == b.history[-1]["val_risk"]
                   for a, b in zip(reference, results))
        print(f"Ray, {2 // threads} worker(s) x {threads} thread(s): {seconds:.2f} s in {tasks} "
              f"task(s), {(seconds - local) / tasks:+.2f} s per task vs local; results "
              f"{'equal' if same else 'DIFFERENT'}")
    ray.shutdown()


if __name__ == "__main__":
    main()
