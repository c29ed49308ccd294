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

import collections
import contextlib
import datetime
import hashlib
import json
import logging
import math
import os
import platform
import statistics
import sys
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
    reference_s: float = 0.0  # eager seconds of the synthetic ``_ContextNet`` when calibrated
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
    if _created_at(cal.created) is None:
        found.append(f"creation time {cal.created!r} is not an ISO 8601 time with a time zone")
    if cal.version != CALIBRATION_VERSION:
        found.insert(0, f"calibration format {cal.version}, not {CALIBRATION_VERSION}")
    return found


#: No fitted cost or slope of a calibration line may exceed this many seconds (a corrupt file otherwise
#: turns predictions into infinities).
_MAX_SECONDS = 1e3


def _created_at(created: object) -> datetime.datetime | None:
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


def fit_plane(flops: Sequence[float], moved: Sequence[float], ts: Sequence[float]) -> tuple[float, float, float]:
    """Least squares t = a + b·flops + c·bytes minimising relative error (as ``fit_line``), with every
    coefficient ≥ 0 and b > 0: the full model if its fit is feasible, else the best feasible one
    among (a, b), (b, c) and (b) alone. A contraction's time is its compute plus the traffic its
    kernel cannot hide, which depends on shape (a stride-2 depthwise conv reads 4× what it writes)."""
    import numpy as np

    t = np.asarray(ts, dtype=float)
    columns = {"a": np.ones_like(t), "b": np.asarray(flops, dtype=float), "c": np.asarray(moved, dtype=float)}
    best: tuple[float, tuple[float, float, float]] | None = None
    for names in (("a", "b", "c"), ("a", "b"), ("b", "c"), ("b",)):
        design = np.stack([columns[n] / t for n in names], axis=1)
        coefficients, *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
        values = dict(zip(names, (float(v) for v in coefficients)))
        if any(v < 0 for v in values.values()) or values["b"] <= 0:
            continue
        error = float(np.sum((design @ coefficients - 1.0) ** 2))
        if best is None or error < best[0] - 1e-12:
            best = (error, (values.get("a", 0.0), values["b"], values.get("c", 0.0)))
    if best is None:  # degenerate timings: a pure rate through the origin
        b = float(np.sum(t * columns["b"]) / np.sum(columns["b"] ** 2))
        return 0.0, max(b, 1e-18), 0.0
    return best[1]


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


# Activation-sized tensors (channels, map size): from a late 7×7 stage to an early 112×112 one.
_MAPS = [(16, 14), (464, 7), (116, 28), (24, 112), (64, 112)]


class _Op(nn.Module):
    """One op as a module, so that the cost rules can analyse exactly what is timed."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


class _TinyChain(nn.Module):
    """A 64-node graph of tiny ops (module calls, functions, views), for the node timer's own cost: a
    one-node graph runs hot in the CPU's caches and predictors; a long one, like a network, does not."""

    def __init__(self) -> None:
        super().__init__()
        self.acts = nn.ModuleList(nn.ReLU() for _ in range(16))
        self.norms = nn.ModuleList(nn.BatchNorm2d(8) for _ in range(16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for act, norm in zip(self.acts, self.norms):
            y = norm(act(x))
            x = (x + y).view(x.shape)
        return x


def _work(fn: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor], kind: str) -> tuple[float, float]:
    """The work the cost rules assign to the ops of ``kind`` in ``fn(*inputs)``: (multiply-adds,
    bytes moved = MAC × element size)."""
    from costmodel.analyze import analyze

    report = analyze(_Op(fn), tuple(inputs), inputs[0].dtype, fallback=True)
    items = [w for row in report.layers for w in row.work if w.kind == kind]
    if not items:
        found = sorted({w.kind for row in report.layers for w in row.work})
        raise RuntimeError(f"calibration op for '{kind}' ran no op of that kind (ran {found})")
    itemsize = inputs[0].element_size()
    return float(sum(w.flops for w in items)), float(sum(w.mac for w in items) * itemsize)


def _timings(
    dev: torch.device,
    repeats: int,
    kind: str,
    cases: Sequence[tuple[Callable[..., torch.Tensor], Callable[[], list[torch.Tensor]]]],
) -> tuple[list[float], list[float], list[float]]:
    """Time ``fn(*make())`` for every case, with rotating copies of the inputs (≥ 16 MB, so that an
    op does not find its operands in cache from its previous call, as inside a network), and fit."""
    flops, moved, ts = [], [], []
    for fn, make in cases:
        sample = make()
        work = _work(fn, sample, kind)
        flops.append(work[0])
        moved.append(work[1])
        itemsize = sample[0].element_size()
        copies = max(1, _COLD_BYTES // max(1, sum(t.numel() for t in sample) * itemsize))
        pool = [sample] + [make() for _ in range(copies)]
        state = {"i": 0}
        alive: collections.deque[object] = collections.deque(maxlen=_ALIVE)

        def call(
            fn: Callable[..., torch.Tensor] = fn,
            pool: list[list[torch.Tensor]] = pool,
            state: dict[str, int] = state,
            alive: collections.deque[object] = alive,
        ) -> object:
            state["i"] = (state["i"] + 1) % len(pool)
            out = fn(*pool[state["i"]])
            alive.append(out)  # outputs live on for a few calls, as activations do in a network
            return out

        ts.append(_median_seconds(call, dev, repeats))
    return flops, moved, ts


def _fit_compute(dev: torch.device, repeats: int, kind: str, cases: Sequence[Any]) -> tuple[float, float, float]:
    """A contraction kind's (fixed s, s per multiply-add, s per byte), from its micro-benchmarks."""
    return fit_plane(*_timings(dev, repeats, kind, cases))


def _fit_memory(dev: torch.device, repeats: int, kind: str, cases: Sequence[Any]) -> tuple[float, float]:
    """A memory kind's (fixed s, s per byte moved), from its micro-benchmarks."""
    _, moved, ts = _timings(dev, repeats, kind, cases)
    return fit_line(moved, ts)


_COLD_BYTES = 16 * 1024 * 1024
#: How many earlier outputs stay alive while an op runs: in a network an op's output outlives it, so
#: the allocator cannot hand the same block straight back (fresh pages cost time to touch).
_ALIVE = 8


def _maps(
    dev: torch.device,
    dtype: torch.dtype,
    fn: Callable[..., torch.Tensor],
    extra: Callable[[int, int], list[torch.Tensor]] | None = None,
) -> list[Any]:
    """Cases of ``fn`` on each activation map of ``_MAPS`` (``extra`` adds inputs per (c, size))."""
    cases = []
    for c, size in _MAPS:

        def make(c: int = c, size: int = size) -> list[torch.Tensor]:
            x = torch.randn(1, c, size, size, device=dev, dtype=dtype)
            return [x, *(extra(c, size) if extra else [])]

        cases.append((fn, make))
    return cases


def _conv_cases(dev: torch.device, dtype: torch.dtype, shapes: Sequence[tuple[int, int, int, int, int, int]]) -> list[Any]:
    """Conv micro-benchmarks: (c_in, c_out, map size, kernel, stride, groups) each."""
    cases = []
    for c_in, c_out, size, k, stride, groups in shapes:

        def make(c_in: int = c_in, c_out: int = c_out, size: int = size, k: int = k, g: int = groups) -> list[torch.Tensor]:
            x = torch.randn(1, c_in, size, size, device=dev, dtype=dtype)
            return [x, torch.randn(c_out, c_in // g, k, k, device=dev, dtype=dtype)]

        def run(x: torch.Tensor, w: torch.Tensor, k: int = k, stride: int = stride, g: int = groups) -> torch.Tensor:
            return F.conv2d(x, w, stride=stride, padding=k // 2, groups=g)

        cases.append((run, make))
    return cases


# Conv micro-benchmarks per kind, (c_in, c_out, size, k, stride, groups): from the squeeze-excite 1x1
# convs on 1×1 maps to early full-resolution layers, strides 1 and 2, kernels 3 to 7.
_CONVS: dict[str, list[tuple[int, int, int, int, int, int]]] = {
    "dense": [
        (3, 16, 224, 3, 2, 1), (3, 64, 224, 7, 2, 1), (16, 16, 112, 3, 1, 1), (32, 32, 56, 3, 1, 1), (64, 64, 56, 3, 1, 1),
        (64, 128, 56, 3, 2, 1), (128, 128, 28, 3, 1, 1), (256, 256, 14, 3, 1, 1), (512, 512, 7, 3, 1, 1), (32, 32, 7, 3, 1, 1),
        (96, 96, 56, 4, 4, 1),
    ],
    "pointwise": [
        (16, 96, 112, 1, 1, 1), (96, 24, 56, 1, 1, 1), (24, 144, 56, 1, 1, 1), (58, 58, 56, 1, 1, 1), (116, 116, 28, 1, 1, 1),
        (232, 232, 14, 1, 1, 1), (464, 464, 7, 1, 1, 1), (64, 256, 56, 1, 1, 1), (1024, 256, 14, 1, 1, 1), (96, 24, 1, 1, 1, 1),
        (24, 96, 1, 1, 1, 1), (576, 144, 1, 1, 1, 1), (16, 16, 14, 1, 1, 1),
    ],
    "grouped_pointwise": [
        (60, 60, 56, 1, 1, 3), (240, 240, 28, 1, 1, 3), (480, 480, 14, 1, 1, 3), (272, 272, 28, 1, 1, 4), (384, 384, 14, 1, 1, 8),
        (96, 96, 7, 1, 1, 8), (24, 240, 56, 1, 1, 3),
    ],
    "grouped": [
        (48, 48, 56, 3, 1, 2), (64, 64, 56, 3, 1, 4), (128, 128, 28, 3, 1, 8), (256, 256, 14, 3, 1, 16), (512, 512, 7, 3, 1, 32),
        (96, 96, 56, 3, 2, 4),
    ],
    "depthwise": [
        (16, 16, 112, 3, 1, 16), (96, 96, 112, 3, 2, 96), (144, 144, 56, 3, 1, 144), (144, 144, 56, 5, 2, 144),
        (240, 240, 28, 5, 1, 240), (480, 480, 14, 3, 1, 480), (672, 672, 14, 5, 1, 672), (1152, 1152, 7, 5, 1, 1152),
        (960, 960, 7, 3, 1, 960), (48, 48, 56, 7, 1, 48), (384, 384, 14, 7, 1, 384), (24, 24, 112, 3, 1, 24),
    ],
}  # fmt: skip


def _compute_lines(dev: torch.device, dtype: torch.dtype, repeats: int) -> dict[str, tuple[float, float, float]]:
    """Seconds per multiply-add (and fixed seconds) of every contraction kind."""

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=dev, dtype=dtype)

    gemm = [
        (lambda a, w: F.linear(a, w), lambda r=r, n=n: [rand(r, n), rand(n, n)])
        for r, n in ((16, 256), (64, 512), (196, 384), (256, 256), (512, 512))
    ]
    attention = [
        (
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
            lambda h=h, n=n, e=e: [rand(1, h, n, e), rand(1, h, n, e), rand(1, h, n, e)],
        )
        for h, n, e in ((2, 49, 32), (4, 64, 32), (4, 197, 64), (8, 256, 64), (12, 197, 64))
    ]
    max_pool = [
        (lambda x, k=k, s=s, p=p: F.max_pool2d(x, k, s, p), lambda c=c, n=n: [rand(1, c, n, n)])
        for c, n, k, s, p in ((24, 112, 3, 2, 1), (64, 112, 3, 2, 1), (116, 28, 3, 2, 1), (16, 14, 3, 2, 1), (32, 224, 2, 2, 0),
                              (128, 56, 2, 2, 0), (256, 28, 2, 2, 0), (64, 56, 3, 1, 1), (256, 14, 3, 1, 1), (512, 14, 2, 2, 0))
    ]  # fmt: skip
    avg_pool = [
        (lambda x, k=k, s=s: F.avg_pool2d(x, k, s), lambda c=c, n=n: [rand(1, c, n, n)])
        for c, n, k, s in ((64, 56, 2, 2), (256, 28, 2, 2), (512, 14, 2, 2), (16, 14, 2, 2), (128, 56, 3, 2), (96, 28, 3, 1))
    ]
    return {
        **{kind: _fit_compute(dev, repeats, kind, _conv_cases(dev, dtype, shapes)) for kind, shapes in _CONVS.items()},
        "matmul": _fit_compute(dev, repeats, "matmul", gemm),
        "attention": _fit_compute(dev, repeats, "attention", attention),
        "max_pool": _fit_compute(dev, repeats, "max_pool", max_pool),
        "avg_pool": _fit_compute(dev, repeats, "avg_pool", avg_pool),
    }


def _memory_lines(dev: torch.device, dtype: torch.dtype, repeats: int) -> dict[str, tuple[float, float]]:
    """Seconds per byte moved (and fixed seconds) of every memory kind."""

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=dev, dtype=dtype)

    def maps(fn: Callable[..., torch.Tensor], extra: Callable[[int, int], list[torch.Tensor]] | None = None) -> list[Any]:
        return _maps(dev, dtype, fn, extra)

    def channel_vector(c: int, size: int) -> list[torch.Tensor]:
        return [rand(1, c, 1, 1)]

    def same_shape(c: int, size: int) -> list[torch.Tensor]:
        return [rand(1, c, size, size)]

    def norm_stats(c: int, size: int) -> list[torch.Tensor]:
        return [rand(c).abs() + 1, rand(c), rand(c), rand(c)]

    tokens = [
        (lambda x: F.layer_norm(x, x.shape[-1:]), lambda n=n, e=e: [rand(1, n, e)])
        for n, e in ((16, 64), (49, 768), (196, 384), (3136, 96), (784, 192))
    ]
    softmax = [
        (lambda x: torch.softmax(x, -1), lambda h=h, n=n: [rand(1, h, n, n)])
        for h, n in ((2, 16), (4, 49), (3, 196), (12, 197), (4, 256))
    ]
    gemv = [
        (lambda a, w: F.linear(a, w), lambda k=k, n=n: [rand(1, k), rand(n, k)])
        for k, n in ((64, 64), (256, 512), (576, 1000), (1024, 1000), (1280, 1000), (4096, 4096), (12544, 2048))
    ]
    lines = {
        "copy": _fit_memory(dev, repeats, "copy", maps(lambda x: x.clone())),
        "strided_copy": _fit_memory(
            dev,
            repeats,
            "strided_copy",
            maps(lambda x: x.view(1, 2, x.shape[1] // 2, x.shape[2], x.shape[3]).transpose(1, 2).contiguous()),
        ),
        "cat": _fit_memory(dev, repeats, "cat", maps(lambda x, y: torch.cat([x, y], 1), same_shape)),
        "elementwise": _fit_memory(dev, repeats, "elementwise", maps(lambda x, y: x + y, same_shape)),
        "broadcast": _fit_memory(dev, repeats, "broadcast", maps(lambda x, s: x * s, channel_vector)),
        "batch_norm": _fit_memory(
            dev, repeats, "batch_norm", maps(lambda x, v, m, w, b: F.batch_norm(x, m, v, w, b, False), norm_stats)
        ),
        "layer_norm": _fit_memory(dev, repeats, "layer_norm", tokens),
        "group_norm": _fit_memory(dev, repeats, "group_norm", maps(lambda x: F.group_norm(x, 4))),
        "softmax": _fit_memory(dev, repeats, "softmax", softmax),
        "reduce": _fit_memory(dev, repeats, "reduce", maps(lambda x: x.mean([2, 3]))),
        # output 1×1 is a mean ("reduce"); other output sizes run the adaptive pooling kernel
        "adaptive_pool": _fit_memory(dev, repeats, "adaptive_pool", maps(lambda x: F.adaptive_avg_pool2d(x, 2))),
        "resample": _fit_memory(dev, repeats, "resample", maps(lambda x: F.interpolate(x, scale_factor=2.0, mode="nearest"))),
        "gemv": _fit_memory(dev, repeats, "gemv", gemv),
    }
    activations: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "relu": torch.relu,
        "hardtanh": F.relu6,
        "hardswish": F.hardswish,
        "hardsigmoid": F.hardsigmoid,
        "silu": F.silu,
        "sigmoid": torch.sigmoid,
        "gelu": F.gelu,
        "tanh": torch.tanh,
    }
    for kind, fn in activations.items():
        lines[kind] = _fit_memory(dev, repeats, kind, maps(fn))
    return lines


def _overheads(dev: torch.device, dtype: torch.dtype, repeats: int) -> dict[str, float]:
    """Fixed costs of calls on tiny tensors: a view; an nn.Module's __call__ beyond its function; each
    cat input past two; and the node timer's own cost per node (timed minus eager)."""
    tiny = torch.randn(1, 8, 4, 4, device=dev, dtype=dtype)
    row = torch.randn(1, 8, device=dev, dtype=dtype)
    relu = nn.ReLU()
    conv = nn.Conv2d(8, 8, 1).to(dev, dtype)
    norm = nn.BatchNorm2d(8).to(dev, dtype).eval()
    linear = nn.Linear(8, 8).to(dev, dtype)
    view = _median_seconds(lambda: tiny.view(1, 128), dev, repeats)
    function = _median_seconds(lambda: torch.relu(tiny), dev, repeats)
    module = _median_seconds(lambda: relu(tiny), dev, repeats)

    def extra(module_call: Callable[[], object], function_call: Callable[[], object]) -> float:
        return max(0.0, _median_seconds(module_call, dev, repeats) - _median_seconds(function_call, dev, repeats))

    stats = (norm.running_mean, norm.running_var, norm.weight, norm.bias)
    two = _median_seconds(lambda: torch.cat([tiny, tiny], 1), dev, repeats)
    ten = _median_seconds(lambda: torch.cat([tiny] * 10, 1), dev, repeats)
    chain = _TinyChain().to(dev, dtype).eval()
    traced = trace_model(chain, tuple(tiny.shape), dtype)
    timer = _NodeTimer(traced.real_root(), traced.graph, dev)
    for _ in range(20 * repeats):
        timer.run(tiny)
    per_node = sum(statistics.median(s) for s in timer.seconds.values())
    eager = _median_seconds(lambda: chain(tiny), dev, repeats)
    return {
        "view": view,
        "module_call": max(0.0, module - function),
        "module_call_conv": extra(lambda: conv(tiny), lambda: F.conv2d(tiny, conv.weight, conv.bias)),
        "module_call_norm": extra(lambda: norm(tiny), lambda: F.batch_norm(tiny, *stats, False)),
        "module_call_linear": extra(lambda: linear(row), lambda: F.linear(row, linear.weight, linear.bias)),
        "node_timer": max(0.0, (per_node - eager) / len(timer.seconds)),
        "cat_per_input": max(0.0, (ten - two) / 8),
    }


class _ContextNet(nn.Module):
    """A synthetic network (not any model the tool judges) mixing the kinds a CNN runs, at the sizes
    of a mobile network's middle stages: what an op costs inside a network beyond its micro-benchmark
    (cold instruction and data caches, fresh allocations) is measured on it."""

    def __init__(self) -> None:
        super().__init__()
        blocks = []
        for c in (24, 48, 96, 192):
            blocks.append(
                nn.ModuleDict(
                    {
                        "expand": nn.Conv2d(c, 2 * c, 1, bias=False),
                        "bn1": nn.BatchNorm2d(2 * c),
                        "dw": nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c, bias=False),
                        "bn2": nn.BatchNorm2d(2 * c),
                        "project": nn.Conv2d(2 * c, c, 1, bias=False),
                        "bn3": nn.BatchNorm2d(c),
                        "se": nn.Conv2d(c, c, 1),
                        "widen": nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1, bias=False),
                    }
                )
            )
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            b: Any = block
            y = F.relu(b["bn1"](b["expand"](x)))
            y = F.hardswish(b["bn2"](b["dw"](y)))
            y = b["bn3"](b["project"](y))
            y = y * torch.sigmoid(b["se"](y.mean([2, 3], keepdim=True)))
            x = F.silu(x + y)
            x = b["widen"](torch.cat([x, y], 1))
        return x


_CONTEXT_SHAPE = (1, 24, 56, 56)


def reference_seconds(device: str, dtype: torch.dtype, threads: int, repeats: int = 5) -> float:
    """Eager seconds of the synthetic ``_ContextNet`` now (median of three medians): the reference
    workload against which a later run sees whether the machine has become slower or faster."""
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[]), fixed_threads(threads), torch.no_grad():  # the caller's RNG is left alone
        net = _ContextNet().to(dev, dtype).eval()
        x = torch.randn(_CONTEXT_SHAPE, device=dev, dtype=dtype)
        return statistics.median(_median_seconds(lambda: net(x), dev, repeats) for _ in range(3))


def _op_in_network(dev: torch.device, dtype: torch.dtype, threads: int, repeats: int, cal: Calibration) -> tuple[float, float]:
    """(seconds each dispatched op costs inside a network beyond its micro-benchmark, the network's
    measured seconds): (measured eager time of ``_ContextNet`` − its prediction from ``cal``) / its
    ops, never below 0."""
    from costmodel.analyze import analyze
    from costmodel.predict import model_seconds, predict

    net = _ContextNet().to(dev, dtype).eval()
    report = analyze(net, _CONTEXT_SHAPE, dtype)
    predicted = model_seconds(predict(report, cal, torch.empty((), dtype=dtype).element_size()), cal, list(net.modules()))
    ops = sum(1 for row in report.layers for w in row.work if w.kind != "view")
    measured = reference_seconds(str(dev), dtype, threads, repeats)
    return max(0.0, (measured - predicted) / max(1, ops)), measured


def run_calibration(device: str = "cpu", threads: int = 1, dtype: torch.dtype = torch.float32, repeats: int = 5) -> Calibration:
    """Measure now (about twenty seconds on a CPU): every kind's cost line and the call overheads."""
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[]), fixed_threads(threads), torch.no_grad():  # random inputs, caller's RNG kept
        compute = _compute_lines(dev, dtype, repeats)
        memory = _memory_lines(dev, dtype, repeats)
        overheads = _overheads(dev, dtype, repeats)
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
        device=_device_name(dev),
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
    unwritable = _unwritable(path.parent) or _not_a_file(path) or _not_a_file(path.with_suffix(".lock"))
    measured: Calibration | None = None
    if unwritable is None:
        try:
            with _locked(path.with_suffix(".lock")):
                if not redo:  # another process may have calibrated while this one waited for the lock
                    cal, _ = _load(path, name, threads, dtype_name)
                    if cal is not None:
                        return cal, CalibrationSource("cache", path, note)
                _announce(name, threads, dtype_name)
                measured = run_calibration(device, threads, dtype)
                _write_atomically(path, json.dumps(measured.to_dict(), indent=2))
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


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be the cache's file (it exists and is a directory or another non-file)."""
    return f"{path.name} is not a regular file" if path.exists() and not path.is_file() else None


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _announce(device: str, threads: int, dtype: str) -> None:
    """Say a calibration is starting (about ten seconds on a CPU): the CLI shows it on a terminal."""
    LOG.info("calibrating %s, %d thread(s), %s: about 20 s, once per configuration (then cached)", device, threads, dtype)


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
    """'3 h', '5 min', '2 d' since an ISO timestamp ('?' if unparsable or without a zone)."""
    then = _created_at(created)
    if then is None:
        return "?"
    seconds = (datetime.datetime.now(datetime.UTC) - then).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"
