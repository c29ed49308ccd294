"""Device calibration: micro-benchmarks of this device's per-kind op costs and call overheads.

Fitted on micro-benchmarks only, never on the model being judged. Results are cached as JSON per
device (CPU model or GPU name), thread count, dtype and torch version in the user cache directory
(``$COSTMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/costmodel``, else ``~/.cache/costmodel``).

Every op kind the cost rules name gets its own cost line, time = fixed cost + work × unit cost, fitted
to timings of that op at several sizes: per multiply-add for contractions (a dense 3x3 conv, a 1x1, a
grouped 1x1, a depthwise conv, GEMM, attention and window pooling run at very different rates), per
byte moved for everything else (each common activation on its own — ReLU is a compare, SiLU/GELU an
exp or erf per element —, same-shape and broadcast element-wise ops, each norm, softmax, reductions,
adaptive pooling, resampling, GEMV, plain and strided copies, concatenation). The work of each
micro-benchmark is what the cost rules say it is (the op is analysed, not described by hand), so the
fitted slope absorbs the rules' conventions. Fixed costs of calls are measured too: a view, an
nn.Module's ``__call__``, each extra input of a ``cat``, and the node-by-node timer's own cost.
"""

from __future__ import annotations

import datetime
import json
import logging
import platform

import torch

from costmodel.runtime.calibration import Calibration, CalibrationSource
from costmodel.runtime.calibration_cache import (
    cache_dir,
    cache_key,
    load_cached,
    locked,
    not_a_file,
    unwritable_reason,
    write_atomically,
)
from costmodel.runtime.measure import device_name, fixed_threads
from costmodel.runtime.microbench import CONTEXT_SHAPE, ContextNet, call_overheads, compute_lines, memory_lines, reference_seconds


def _op_in_network(dev: torch.device, dtype: torch.dtype, threads: int, repeats: int, cal: Calibration) -> tuple[float, float]:
    """(seconds each dispatched op costs inside a network beyond its micro-benchmark, the network's
    measured seconds): (measured eager time of ``ContextNet`` − its prediction from ``cal``) / its
    ops, never below 0."""
    from costmodel.analyze import analyze
    from costmodel.runtime.predict import model_seconds, predict

    net = ContextNet().to(dev, dtype).eval()
    report = analyze(net, CONTEXT_SHAPE, dtype)
    predicted = model_seconds(predict(report, cal, torch.empty((), dtype=dtype).element_size()), cal, list(net.modules()))
    ops = sum(1 for row in report.layers for w in row.work if w.kind != "view")
    measured = reference_seconds(str(dev), dtype, threads, repeats)
    return max(0.0, (measured - predicted) / max(1, ops)), measured


def run_calibration(device: str = "cpu", threads: int = 1, dtype: torch.dtype = torch.float32, repeats: int = 5) -> Calibration:
    """Measure now (about twenty seconds on a CPU): every kind's cost line and the call overheads."""
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[]), fixed_threads(threads), torch.no_grad():  # random inputs, caller's RNG kept
        compute = compute_lines(dev, dtype, repeats)
        memory = memory_lines(dev, dtype, repeats)
        overheads = call_overheads(dev, dtype, repeats)
        provisional = _calibration(dev, threads, dtype, compute, memory, {**overheads, "op_in_network": 0.0}, 0.0)
        overheads["op_in_network"], reference = _op_in_network(dev, dtype, threads, repeats, provisional)
    return _calibration(dev, threads, dtype, compute, memory, overheads, reference)


def _calibration(
    dev: torch.device,
    threads: int,
    dtype: torch.dtype,
    compute: dict[str, tuple[float, float, float]],
    memory: dict[str, tuple[float, float]],
    overheads: dict[str, float],
    reference: float,
) -> Calibration:
    """A Calibration of these lines and overheads, stamped with this device, host, torch and time."""
    return Calibration(
        device=device_name(dev),
        threads=threads,
        dtype=str(dtype).removeprefix("torch."),
        torch_version=torch.__version__,
        host=platform.node(),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        compute=compute,
        memory=memory,
        overhead_s=overheads,
        reference_s=reference,
    )


#: Calibrations measured in this process when the cache directory cannot be written, by key.
_IN_MEMORY: dict[str, Calibration] = {}


def calibrate(
    device: str = "cpu", threads: int = 1, dtype: torch.dtype = torch.float32, *, redo: bool = False
) -> tuple[Calibration, CalibrationSource]:
    """The cached calibration for this host/device/threads/dtype/torch, or a fresh one (``redo`` forces it).

    A cache file is validated on load (``problems``); an invalid one is measured again, with the reason
    in the source's ``note``. Measuring and writing happen under a file lock, the file is replaced
    atomically, and a run that waited for another to calibrate reads its result instead of measuring
    again. A cache directory that cannot be written is detected before measuring: the calibration is
    then kept in memory for this process, with a note.
    """
    dev = torch.device(device)
    name = device_name(dev)
    dtype_name = str(dtype).removeprefix("torch.")
    key = cache_key(name, threads, dtype_name)
    path = cache_dir() / f"calibration-{key}.json"
    note = None
    if not redo:
        cal, note = load_cached(path, name, threads, dtype_name)
        if cal is not None:
            return cal, CalibrationSource("cache", path)
    unwritable = unwritable_reason(path.parent) or not_a_file(path) or not_a_file(path.with_suffix(".lock"))
    measured: Calibration | None = None
    if unwritable is None:
        try:
            with locked(path.with_suffix(".lock")):
                if not redo:  # another process may have calibrated while this one waited for the lock
                    cal, _ = load_cached(path, name, threads, dtype_name)
                    if cal is not None:
                        return cal, CalibrationSource("cache", path, note)
                _announce(name, threads, dtype_name)
                measured = run_calibration(device, threads, dtype)
                write_atomically(path, json.dumps(measured.to_dict(), indent=2))
            return measured, CalibrationSource("measured", path, note)
        except OSError as exc:  # a read-only lock, a full disk: keep what was measured, in memory
            unwritable = exc.strerror or type(exc).__name__
            if measured is not None:
                _IN_MEMORY[key] = measured
    memo = _IN_MEMORY.get(key)
    if memo is None or (redo and measured is None):
        _announce(name, threads, dtype_name)
        memo = _IN_MEMORY[key] = run_calibration(device, threads, dtype)
    reason = f"cannot write the calibration cache in {path.parent} ({unwritable}): using an in-memory calibration"
    return memo, CalibrationSource("memory", None, reason if note is None else f"{note}; {reason}")


def _announce(device: str, threads: int, dtype: str) -> None:
    """Say a calibration is starting (about ten seconds on a CPU): the CLI shows it on a terminal."""
    LOG.info("calibrating %s, %d thread(s), %s: about 20 s, once per configuration (then cached)", device, threads, dtype)


#: The library's log: the CLI prints its INFO records on a terminal (``cli.main``), nowhere else.
LOG = logging.getLogger("costmodel")
