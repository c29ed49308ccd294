"""Analysis speed: costmodel.analyze vs fvcore and torch.utils.flop_counter, measured in one run.

Targets (issue "The analyzer"): at 1x3x224x224 our time ≤ 0.5x fvcore's; at 1x3x1024x1024 and
32x3x224x224 faster than both peers; our time at the large inputs ≤ 1.2x our time at 224.
Each figure is the median of REPEATS runs after WARMUP runs, with a fixed thread count.

    python benchmarks/analysis_speed.py [--model shufflenet_v2_x1_0] [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from fvcore.nn import FlopCountAnalysis
from torch.utils.flop_counter import FlopCounterMode

from costmodel import analyze, load_model

SHAPES = [(1, 3, 224, 224), (1, 3, 1024, 1024), (32, 3, 224, 224)]


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours(model: torch.nn.Module, shape: tuple[int, ...]) -> Callable[[], object]:
    return lambda: analyze(model, shape).totals


def fvcore(model: torch.nn.Module, shape: tuple[int, ...]) -> Callable[[], object]:
    def run() -> object:
        analysis = FlopCountAnalysis(model, torch.randn(shape))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return analysis.total()

    return run


def flop_counter(model: torch.nn.Module, shape: tuple[int, ...]) -> Callable[[], object]:
    def run() -> object:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.randn(shape))
        return counter.get_total_flops()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shufflenet_v2_x1_0")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model).eval()
    print(f"{args.model} · torch {torch.__version__} · {args.threads} threads", end="")
    print(f" · median of {args.repeats} after {args.warmup} warm-up")
    header = ["input", "costmodel ms", "fvcore ms", "flop_counter ms", "ours/fvcore", "ours/flop_counter"]
    widths = [16, 13, 10, 16, 12, 18]
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths)))
    ours_ms: dict[tuple[int, ...], float] = {}
    verdicts = []
    for shape in SHAPES:
        repeats = args.repeats if shape == SHAPES[0] else max(3, args.repeats // 2)
        t_ours = median_seconds(ours(model, shape), args.repeats, args.warmup) * 1e3
        t_fv = median_seconds(fvcore(model, shape), repeats, 1) * 1e3
        t_fc = median_seconds(flop_counter(model, shape), repeats, 1) * 1e3
        ours_ms[shape] = t_ours
        label = "x".join(map(str, shape))
        print(f"{label:>16} {t_ours:13.1f} {t_fv:10.1f} {t_fc:16.1f} {t_ours / t_fv:12.3f} {t_ours / t_fc:18.3f}")
        if shape == SHAPES[0]:
            verdicts.append((f"at {label}: ours ≤ 0.5x fvcore", t_ours <= 0.5 * t_fv))
        else:
            verdicts.append((f"at {label}: faster than fvcore and flop_counter", t_ours < t_fv and t_ours < t_fc))
            ratio = t_ours / ours_ms[SHAPES[0]]
            verdicts.append((f"at {label}: ours {ratio:.2f}x our 224 time (≤ 1.2x)", ratio <= 1.2))
    print()
    for text, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")


if __name__ == "__main__":
    main()
