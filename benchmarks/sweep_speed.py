"""Sweep speed: candidates per second on 1,000 ShuffleNet V2-like candidates (the zoo's design space:
width × split × depth per stage), serial vs a local process pool vs local Ray, all in this run; scaling
with workers; where a candidate's time goes (model construction vs analysis, lint and bookkeeping); and a
resolution axis, analysed at every size vs scaled by one formula per architecture.

Each configuration runs --repeats times (medians, spread min–max); every run's rows are checked equal to
the serial run's (figures, not timings). Analyses run on one thread per worker.

Targets (issue "Design-space sweeps"): the pool and Ray faster than serial (ratio printed), identical rows.

    python benchmarks/sweep_speed.py [--candidates 1000] [--repeats 1] [--workers 1,2] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from costmodel.sweeps.run import sweep  # noqa: E402
from costmodel.sweeps.space import space_of  # noqa: E402

GRID = [
    "width=0.5,0.75,1.0,1.25,1.5,1.75,2.0,2.5",
    "split=0.25,0.375,0.5,0.625,0.75",
    "depth=" + ",".join(f"[{a},{b},{c}]" for a in (2, 3, 4) for b in (4, 6, 8) for c in (2, 3, 4)),
]
FIGURES = ("index", "values", "status", "flops", "mac", "params", "findings", "front")


def figures(result: Any) -> list[tuple[Any, ...]]:
    return [tuple(getattr(r, k) for k in FIGURES) for r in result]


def run(label: str, repeats: int, reference: list[tuple[Any, ...]] | None, **options: Any) -> tuple[list[float], Any]:
    """Seconds of ``repeats`` sweeps with these options, and the last result (rows checked against ``reference``)."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = sweep("shufflenet_v2", **options)
        seconds.append(time.perf_counter() - start)
        if reference is not None and figures(result) != reference:
            raise SystemExit(f"FAIL {label}: rows differ from the serial run")
    return seconds, result


def line(label: str, seconds: list[float], count: int, serial: float | None) -> str:
    median = statistics.median(seconds)
    spread = f"{min(seconds):.1f}–{max(seconds):.1f} s"
    ratio = f"{serial / median:5.2f}x serial" if serial else "   (baseline)"
    return f"{label:<28} {median:7.1f} s  ({spread})  {count / median:7.1f} candidates/s  {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 1}")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = space_of(GRID)
    n = min(args.candidates, space.size)
    common: dict[str, Any] = {"grid": space, "inputs": (1, 3, 224, 224), "random": n, "seed": 0}
    print(f"design space: {' × '.join(f'{a.name} ({len(a.values)})' for a in space.axes)} = {space.size}; sweeping {n}")
    print(f"host: {os.cpu_count()} cores, torch {torch.__version__}, 1 thread per worker\n")
    serial_s, serial = run("serial", args.repeats, None, workers=1, **common)
    reference = figures(serial)
    base = statistics.median(serial_s)
    print(line("serial (this process)", serial_s, n, None))
    for workers in sorted({int(w) for w in args.workers.split(",")} - {1}):
        seconds, _ = run(f"pool {workers}", args.repeats, reference, workers=workers, **common)
        print(line(f"local pool, {workers} workers", seconds, n, base))
    if not args.no_ray:
        try:
            import ray
        except ImportError:
            print("local Ray: not installed (pip install 'costmodel[ray]')")
        else:
            folder = tempfile.mkdtemp(prefix="cmray", dir="/tmp")
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            start = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, _temp_dir=folder)
            started = time.perf_counter() - start
            try:
                seconds, _ = run("ray", args.repeats, reference, ray="auto", **common)
            finally:
                ray.shutdown()
            print(line(f"local Ray, {os.cpu_count()} CPUs", seconds, n, base) + f"  (+{started:.1f} s to start Ray)")
    rows = list(serial)
    build = sum(r.build_s for r in rows)
    analyse = sum(r.analyse_s for r in rows)
    total = base
    print(f"\nwhere a serial candidate's time goes (median of {n}):")
    rest = total - build - analyse
    per = {"model construction": build, "analysis+lint": analyse, "sweep bookkeeping": rest}
    medians = {"model construction": statistics.median(r.build_s for r in rows),
               "analysis+lint": statistics.median(r.analyse_s for r in rows), "sweep bookkeeping": rest / n}  # fmt: skip
    for what, seconds in per.items():
        print(f"  {what:<20} {1e3 * medians[what]:6.1f} ms  ({100 * seconds / total:4.1f}% of the run)")
    print(f"  front: {len(serial.front)} of {n} candidates; failed: {len(serial.failed)}")
    sizes = "R=96:464:16"
    grid = ["width=0.5,1.0,1.5,2.0", "split=0.25,0.5,0.75", sizes]
    print(f"\nresolution axis ({sizes}; 12 architectures × 24 sizes, serial):")
    import costmodel.sweeps.evaluate as evaluate

    timings = {}
    results = {}
    for label, threshold in (("analysed at every size", 10**9), ("scaled by the formula", 2)):
        saved, evaluate.FORMULA_FROM = evaluate.FORMULA_FROM, threshold
        try:
            start = time.perf_counter()
            results[label] = sweep("shufflenet_v2", grid, (1, 3, "R", "R"), workers=1)
            timings[label] = time.perf_counter() - start
        finally:
            evaluate.FORMULA_FROM = saved
    same = figures(results["analysed at every size"]) == figures(results["scaled by the formula"])
    for label, seconds in timings.items():
        print(f"  {label:<24} {seconds:6.1f} s  {288 / seconds:6.1f} candidates/s")
    print(f"  {'PASS' if same else 'FAIL'}: identical rows both ways")
    print(f"  formula speed-up: {timings['analysed at every size'] / timings['scaled by the formula']:.2f}x")


if __name__ == "__main__":
    main()
