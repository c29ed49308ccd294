"""The calibration cache: one JSON file per host, device, threads, dtype and torch version, read with
validation, written atomically under a file lock."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from collections.abc import Iterator
from pathlib import Path

import torch

from costmodel.runtime.calibration import Calibration, problems


def cache_dir() -> Path:
    """Where calibrations are cached."""
    if os.environ.get("COSTMODEL_CACHE_DIR"):
        return Path(os.environ["COSTMODEL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "costmodel"


def cache_key(device: str, threads: int, dtype: str) -> str:
    """A file-safe key from what invalidates a calibration: host, device, threads, dtype, torch version."""
    raw = f"{platform.node()}|{device}|{threads}|{dtype}|{torch.__version__}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be the cache's file (it exists and is a directory or another non-file)."""
    return f"{path.name} is not a regular file" if path.exists() and not path.is_file() else None


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def load_cached(path: Path, device: str, threads: int, dtype: str) -> tuple[Calibration | None, str | None]:
    """(calibration, None) from a valid cache file; (None, why not) otherwise (None, None: no file)."""
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text())
        data["compute"] = {k: tuple(v) if isinstance(v, list) else v for k, v in data["compute"].items()}
        data["memory"] = {k: tuple(v) if isinstance(v, list) else v for k, v in data["memory"].items()}
        cal = Calibration(**data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return None, f"calibration cache {path} is unreadable ({type(exc).__name__}: {str(exc)[:80]}): measured again"
    found = problems(cal, device, threads, dtype)
    if found:
        return None, f"calibration cache {path} is invalid ({found[0]}): measured again"
    return cal, None


def unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (created if missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None if os.access(folder, os.W_OK) else "permission denied"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX flock; no lock where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: runs may calibrate twice, each file is still replaced atomically
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
