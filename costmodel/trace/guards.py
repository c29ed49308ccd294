"""Guards that leave the process as analysis found it: garbage collector, RNGs, environment, recursion
limit, and fake-tensor error logging."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import random
import sys
from collections.abc import Iterator
from typing import Any

import torch


@contextlib.contextmanager
def fake_errors_unlogged() -> Iterator[None]:
    """Silence FakeTensorMode's own error log (a traceback on stderr for every op that raises): our
    one-line ShapeMismatch says what failed. The logger's state is restored on exit."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, restoring its state on exit."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@contextlib.contextmanager
def process_state_preserved() -> Iterator[None]:
    """Restore the global RNGs (torch, Python's, numpy's), environment variables, grad mode, default dtype
    and thread count on exit.
    The cyclic garbage collector is paused meanwhile (analysis allocates many short-lived objects;
    full collections over torch's heap would otherwise cost a third of the time on large graphs)."""
    environment = _environment_snapshot()
    recursion = sys.getrecursionlimit()
    sys.setrecursionlimit(max(recursion, _RECURSION_LIMIT))  # deeply nested models run eagerly; tracing adds frames
    numpy_rng = _numpy_rng_state()
    torch_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    py_rng = random.getstate()
    grad = torch.is_grad_enabled()
    default_dtype = torch.get_default_dtype()
    threads = torch.get_num_threads()
    try:
        with gc_paused():
            yield
    finally:
        torch.set_rng_state(torch_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        random.setstate(py_rng)
        _restore_numpy_rng(numpy_rng)
        _restore_environment(environment)  # torch sets TORCHINDUCTOR_CACHE_DIR and the like on first use
        sys.setrecursionlimit(recursion)
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(default_dtype)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _environment_snapshot() -> dict[Any, Any]:
    """The environment as ``os.environ`` stores it: its raw (encoded) table where there is one, a
    copy in about a microsecond against ~60 µs for ``dict(os.environ)``, which decodes every entry."""
    raw = getattr(os.environ, "_data", None)
    return dict(raw) if isinstance(raw, dict) else dict(os.environ)


def _restore_environment(snapshot: dict[Any, Any]) -> None:
    """Put the environment back to ``snapshot`` (from ``_environment_snapshot``) if it changed, through
    ``os.environ`` so that the C-level environment follows."""
    if _environment_snapshot() == snapshot:
        return
    key_of, value_of = getattr(os.environ, "decodekey", None), getattr(os.environ, "decodevalue", None)
    raw = isinstance(getattr(os.environ, "_data", None), dict)
    wanted = {key_of(k): value_of(v) for k, v in snapshot.items()} if raw and key_of and value_of else snapshot
    for key in set(os.environ) - set(wanted):
        del os.environ[key]
    os.environ.update(wanted)


#: Python's recursion limit during analysis (restored after): fx and the fake run add frames per module.
_RECURSION_LIMIT = 2500


def _numpy_rng_state() -> Any:
    """numpy's global RNG state, if numpy.random is already imported (numpy imports it lazily, and a
    generator never imported has no state to keep: importing it here cost 10 ms of a first analysis)."""
    random = sys.modules.get("numpy.random")
    return None if random is None else random.get_state()


def _restore_numpy_rng(state: Any) -> None:
    random = sys.modules.get("numpy.random")
    if state is not None and random is not None:
        random.set_state(state)
