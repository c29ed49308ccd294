"""Device calibration: micro-benchmarks of this device's compute rates, bandwidth and per-op overhead.

Fitted on micro-benchmarks only, never on the model being judged. Results are cached as JSON per
device (CPU model or GPU name), thread count, dtype and torch version in the user cache directory
(``$COSTMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/costmodel``, else ``~/.cache/costmodel``).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from costmodel.measure import _device_name, _sync, fixed_threads


@dataclass(frozen=True)
class Calibration:
    """Effective rates of one device: multiply-adds per second per op family, bytes per second, overhead."""

    device: str
    threads: int
    dtype: str
    torch_version: str
    conv_flops_per_s: float  # dense conv (3x3, 64→64 channels)
    depthwise_flops_per_s: float  # depthwise 3x3 conv
    matmul_flops_per_s: float  # square matmul / linear
    pool_flops_per_s: float  # 3x3 max pooling: window elements per second
    bytes_per_s: float  # large tensor copy: bytes read + written per second
    overhead_s: dict[str, float]  # fixed cost of one tiny op per family, as the node timer sees it

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
    """A file-safe key from what invalidates a calibration: device, threads, dtype, torch version."""
    raw = f"{device}|{threads}|{dtype}|{torch.__version__}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _median_seconds(fn: Callable[[], object], dev: torch.device, repeats: int, min_time: float = 0.02) -> float:
    fn()
    _sync(dev)
    # batch enough calls per sample that each sample lasts ≳ min_time
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


def _node_overheads(dev: torch.device, dtype: torch.dtype, repeats: int) -> dict[str, float]:
    """Per-node fixed cost per op family: tiny ops (8 channels, 4x4) timed by the same node timer
    that measures models, so interpreter and kernel-launch costs are both in."""
    from torch import nn

    from costmodel.measure import _NodeTimer
    from costmodel.trace import trace_model

    tiny_net = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.MaxPool2d(3, 1, 1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(128, 8)).eval()
    traced = trace_model(tiny_net, (1, 8, 4, 4), dtype)
    timer = _NodeTimer(traced.root.to(dev), traced.graph, dev)
    tiny = torch.randn(1, 8, 4, 4, device=dev, dtype=dtype)
    with torch.no_grad():
        for _ in range(30 * repeats):
            timer.run(tiny)
    medians = [statistics.median(v) for v in timer.seconds.values()]
    conv, norm, pool, act, view, linear = medians
    return {"conv": conv, "norm": norm, "pool": pool, "linear": linear, "activation": act,
            "elementwise": act, "views": view}


def run_calibration(device: str = "cpu", threads: int = 1, dtype: torch.dtype = torch.float32, repeats: int = 7) -> Calibration:
    """Measure the rates now (a few seconds on a CPU): dense conv, depthwise conv, matmul, max pool, copy,
    and the per-node overhead of each op family."""
    dev = torch.device(device)
    opts = {"device": dev, "dtype": dtype}
    with fixed_threads(threads), torch.no_grad():
        x = torch.randn(1, 64, 56, 56, **opts)
        wt = torch.randn(64, 64, 3, 3, **opts)
        conv_flops = 56 * 56 * 64 * 64 * 9
        t_conv = _median_seconds(lambda: F.conv2d(x, wt, padding=1), dev, repeats)
        xd = torch.randn(1, 128, 56, 56, **opts)
        wd = torch.randn(128, 1, 3, 3, **opts)
        dw_flops = 56 * 56 * 128 * 9
        t_dw = _median_seconds(lambda: F.conv2d(xd, wd, padding=1, groups=128), dev, repeats)
        a = torch.randn(512, 512, **opts)
        b = torch.randn(512, 512, **opts)
        t_mm = _median_seconds(lambda: a @ b, dev, repeats)
        big = torch.randn(8 * 1024 * 1024, **opts)  # 32 MB in float32: beyond the caches
        out = torch.empty_like(big)
        t_copy = _median_seconds(lambda: out.copy_(big), dev, repeats)
        xp = torch.randn(1, 64, 112, 112, **opts)
        pool_flops = 64 * 56 * 56 * 9
        t_pool = _median_seconds(lambda: F.max_pool2d(xp, 3, 2, 1), dev, repeats)
        overheads = _node_overheads(dev, dtype, repeats)
    itemsize = torch.empty((), dtype=dtype).element_size()
    return Calibration(
        device=_device_name(dev),
        threads=threads,
        dtype=str(dtype).removeprefix("torch."),
        torch_version=torch.__version__,
        conv_flops_per_s=conv_flops / t_conv,
        depthwise_flops_per_s=dw_flops / t_dw,
        matmul_flops_per_s=512**3 / t_mm,
        pool_flops_per_s=pool_flops / t_pool,
        bytes_per_s=2 * big.numel() * itemsize / t_copy,
        overhead_s=overheads,
    )


def calibrate(
    device: str = "cpu", threads: int = 1, dtype: torch.dtype = torch.float32, *, redo: bool = False
) -> tuple[Calibration, bool]:
    """The cached calibration for this device/threads/dtype/torch, or a fresh one (``redo`` forces it).

    Returns (calibration, came_from_cache).
    """
    dev = torch.device(device)
    name = _device_name(dev)
    dtype_name = str(dtype).removeprefix("torch.")
    path = cache_dir() / f"calibration-{cache_key(name, threads, dtype_name)}.json"
    if not redo and path.is_file():
        try:
            data = json.loads(path.read_text())
            cal = Calibration(**data)
            if (cal.device, cal.threads, cal.dtype, cal.torch_version) == (name, threads, dtype_name, torch.__version__):
                return cal, True
        except (ValueError, TypeError):
            pass  # a corrupt or old cache file: measure again
    cal = run_calibration(device, threads, dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cal.to_dict(), indent=2))
    return cal, False
