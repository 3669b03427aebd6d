"""The experiment store: hashed stage folders, atomic writes, loads that never unpickle.

A stage's output lives at ``<root>/<stage>/<hash>/``. Files are written to a temporary name
and renamed, and ``manifest.json`` — the SHA-256 of every file — is written last, so a
folder without a valid manifest is unfinished or damaged and its stage is recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

MANIFEST = "manifest.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
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
        manifest_path = folder / MANIFEST
        if not manifest_path.exists():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            return {name: load_checked(folder / name, sha)
                    for name, sha in manifest["files"].items()}
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            warnings.warn(f"store: {folder} is damaged ({err}); recomputing it", stacklevel=2)
            return None

    def save(self, stage: str, key: str, files: dict[str, Any]) -> None:
        folder = self.stage_dir(stage, key)
        if folder.exists():
            shutil.rmtree(folder)  # a damaged or unfinished earlier attempt
        hashes = {name: save_file(folder / name, value) for name, value in files.items()}
        save_file(folder / MANIFEST, {"stage": stage, "key": key, "files": hashes})

    def cached(self, stage: str, key: str,
               compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Load the stage, or compute and save it. Returns ``(files, was_cached)``."""
        files = self.load(stage, key)
        if files is not None:
            return files, True
        files = compute()
        self.save(stage, key, files)
        return files, False
