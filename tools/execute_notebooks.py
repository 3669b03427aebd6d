"""Execute the numbered notebooks with papermill, for ``make all`` and ``make smoke``.

The notebooks run into a folder of their own and become ``OUT/<name>_<suffix>.ipynb`` together
when the last one has run (``_executed`` for a study, ``_smoke`` for the smoke run: never the
source's name, so that JupyterLab's tabs are told apart): OUT always holds one complete run,
and a failed or interrupted run leaves the previous one as it was. What the kernels print
beside the notebook (Jupyter's start-up, Ray's shutdown) goes to a log file under
``OUT/logs/``; of it only the store's notices (a stage waiting for another process's lock,
a damaged stage or cache file recomputed) reach the terminal.

A bad config or override stops the run before any kernel starts, with its one-line error
(key, value, what is allowed); a failing cell stops it with the cell's error in one line and
the path of the log that holds the traceback. Exit status 2 for a bad config, 1 for a failed
cell.

Usage: OVERRIDES='{training.epochs: 5}' python tools/execute_notebooks.py \
           --config configs/config.yaml --out experiments/notebooks --figures figures
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path

import yaml

from lth_hedging.configure import load_config
from lth_hedging.foundations.config import YamlLoader, project_root

NOTEBOOKS = tuple(sorted(p.stem for p in (project_root() / "notebooks").glob("0*.ipynb")))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_overrides(text: str) -> dict:
    overrides = yaml.load(text or "{}", Loader=YamlLoader)
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise ValueError(f"OVERRIDES={text!r} is not a mapping of dotted config keys "
                         "(e.g. OVERRIDES='{training.epochs: 5}')")
    return overrides


# what the user must see: a stage waiting for a lock, a damaged stage or cache file recomputed
TERMINAL = re.compile(rb"^(store: |warning: )")


@contextlib.contextmanager
def output_to(log: Path):
    """File descriptors 1 and 2 — this process's and every kernel's it starts, with their Ray
    processes — into ``log`` for the duration; the lines ``TERMINAL`` matches are also copied
    to the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = [os.dup(1), os.dup(2)]  # kept open: the copying thread may outlive the block
    read, write = os.pipe()

    def copy() -> None:
        with open(log, "ab") as file, os.fdopen(read, "rb") as source:
            for line in source:
                file.write(line)
                file.flush()
                if TERMINAL.match(line):
                    os.write(terminal[1], line)

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    os.dup2(write, 1)
    os.dup2(write, 2)
    os.close(write)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(terminal[0], 1)
        os.dup2(terminal[1], 2)
        thread.join(timeout=5)  # ends when every writer has closed (a lingering one: later)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def fail(target: str, message: str, details: str, log: Path, status: int) -> None:
    try:
        with open(log, "a") as file:
            file.write(f"\n{message}\n\n{ANSI.sub('', details)}\n")
        where = f"traceback in {log}"
    except OSError as error:  # a full disk: the message itself still reaches the terminal
        where = f"no traceback kept ({log}: {one_line(error)})"
    print(f"{target}: {message}", file=sys.stderr)
    print(f"{target}: {where}", file=sys.stderr)
    raise SystemExit(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True, help="folder of the executed notebooks")
    parser.add_argument("--figures", required=True, help="folder the notebooks save figures in")
    parser.add_argument("--suffix", default="executed")
    parser.add_argument("--target", default="make all", help="named in every error")
    args = parser.parse_args()
    os.chdir(project_root())
    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    log = out / "logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    text = os.environ.get("OVERRIDES", "{}")
    try:
        overrides = parse_overrides(text)
        with warnings.catch_warnings():  # the notebooks print the config's warnings
            warnings.simplefilter("ignore")
            load_config(args.config, overrides)
    except (ValueError, TypeError, OSError, yaml.YAMLError) as error:
        fail(args.target, f"bad config ({args.config}, OVERRIDES={text}): {one_line(error)}",
             traceback.format_exc(), log, 2)
    print(f"{args.target}: {args.config}, OVERRIDES={text}; kernels' output in {log}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still cleans up

    import papermill  # after the config check: it takes a second to import
    from papermill.exceptions import PapermillExecutionError

    folder = Path(tempfile.mkdtemp(dir=out, prefix=".run."))  # this run's: never shared
    try:
        for name in NOTEBOOKS:
            print(f"== {name}", flush=True)
            start = time.perf_counter()
            # the run, as a lock held by its kernel names it to another run that waits
            os.environ["LTH_RUN"] = (f"{args.target} ({args.config}), notebook {name}, "
                                     f"started {time.strftime('%Y-%m-%d %H:%M:%S')}")
            try:
                with output_to(log):
                    papermill.execute_notebook(
                        f"notebooks/{name}.ipynb", folder / f"{name}.ipynb",
                        kernel_name="python3", cwd=".", progress_bar=False, start_timeout=600,
                        parameters={"config_path": args.config, "overrides": overrides,
                                    "figures_dir": args.figures})
            except PapermillExecutionError as error:
                fail(args.target, f"{name}, cell {error.exec_count}: {error.ename}: "
                     f"{' '.join(ANSI.sub('', error.evalue or '').split())}",
                     "\n".join(error.traceback), log, 1)
            except Exception as error:  # a kernel that died or never started
                fail(args.target, f"{name}: {type(error).__name__}: {one_line(error)}",
                     traceback.format_exc(), log, 1)
            print(f"   {name} ran in {time.perf_counter() - start:.0f} s", flush=True)
        for name in NOTEBOOKS:  # the run is complete: it replaces the previous one
            os.replace(folder / f"{name}.ipynb", out / f"{name}_{args.suffix}.ipynb")
        print(f"executed notebooks: {out}/*_{args.suffix}.ipynb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; the store kept every stage
        target = sys.argv[sys.argv.index("--target") + 1] if "--target" in sys.argv[:-1] \
            else "run"
        print(f"{target}: interrupted; every stage already stored is reused by the next run, "
              "and the notebooks of the last complete run, if any, are as they were",
              file=sys.stderr)
        # main's clean-up has run; at interpreter exit asyncio would still log the kernel
        # client's pending cell task ("Task exception was never retrieved: DeadKernelError"),
        # a traceback after the one line: leave without that teardown
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
