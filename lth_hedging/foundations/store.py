"""The experiment store: hashed stage folders, atomic writes, loads that never unpickle.

A stage's output lives at ``<root>/<stage>/<hash>/`` with ``manifest.json``, the SHA-256 of
every file. A stage is written whole into a temporary folder and renamed into place, so a
reader sees a complete folder or none. Two processes may share a store: a folder with a valid
manifest is never deleted or overwritten (a second writer of the same stage keeps the first
one's, which is the same result), and ``cached`` holds a per-stage lock so that one process
computes while the other waits and then loads. Anything unreadable — a checksum mismatch, a
pickle, a manifest of the wrong shape, a file where a folder belongs — is damaged: named in a
warning (also on the terminal's stderr) and recomputed. Files honour the umask.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

MANIFEST = "manifest.json"
HELD_LOCKS: set[str] = set()  # the stage locks this process holds


LOCK_NOTICE_AFTER, LOCK_NOTICE_EVERY = 5.0, 60.0  # seconds before, between waiting notices
RUN_LABEL: list[str] = []  # what this process is running (``name_run``), for lock notices


def name_run(label: str) -> None:
    """Name this process's run in the locks it takes (which config, notebook, start time);
    ``LTH_RUN`` in the environment (set by ``tools/execute_notebooks.py``) wins."""
    RUN_LABEL[:] = [label]


def run_label() -> str:
    """The holder line of a lock: the process id, then the run (else the command line)."""
    label = os.environ.get("LTH_RUN") or (RUN_LABEL[0] if RUN_LABEL else None)
    return f"{os.getpid()} {label or ' '.join(sys.argv)[:200]}"


def in_kernel() -> bool:
    """Whether this is a Jupyter kernel that forwards what reaches the process's own stderr
    (fd 2) to the notebook as well (ipykernel watches the fd, except under pytest)."""
    return bool(getattr(sys.stderr, "_should_watch", False)) and sys.__stderr__ is not None


def notice(message: str) -> None:
    """A line on stderr, and on the process's own stderr too (a notebook kernel's goes to the
    terminal that runs papermill or make) — once each: in a kernel, the process's stderr alone,
    which the kernel also shows in the notebook."""
    if in_kernel():
        print(message, file=sys.__stderr__, flush=True)
        return
    print(message, file=sys.stderr, flush=True)
    if sys.__stderr__ is not None and sys.__stderr__ is not sys.stderr:
        print(message, file=sys.__stderr__, flush=True)


def wait_for_lock(handle, name: str, path: Path) -> None:
    """Take the exclusive ``flock`` of ``handle``; while another process holds it, say so
    after ``LOCK_NOTICE_AFTER`` seconds and every ``LOCK_NOTICE_EVERY`` after: which stage,
    which process, how to clear it. A holder that exits (even killed) releases it."""
    start = time.monotonic()
    next_notice = start + LOCK_NOTICE_AFTER
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            now = time.monotonic()
            if now >= next_notice:
                holder = path.read_text().strip() or "another process"
                pid = holder.split()[0] if holder[:1].isdigit() else "its process"
                notice(f"store: waiting {now - start:.0f} s for stage {name}, which process "
                       f"{holder} is computing (lock {path}); if that process is stopped, "
                       f"resume it (kill -CONT {pid}), or end it (kill {pid}): its lock is "
                       "released when it exits and this process takes over")
                next_notice = now + LOCK_NOTICE_EVERY
            time.sleep(0.2)


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import (not thread-safe)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` less the process's umask (what ``open`` would have given)."""
    return mode & ~UMASK


def warn_damaged(message: str) -> None:
    """A warning, and the same line on the process's own stderr (a notebook kernel's goes to
    the terminal that runs papermill or make); in a kernel one line, which it shows in the
    notebook and on that terminal."""
    if in_kernel():
        print(f"warning: {message}", file=sys.__stderr__, flush=True)
        return
    warnings.warn(message, stacklevel=3)
    if sys.__stderr__ is not None and sys.__stderr__ is not sys.stderr:
        print(f"warning: {message}", file=sys.__stderr__, flush=True)


STALE_SECONDS = 3600  # a temporary file or folder this old was left by a killed writer


def remove_stale_temporaries(folder: Path) -> None:
    """Delete the ``.*.tmp`` files and folders a killed writer left in ``folder``, and
    ``.*.damaged`` stages set aside (only old ones: a younger one may belong to a writer
    still at work)."""
    now = time.time()
    for path in [*folder.glob(".*.tmp"), *folder.glob(".*.damaged")]:
        with contextlib.suppress(OSError):
            if now - path.lstat().st_mtime > STALE_SECONDS:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()


FULL = (errno.ENOSPC, errno.EDQUOT)


def no_room(err: OSError, path: Path, key: str) -> OSError:
    """``err`` as the error a user can act on when the disk is full: the path and the config
    key that puts it there; other errors unchanged."""
    if err.errno not in FULL:
        return err
    return OSError(err.errno, f"no space left to write {path} ({err.strerror}): free space or "
                              f"set '{key}' to a folder with room; nothing half-written was kept")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode(value: Any, suffix: str) -> bytes:
    """Serialise JSON-able data (``.json``), a dict of arrays (``.npz``) or tensors (``.pt``)."""
    buffer = io.BytesIO()
    if suffix == ".json":
        return (json.dumps(value, indent=2) + "\n").encode()  # keeps insertion order
    if suffix == ".npz":
        np.savez(buffer, **{k: np.asarray(v) for k, v in value.items()})
    elif suffix == ".pt":
        torch.save(value, buffer)
    else:
        raise ValueError(f"unsupported file type '{suffix}' (allowed: .json, .npz, .pt)")
    return buffer.getvalue()


def decode(data: bytes, suffix: str) -> Any:
    if suffix == ".json":
        return json.loads(data)
    if suffix == ".npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if suffix == ".pt":
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    raise ValueError(f"unsupported file type '{suffix}' (allowed: .json, .npz, .pt)")


def save_file(path: Path, value: Any) -> str:
    """Write atomically; return the SHA-256 of what was written."""
    data = encode(value, path.suffix)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load_checked(path: Path, sha256: str) -> Any:
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise OSError(f"{path} does not match its checksum (truncated or modified)")
    return decode(data, path.suffix)


class Store:
    """Hashed stage folders under ``root``: ``store.cached(stage, key, compute)``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def stage_dir(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def load(self, stage: str, key: str) -> dict[str, Any] | None:
        """The stage's files as ``{name: value}``, or None when missing or damaged."""
        folder = self.stage_dir(stage, key)
        if not folder.exists() and not folder.is_symlink():
            return None
        try:
            if folder.is_symlink() or not folder.is_dir():
                raise OSError("not a folder")
            manifest = json.loads((folder / MANIFEST).read_text())
            names = manifest["files"]
            if not isinstance(names, dict) or not all(
                    isinstance(n, str) and isinstance(h, str) and "/" not in n
                    for n, h in names.items()):
                raise ValueError("the manifest does not list files and checksums")
            return {name: load_checked(folder / name, sha) for name, sha in names.items()}
        except FileNotFoundError:
            return None  # unfinished: no manifest yet
        except (PermissionError, MemoryError):
            raise  # the stage may be fine: never treat it as damaged (and delete it)
        except Exception as err:  # noqa: BLE001 — anything else unreadable is recomputed
            warn_damaged(f"store: {folder} is damaged ({type(err).__name__}: {err}); "
                         f"recomputing it")
            return None

    def save(self, stage: str, key: str, files: dict[str, Any]) -> None:
        """Write the stage whole into a temporary folder, then rename it into place. A stage
        another process saved meanwhile (valid manifest) is kept; a damaged one is replaced."""
        folder = self.stage_dir(stage, key)
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(folder.parent)
            tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key}.", suffix=".tmp"))
        except OSError as err:
            raise no_room(err, folder, "experiments.directory") from err
        try:
            try:
                hashes = {name: save_file(tmp / name, value) for name, value in files.items()}
                save_file(tmp / MANIFEST, {"stage": stage, "key": key, "files": hashes})
            except OSError as err:
                raise no_room(err, folder, "experiments.directory") from err
            os.chmod(tmp, umask_mode(0o777))
            with self.lock(stage, key):
                for _ in range(3):
                    try:
                        os.rename(tmp, folder)  # fails if the folder exists, not empty
                        return
                    except OSError:
                        if self.load(stage, key) is not None:
                            return  # another process saved it: the same result, keep it
                        self._discard(folder)
            raise OSError(f"store: could not save {folder}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _discard(self, folder: Path) -> None:
        """Move a damaged stage out of the way (atomically), then delete it."""
        trash = folder.with_name(f".{folder.name}.{os.getpid()}.{time.time_ns()}.damaged")
        with contextlib.suppress(FileNotFoundError):
            os.rename(folder, trash)
            if trash.is_dir() and not trash.is_symlink():
                shutil.rmtree(trash, ignore_errors=True)
            else:
                trash.unlink()

    @contextlib.contextmanager
    def lock(self, stage: str, key: str):
        """An exclusive lock on one stage, across processes (``flock``); re-entrant within
        this process, whichever ``Store`` object asks."""
        path = self.root / stage / f".{key}.lock"
        held = str(path.resolve(strict=False))
        if held in HELD_LOCKS:
            yield
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")
        except OSError as err:
            raise no_room(err, path, "experiments.directory") from err
        with handle:
            wait_for_lock(handle, f"{stage}/{key}", path)
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(run_label() + "\n")  # who holds it
                handle.flush()
            except OSError as err:
                fcntl.flock(handle, fcntl.LOCK_UN)
                raise no_room(err, path, "experiments.directory") from err
            HELD_LOCKS.add(held)
            try:
                yield
            finally:
                HELD_LOCKS.discard(held)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def cached(self, stage: str, key: str,
               compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Load the stage, or compute and save it (one process at a time: another waits for
        it and then loads). Returns ``(files, was_cached)``."""
        files = self.load(stage, key)
        if files is not None:
            return files, True
        with self.lock(stage, key):
            files = self.load(stage, key)
            if files is not None:
                return files, True
            files = compute()
            self.save(stage, key, files)
        return files, False
