"""Orders between calibrated rates that hold on ordinary CPUs but are timings, so they live here rather
than in the unit tests (a loaded machine can invert a timing order; a unit test must not flake on it).

Each check is measured over --runs fresh calibrations (nothing cached: a private cache directory) and
printed with the median ratio, its min–max spread and how many runs held:
  a 3x3 depthwise conv does fewer multiply-adds per second than a dense one (ratio ≥ 2 expected);
  SiLU (an exponential per element) moves fewer bytes per second than ReLU (ratio > 1 expected).

    python benchmarks/calibration_orders.py [--runs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from costmodel import analyze  # noqa: E402
from costmodel.runtime.calibrate import calibrate
from costmodel.runtime.predict import op_seconds


def _per_multiply_add(cal: object, conv: nn.Conv2d, shape: tuple[int, ...]) -> float:
    (work,) = analyze(conv, shape).layers[0].work
    return op_seconds(work, cal, 4)[0] / work.flops  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    depthwise_vs_dense: list[float] = []
    silu_vs_relu: list[float] = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["COSTMODEL_CACHE_DIR"] = cache
        for _ in range(args.runs):
            cal, _ = calibrate("cpu", args.threads, redo=True)
            depthwise = _per_multiply_add(cal, nn.Conv2d(232, 232, 3, padding=1, groups=232, bias=False), (1, 232, 14, 14))
            dense = _per_multiply_add(cal, nn.Conv2d(128, 128, 3, padding=1, bias=False), (1, 128, 28, 28))
            depthwise_vs_dense.append(depthwise / dense)
            silu_vs_relu.append(cal.memory["silu"][1] / cal.memory["relu"][1])
    for label, ratios, target in (
        ("depthwise / dense seconds per multiply-add", depthwise_vs_dense, 2.0),
        ("SiLU / ReLU seconds per byte", silu_vs_relu, 1.0),
    ):
        held = sum(r > target for r in ratios)
        verdict = "PASS" if held == len(ratios) else "FAIL"
        print(
            f"{label}: median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}) "
            f"over {len(ratios)} runs, > {target:g} in {held}: {verdict}"
        )


if __name__ == "__main__":
    main()
