"""Peak memory (max RSS of the kernel) of notebook 01 on the default config, from scratch:
a fresh store and cache in a temporary folder, so everything is computed.

Usage: python benchmarks/bench_memory.py [config_path] (--quick: the smoke config)
"""

import resource
import sys
import tempfile
import time

import papermill
from common import QUICK, header

from lth_hedging.foundations.config import project_root

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--quick"]
    config_path = args[0] if args else ("configs/smoke.yaml" if QUICK else "configs/config.yaml")
    root = project_root()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        papermill.execute_notebook(
            str(root / "notebooks" / "01_baseline.ipynb"), f"{tmp}/out.ipynb",
            parameters={"config_path": config_path, "figures_dir": f"{tmp}/figures",
                        "overrides": {"experiments.directory": f"{tmp}/experiments",
                                      "caching.directory": f"{tmp}/cache"}},
            cwd=str(root), kernel_name="python3", progress_bar=False)
        seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    header(f"notebook 01 on {config_path}, from scratch")
    print(f"{seconds:.0f} s, peak kernel memory {peak_mib:.0f} MiB")
