"""Run a pure computation with a wall-clock limit that holds even inside C code (a huge integer power,
a long factorisation): the call runs in a forked child and is killed at the limit.

Where ``os.fork`` does not exist (Windows) the call runs in this process without a limit. The child
shares nothing back but the pickled return value or exception; it never runs the parent's exit handlers.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The computation did not finish within its limit (it was stopped)."""


def call_with_deadline(function: Callable[..., T], seconds: float | None, *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, or :class:`DeadlineExceeded` after ``seconds`` of wall time.

    Contract: the return value (or the exception raised) is the function's own, passed back pickled;
    ``seconds=None`` or a platform without fork runs it inline with no limit."""
    if seconds is None or not hasattr(os, "fork"):
        return function(*args, **kwargs)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running the parent's atexit/finalisers
        os.close(reader)
        try:
            try:
                payload = pickle.dumps((True, function(*args, **kwargs)))
            except BaseException as err:  # noqa: BLE001 - every outcome goes back to the parent
                try:
                    payload = pickle.dumps((False, err))
                except Exception:
                    payload = pickle.dumps((False, RuntimeError(f"{type(err).__name__}: {err}")))
            view = memoryview(payload)
            while view:
                view = view[os.write(writer, view) :]
        finally:
            os._exit(0)
    os.close(writer)
    chunks: list[bytes] = []
    end = time.monotonic() + seconds
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded(f"stopped after {seconds:g} s")
            ready, _, _ = select.select([reader], [], [], left)
            if not ready:
                continue
            chunk = os.read(reader, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(reader)
    os.waitpid(pid, 0)
    if not chunks:
        raise RuntimeError("the computation's process ended without a result")
    ok, value = pickle.loads(b"".join(chunks))
    if ok:
        return value  # type: ignore[no-any-return]
    raise value


def _kill(pid: int) -> None:
    """Stop the child and reap it."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
