"""Micro-benchmarks: timings of every op kind at several sizes, the fitted lines, the call overheads and
the synthetic reference network."""

from __future__ import annotations

import collections
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from costmodel.analyze import analyze, run_analysis
from costmodel.runtime.measure import NodeTimer, fixed_threads, sync_device


def median_seconds(fn: Callable[[], object], dev: torch.device, repeats: int, min_time: float = 0.02) -> float:
    """Median seconds per call over ``repeats`` samples, each batching enough calls to last ≳ min_time."""
    for _ in range(3):
        fn()
    sync_device(dev)
    start = time.perf_counter()
    fn()
    sync_device(dev)
    one = max(time.perf_counter() - start, 1e-7)
    inner = max(1, int(min_time / one))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        sync_device(dev)
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

        ts.append(median_seconds(call, dev, repeats))
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


def compute_lines(dev: torch.device, dtype: torch.dtype, repeats: int) -> dict[str, tuple[float, float, float]]:
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


def memory_lines(dev: torch.device, dtype: torch.dtype, repeats: int) -> dict[str, tuple[float, float]]:
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


def call_overheads(dev: torch.device, dtype: torch.dtype, repeats: int) -> dict[str, float]:
    """Fixed costs of calls on tiny tensors: a view; an nn.Module's __call__ beyond its function; each
    cat input past two; and the node timer's own cost per node (timed minus eager)."""
    tiny = torch.randn(1, 8, 4, 4, device=dev, dtype=dtype)
    row = torch.randn(1, 8, device=dev, dtype=dtype)
    relu = nn.ReLU()
    conv = nn.Conv2d(8, 8, 1).to(dev, dtype)
    norm = nn.BatchNorm2d(8).to(dev, dtype).eval()
    linear = nn.Linear(8, 8).to(dev, dtype)
    view = median_seconds(lambda: tiny.view(1, 128), dev, repeats)
    function = median_seconds(lambda: torch.relu(tiny), dev, repeats)
    module = median_seconds(lambda: relu(tiny), dev, repeats)

    def extra(module_call: Callable[[], object], function_call: Callable[[], object]) -> float:
        return max(0.0, median_seconds(module_call, dev, repeats) - median_seconds(function_call, dev, repeats))

    stats = (norm.running_mean, norm.running_var, norm.weight, norm.bias)
    two = median_seconds(lambda: torch.cat([tiny, tiny], 1), dev, repeats)
    ten = median_seconds(lambda: torch.cat([tiny] * 10, 1), dev, repeats)
    chain = _TinyChain().to(dev, dtype).eval()
    traced = run_analysis(chain, tuple(tiny.shape), dtype, fallback=False).traced  # the engine's graph
    assert traced is not None  # fallback=False: the fx walk or an error
    timer = NodeTimer(traced.real_root(), traced.graph, dev)
    for _ in range(20 * repeats):
        timer.run(tiny)
    per_node = sum(statistics.median(s) for s in timer.seconds.values())
    eager = median_seconds(lambda: chain(tiny), dev, repeats)
    return {
        "view": view,
        "module_call": max(0.0, module - function),
        "module_call_conv": extra(lambda: conv(tiny), lambda: F.conv2d(tiny, conv.weight, conv.bias)),
        "module_call_norm": extra(lambda: norm(tiny), lambda: F.batch_norm(tiny, *stats, False)),
        "module_call_linear": extra(lambda: linear(row), lambda: F.linear(row, linear.weight, linear.bias)),
        "node_timer": max(0.0, (per_node - eager) / len(timer.seconds)),
        "cat_per_input": max(0.0, (ten - two) / 8),
    }


class ContextNet(nn.Module):
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


CONTEXT_SHAPE = (1, 24, 56, 56)


def reference_seconds(device: str, dtype: torch.dtype, threads: int, repeats: int = 5) -> float:
    """Eager seconds of the synthetic ``ContextNet`` now (median of three medians): the reference
    workload against which a later run sees whether the machine has become slower or faster."""
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[]), fixed_threads(threads), torch.no_grad():  # the caller's RNG is left alone
        net = ContextNet().to(dev, dtype).eval()
        x = torch.randn(CONTEXT_SHAPE, device=dev, dtype=dtype)
        return statistics.median(median_seconds(lambda: net(x), dev, repeats) for _ in range(3))


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
