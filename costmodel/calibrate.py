"""Device calibration: micro-benchmarks of this device's compute rates, bandwidth and per-op overhead.

Fitted on micro-benchmarks only, never on the model being judged. Results are cached as JSON per
device (CPU model or GPU name), thread count, dtype and torch version in the user cache directory
(``$COSTMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/costmodel``, else ``~/.cache/costmodel``).

Each kind of op gets its own cost line, time = fixed cost + work × unit cost, fitted to timings at
several sizes (a dense 3x3 conv, a 1x1, a grouped 1x1 and a depthwise conv run at very different
rates, and small ops are dominated by their fixed cost). Overheads of tiny ops are measured both as
the node-by-node timer sees them (per-layer predictions) and as eager calls (whole model).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from costmodel.measure import _device_name, _NodeTimer, _sync, fixed_threads
from costmodel.trace import trace_model

#: Families whose tiny-op overhead is calibrated; others fall back to "views".
FAMILIES = ("conv", "norm", "pool", "linear", "activation", "elementwise", "views")


@dataclass(frozen=True)
class Calibration:
    """Fitted cost lines and overheads of one device, thread count, dtype and torch version.

    ``compute[kind]`` and ``memory[family]`` are (intercept seconds, seconds per unit) lines fitted by
    least squares to micro-benchmarks at several sizes: per multiply-add for compute kinds (dense,
    pointwise, grouped_pointwise, depthwise conv, matmul, window_pool), per byte moved for memory families
    (norm, activation, elementwise, copy, pool). The intercept is the op's fixed cost in an eager call.
    """

    device: str
    threads: int
    dtype: str
    torch_version: str
    host: str  # the machine it was measured on
    created: str  # when, ISO 8601 UTC
    compute: dict[str, tuple[float, float]]
    memory: dict[str, tuple[float, float]]
    node_overhead_s: dict[str, float]  # per family, one tiny op timed by the node timer
    eager_overhead_s: dict[str, float]  # per family, one tiny op called eagerly

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


COMPUTE_KINDS = ("dense", "pointwise", "grouped_pointwise", "depthwise", "matmul", "window_pool")
MEMORY_FAMILIES = ("norm", "activation", "elementwise", "copy", "pool")


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
    for table, names in ((cal.compute, COMPUTE_KINDS), (cal.memory, MEMORY_FAMILIES)):
        for name in names:
            line: Any = table.get(name) if isinstance(table, dict) else None
            if not isinstance(line, (tuple, list)) or len(line) != 2 or not all(_is_number(v) for v in line):
                found.append(f"line '{name}' is not two numbers: {line!r}")
            elif not (math.isfinite(line[0]) and math.isfinite(line[1]) and line[1] > 0 and line[0] >= 0):
                found.append(f"line '{name}' = {tuple(line)} needs a finite fixed cost ≥ 0 and slope > 0")
    overheads: tuple[tuple[str, Any], ...] = (("node overhead", cal.node_overhead_s), ("eager overhead", cal.eager_overhead_s))
    for label, times in overheads:
        for family in FAMILIES:
            value: Any = times.get(family) if isinstance(times, dict) else None
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                found.append(f"{label} '{family}' = {value!r} is not a finite time ≥ 0")
    return found


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _median_seconds(fn: Callable[[], object], dev: torch.device, repeats: int, min_time: float = 0.02) -> float:
    """Median seconds per call over ``repeats`` samples, each batching enough calls to last ≳ min_time."""
    for _ in range(3):
        fn()
    _sync(dev)
    start = time.perf_counter()
    fn()
    _sync(dev)
    one = max(time.perf_counter() - start, 1e-7)
    inner = max(1, int(min_time / one))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(dev)
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def fit_line(xs: Sequence[float], ts: Sequence[float]) -> tuple[float, float]:
    """Weighted least squares t = a + b·x minimising Σ((a + b·x − t)/t)², i.e. relative error, so the
    small ops (dominated by a) count as much as the large ones (dominated by b). Falls back to a line
    through the origin if a would be negative or b not positive."""
    w = [1.0 / (t * t) for t in ts]
    s0 = sum(w)
    sx = sum(wi * x for wi, x in zip(w, xs))
    sxx = sum(wi * x * x for wi, x in zip(w, xs))
    st = sum(wi * t for wi, t in zip(w, ts))
    sxt = sum(wi * x * t for wi, x, t in zip(w, xs, ts))
    det = s0 * sxx - sx * sx
    b = (s0 * sxt - sx * st) / det if det else 0.0
    a = (st - b * sx) / s0
    if a < 0 or b <= 0:
        a, b = 0.0, sxt / sxx
    return a, b


def _rotating(make: Callable[[], torch.Tensor], element_bytes: int) -> Callable[[], torch.Tensor]:
    """Copies of a tensor, handed out in turn: ≥ 16 MB of them (≥ 2 copies), so that, as inside a
    network, an op does not find its operands left in cache by its previous call."""
    first = make()
    copies = [first] + [make() for _ in range(max(1, _COLD_BYTES // max(1, first.numel() * element_bytes)))]
    state = {"i": 0}

    def next_copy() -> torch.Tensor:
        state["i"] = (state["i"] + 1) % len(copies)
        return copies[state["i"]]

    return next_copy


_COLD_BYTES = 16 * 1024 * 1024


def _conv_line(
    dev: torch.device, dtype: torch.dtype, repeats: int, k: int, shapes: list[tuple[int, int]], groups_of: Callable[[int], int]
) -> tuple[float, float]:
    itemsize = torch.empty((), dtype=dtype).element_size()
    xs, ts = [], []
    for c, size in shapes:
        g = groups_of(c)
        x = _rotating(lambda: torch.randn(1, c, size, size, device=dev, dtype=dtype), itemsize)  # noqa: B023
        w = _rotating(lambda: torch.randn(c, c // g, k, k, device=dev, dtype=dtype), itemsize)  # noqa: B023
        xs.append(size * size * c * (c // g) * k * k)
        ts.append(_median_seconds(lambda: F.conv2d(x(), w(), padding=k // 2, groups=g), dev, repeats))  # noqa: B023
    return fit_line(xs, ts)


def _memory_line(
    dev: torch.device,
    dtype: torch.dtype,
    repeats: int,
    op: Callable[[torch.Tensor], object],
    bytes_moved: Callable[[torch.Tensor], int],
) -> tuple[float, float]:
    itemsize = torch.empty((), dtype=dtype).element_size()
    xs, ts = [], []
    for c, size in ((24, 112), (58, 56), (116, 28), (232, 14), (464, 7), (256, 56)):
        x = _rotating(lambda: torch.randn(1, c, size, size, device=dev, dtype=dtype), itemsize)  # noqa: B023
        xs.append(bytes_moved(x()))
        ts.append(_median_seconds(lambda: op(x()), dev, repeats))  # noqa: B023
    return fit_line(xs, ts)


# Micro-benchmark shapes (channels, map size): the ranges mobile networks and ResNets use.
_DENSE = [(16, 112), (32, 56), (64, 56), (128, 28), (256, 14), (512, 7)]
_POINTWISE = [(24, 112), (58, 56), (116, 28), (232, 14), (464, 7), (256, 56)]
_GROUPED = [(60, 56), (120, 28), (240, 28), (480, 14), (960, 7)]
_DEPTHWISE = [(24, 112), (58, 56), (116, 28), (232, 14), (464, 7), (960, 7)]


def _lines(
    dev: torch.device, dtype: torch.dtype, repeats: int
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Compute lines per kind and memory lines per family, fitted to micro-benchmarks."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    compute: dict[str, tuple[float, float]] = {
        "dense": _conv_line(dev, dtype, repeats, 3, _DENSE, lambda c: 1),
        "pointwise": _conv_line(dev, dtype, repeats, 1, _POINTWISE, lambda c: 1),
        "grouped_pointwise": _conv_line(dev, dtype, repeats, 1, _GROUPED, lambda c: 3 if c % 3 == 0 else 4),
        "depthwise": _conv_line(dev, dtype, repeats, 3, _DEPTHWISE, lambda c: c),
    }
    mm_x, mm_t = [], []
    for rows, width in ((1, 1024), (8, 512), (64, 512), (256, 256), (512, 512)):
        a = torch.randn(rows, width, device=dev, dtype=dtype)
        w = torch.randn(width, width, device=dev, dtype=dtype)
        mm_x.append(rows * width * width)
        mm_t.append(_median_seconds(lambda: F.linear(a, w), dev, repeats))  # noqa: B023
    compute["matmul"] = fit_line(mm_x, mm_t)
    pool_x, pool_t = [], []
    for c, size in ((24, 112), (64, 112), (116, 28), (256, 56)):
        x = _rotating(lambda: torch.randn(1, c, size, size, device=dev, dtype=dtype), itemsize)  # noqa: B023
        pool_x.append(c * (size // 2) ** 2 * 9)
        pool_t.append(_median_seconds(lambda: F.max_pool2d(x(), 3, 2, 1), dev, repeats))  # noqa: B023
    compute["window_pool"] = fit_line(pool_x, pool_t)

    def in_out(x: torch.Tensor) -> int:
        return 2 * x.numel() * itemsize

    c_max = 464
    bn_w = torch.ones(c_max, device=dev, dtype=dtype)
    memory = {
        "norm": _memory_line(
            dev,
            dtype,
            repeats,
            lambda x: F.batch_norm(x, bn_w[: x.shape[1]], bn_w[: x.shape[1]], bn_w[: x.shape[1]], bn_w[: x.shape[1]], False),
            in_out,
        ),
        "activation": _memory_line(dev, dtype, repeats, torch.relu, in_out),
        "elementwise": _memory_line(dev, dtype, repeats, lambda x: x + x, lambda x: 3 * x.numel() * itemsize),
        "copy": _memory_line(dev, dtype, repeats, lambda x: x.transpose(2, 3).contiguous(), in_out),
        "pool": _memory_line(dev, dtype, repeats, lambda x: x.mean([2, 3]), lambda x: x.numel() * itemsize),
    }
    return compute, memory


class _TinyNet(nn.Module):
    """One tiny op of every family, in the order of FAMILIES."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)
        self.norm = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, 1, 1)
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.norm(self.conv(x)))
        y = self.fc(y.mean([2, 3]).view(1, 8))
        return self.act(y) + y


def _overheads(dev: torch.device, dtype: torch.dtype, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per-family fixed costs of tiny ops: through the node timer, and as eager calls."""
    net = _TinyNet().to(dev, dtype).eval()
    x = torch.randn(1, 8, 4, 4, device=dev, dtype=dtype)
    traced = trace_model(net, tuple(x.shape), dtype)
    timer = _NodeTimer(traced.real_root(), traced.graph, dev)
    with torch.no_grad():
        for _ in range(40 * repeats):
            timer.run(x)
    node = {name: statistics.median(v) for name, v in timer.seconds.items()}
    node_family = {
        "conv": node["conv"],
        "norm": node["norm"],
        "pool": node["pool"],
        "linear": node["fc"],
        "activation": node["act"],
        "elementwise": node["add"],
        "views": node["view"],
    }
    y = torch.randn(1, 8, device=dev, dtype=dtype)
    z = torch.randn(1, 8, 4, 4, device=dev, dtype=dtype)
    with torch.no_grad():
        eager = {
            "conv": _median_seconds(lambda: net.conv(x), dev, repeats),
            "norm": _median_seconds(lambda: net.norm(z), dev, repeats),
            "pool": _median_seconds(lambda: net.pool(z), dev, repeats),
            "linear": _median_seconds(lambda: net.fc(y), dev, repeats),
            "activation": _median_seconds(lambda: net.act(y), dev, repeats),
            "elementwise": _median_seconds(lambda: y + y, dev, repeats),
            "views": _median_seconds(lambda: z.view(1, 128), dev, repeats),
        }
    return node_family, eager


def run_calibration(device: str = "cpu", threads: int = 1, dtype: torch.dtype = torch.float32, repeats: int = 5) -> Calibration:
    """Measure now (about ten seconds on a CPU): fitted compute and memory lines, tiny-op overheads."""
    dev = torch.device(device)
    with fixed_threads(threads), torch.no_grad():
        compute, memory = _lines(dev, dtype, repeats)
        node_overhead, eager_overhead = _overheads(dev, dtype, repeats)
    return Calibration(
        device=_device_name(dev),
        threads=threads,
        dtype=str(dtype).removeprefix("torch."),
        torch_version=torch.__version__,
        host=platform.node(),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        compute=compute,
        memory=memory,
        node_overhead_s=node_overhead,
        eager_overhead_s=eager_overhead,
    )


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
    name = _device_name(dev)
    dtype_name = str(dtype).removeprefix("torch.")
    key = cache_key(name, threads, dtype_name)
    path = cache_dir() / f"calibration-{key}.json"
    note = None
    if not redo:
        cal, note = _load(path, name, threads, dtype_name)
        if cal is not None:
            return cal, CalibrationSource("cache", path)
    unwritable = _unwritable(path.parent)
    if unwritable is not None:
        memo = _IN_MEMORY.get(key)
        if memo is None or redo:
            _announce(name, threads, dtype_name)
            memo = _IN_MEMORY[key] = run_calibration(device, threads, dtype)
        reason = f"cannot write the calibration cache in {path.parent} ({unwritable}): using an in-memory calibration"
        return memo, CalibrationSource("memory", None, reason if note is None else f"{note}; {reason}")
    with _locked(path.with_suffix(".lock")):
        if not redo:  # another process may have calibrated while this one waited for the lock
            cal, _ = _load(path, name, threads, dtype_name)
            if cal is not None:
                return cal, CalibrationSource("cache", path, note)
        _announce(name, threads, dtype_name)
        cal = run_calibration(device, threads, dtype)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(cal.to_dict(), indent=2))
        os.replace(temporary, path)
    return cal, CalibrationSource("measured", path, note)


def _announce(device: str, threads: int, dtype: str) -> None:
    """Say a calibration is starting (about ten seconds on a CPU): the CLI shows it on a terminal."""
    LOG.info("calibrating %s, %d thread(s), %s: about 10 s, once per configuration (then cached)", device, threads, dtype)


#: The library's log: the CLI prints its INFO records on a terminal (``cli.main``), nowhere else.
LOG = logging.getLogger("costmodel")


def _load(path: Path, device: str, threads: int, dtype: str) -> tuple[Calibration | None, str | None]:
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


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (created if missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None if os.access(folder, os.W_OK) else "permission denied"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
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


def _age(created: str) -> str:
    """'3 h', '5 min', '2 d' since an ISO timestamp ('?' if unparsable)."""
    try:
        then = datetime.datetime.fromisoformat(created)
    except ValueError:
        return "?"
    seconds = (datetime.datetime.now(datetime.UTC) - then).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"
