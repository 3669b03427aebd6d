"""Ends every process a Ray driver started when the driver ends without stopping them (killed
with SIGKILL, a notebook kernel that died): left alone, Ray's agents outlive it by a minute,
trying to report the raylet's death to a GCS that has gone with it. The driver's descendants
are Ray's processes (a notebook kernel starts no others).

``runtime.start_ray`` runs this file as its own process (by path: it imports nothing of the
package, so it starts in a fraction of a second), with a pipe from the driver on its stdin.
The pipe closes when the driver ends, however it ends; until then the guard notes the
driver's descendants every second, then kills those still alive and what they started since
(each checked by its start time, so a reused process id is never hit).

Usage: python ray_guard.py DRIVER_PID
"""

from __future__ import annotations

import os
import sys
import threading

import psutil  # a dependency of Ray

POLL_SECONDS = 1.0


def descendants(pid: int) -> set[tuple[int, float]]:
    """(pid, start time) of every process below ``pid``, this guard aside."""
    try:
        return {(p.pid, p.create_time()) for p in psutil.Process(pid).children(recursive=True)
                if p.pid != os.getpid()}
    except psutil.Error:
        return set()


def still(pid: int, started: float) -> psutil.Process | None:
    """The process ``pid`` if it is still the one that started at ``started``."""
    try:
        process = psutil.Process(pid)
        return process if process.create_time() == started else None
    except psutil.Error:  # gone
        return None


def end(processes: set[tuple[int, float]]) -> None:
    for pid, started in processes:
        process = still(pid, started)
        try:
            if process is not None:
                process.kill()
        except psutil.Error:  # ended meanwhile
            pass


def main() -> None:
    driver = int(sys.argv[1])
    gone = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), gone.set()), daemon=True).start()
    known = descendants(driver)
    print("watching", flush=True)  # start_ray waits for this: the driver may die at once
    sys.stdout.close()
    while not gone.wait(POLL_SECONDS):
        known |= descendants(driver)
    for pid, started in list(known):  # and what they started since the last look
        if still(pid, started) is not None:
            known |= descendants(pid)
    end(known)


if __name__ == "__main__":
    main()
