"""A device calibration: the data type (fitted cost lines and call overheads), its validation, and where
it came from."""

from __future__ import annotations

import datetime
import math
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

#: Contraction kinds: lines in seconds per multiply-add (with a memory floor at copy bandwidth).
COMPUTE_KINDS = ("dense", "grouped", "pointwise", "grouped_pointwise", "depthwise", "matmul", "attention", "max_pool", "avg_pool")


#: Memory kinds: lines in seconds per byte moved (MAC × element size).
MEMORY_KINDS = (
    "copy", "strided_copy", "cat", "elementwise", "broadcast", "batch_norm", "layer_norm", "group_norm",
    "softmax", "reduce", "adaptive_pool", "resample", "gemv",
    "relu", "hardtanh", "hardswish", "hardsigmoid", "silu", "sigmoid", "gelu", "tanh",
)  # fmt: skip


#: Fixed costs of calls, in seconds.
OVERHEADS = (
    "op_in_network",
    "view",
    "module_call",
    "module_call_conv",
    "module_call_norm",
    "module_call_linear",
    "node_timer",
    "cat_per_input",
)


#: Bumped whenever the calibration's content changes meaning: older cache files are measured again.
CALIBRATION_VERSION = 8


@dataclass(frozen=True)
class Calibration:
    """Fitted cost lines and call overheads of one device, thread count, dtype and torch version.

    ``compute[kind]`` is (fixed seconds, seconds per multiply-add, seconds per byte moved) and
    ``memory[kind]`` (fixed seconds, seconds per byte moved), fitted by least squares (relative
    error) to micro-benchmarks at many sizes: ``COMPUTE_KINDS`` are contractions, ``MEMORY_KINDS`` the
    rest. ``overhead_s``: a view op's dispatch, the
    extra of calling an nn.Module rather than its function, each ``cat`` input past two, and what the
    node-by-node timer adds to every node it times.
    """

    device: str
    threads: int
    dtype: str
    torch_version: str
    host: str  # the machine it was measured on
    created: str  # when, ISO 8601 UTC
    compute: dict[str, tuple[float, float, float]]
    memory: dict[str, tuple[float, float]]
    overhead_s: dict[str, float]
    reference_s: float = 0.0  # eager seconds of the synthetic ``ContextNet`` when calibrated
    version: int = CALIBRATION_VERSION

    @property
    def dense_flops_per_s(self) -> float:
        """Dense 3x3 conv throughput (multiply-adds per second), the FLOPs-only predictor's rate."""
        return 1.0 / self.compute["dense"][1]

    @property
    def bytes_per_s(self) -> float:
        """Copy bandwidth (bytes read + written per second), the MAC-only predictor's rate."""
        return 1.0 / self.memory["copy"][1]

    def to_dict(self) -> dict[str, object]:
        """JSON form (also the cache file's content)."""
        return asdict(self)


def problems(cal: Calibration, device: str, threads: int, dtype: str) -> list[str]:
    """Why ``cal`` cannot be trusted for this device/threads/dtype on this host and torch (empty: it can):
    every line present with finite numbers, a positive slope and a non-negative fixed cost; every
    overhead finite and non-negative; measured here, for this configuration."""
    found = []
    wanted = (platform.node(), device, threads, dtype, torch.__version__)
    have = (cal.host, cal.device, cal.threads, cal.dtype, cal.torch_version)
    for label, want, got in zip(("host", "device", "threads", "dtype", "torch"), wanted, have):
        if want != got:
            found.append(f"measured for {label} {got!r}, not {want!r}")
    for table, names, size in ((cal.compute, COMPUTE_KINDS, 3), (cal.memory, MEMORY_KINDS, 2)):
        for name in names:
            line: Any = table.get(name) if isinstance(table, dict) else None
            if not isinstance(line, (tuple, list)) or len(line) != size or not all(_is_number(v) for v in line):
                found.append(f"line '{name}' is not {size} numbers: {line!r}")
            elif not (all(math.isfinite(v) and 0 <= v <= _MAX_SECONDS for v in line) and line[1] >= sys.float_info.min):
                bounds = f"finite costs in [0, {_MAX_SECONDS:g}] s and a normal positive rate"
                found.append(f"line '{name}' = {tuple(line)} needs {bounds}")
    for name in OVERHEADS:
        value: Any = cal.overhead_s.get(name) if isinstance(cal.overhead_s, dict) else None
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            found.append(f"overhead '{name}' = {value!r} is not a finite time ≥ 0")
    if not (_is_number(cal.reference_s) and math.isfinite(cal.reference_s) and cal.reference_s > 0):
        found.append(f"reference time {cal.reference_s!r} is not a positive number of seconds")
    if created_at(cal.created) is None:
        found.append(f"creation time {cal.created!r} is not an ISO 8601 time with a time zone")
    if cal.version != CALIBRATION_VERSION:
        found.insert(0, f"calibration format {cal.version}, not {CALIBRATION_VERSION}")
    return found


#: No fitted cost or slope of a calibration line may exceed this many seconds (a corrupt file otherwise
#: turns predictions into infinities).
_MAX_SECONDS = 1e3


def created_at(created: object) -> datetime.datetime | None:
    """The creation time as an aware datetime, or None if it is not an ISO 8601 string with a zone."""
    if not isinstance(created, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(created)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class CalibrationSource:
    """Where a calibration came from: ``origin`` "cache" (read from ``path``), "measured" (now, saved
    to ``path``) or "memory" (measured in this process; the cache directory is not writable); ``note``
    says why a cache file was not used or could not be written."""

    origin: str
    path: Path | None
    note: str | None = None

    def describe(self, cal: Calibration) -> str:
        """'cached 3 h ago in <path> (host, created)' or 'measured now …', one line."""
        where = f" ({self.path})" if self.path else ""
        if self.origin == "cache":
            return f"calibration cached {_age(cal.created)} ago on {cal.host}{where}"
        if self.origin == "memory":
            return "calibration measured now, kept in memory (cache not writable)"
        return f"calibration measured now{where}"


def _age(created: str) -> str:
    """'3 h', '5 min', '2 d' since an ISO timestamp ('?' if unparsable or without a zone)."""
    then = created_at(created)
    if then is None:
        return "?"
    seconds = (datetime.datetime.now(datetime.UTC) - then).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"
