"""Prediction accuracy: how well FLOPs, MAC and the roofline predict measured runtime on this device.

Targets (issue "Runtime cross-check"): shufflenet_v2_x1_0, batch 1: roofline per-layer Spearman ρ ≥ 0.85
and clearly above the FLOPs-only predictor's; whole-model roofline within ±20% of measured for at least
80% of the zoo, after calibration only (the calibration never sees the zoo).

    python benchmarks/prediction_accuracy.py [--threads 1] [--repeats 20] [--device cpu] [--recalibrate]
"""

from __future__ import annotations

import argparse

from costmodel import load_model
from costmodel.bench import bench
from costmodel.render import render_bench_zoo
from costmodel.zoo import ZOO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recalibrate", action="store_true")
    args = parser.parse_args()
    results = []
    for i, name in enumerate(ZOO):
        results.append(
            bench(
                load_model(name),
                name=name,
                device=args.device,
                threads=args.threads,
                repeats=args.repeats,
                recalibrate=args.recalibrate and i == 0,
            )
        )
    shuffle = next(r for r in results if r.model == "shufflenet_v2_x1_0")
    scores = shuffle.summary["predictors"]
    print(f"shufflenet_v2_x1_0 per-layer ({shuffle.summary['layers_scored']} nodes):")
    for p, v in scores.items():
        print(f"  {p:9s} Spearman ρ {v['spearman']:.3f}  Pearson r {v['pearson']:.3f}  MAPE {v['mape']:.1f}%")
    print()
    print(render_bench_zoo(results))
    print()
    within = sum(abs(r.summary["model_error_pct"]["roofline"]) <= 20 for r in results) / len(results)
    rho_r, rho_f = scores["roofline"]["spearman"], scores["flops"]["spearman"]
    print(f"{'PASS' if rho_r >= 0.85 else 'FAIL'}  roofline per-layer ρ {rho_r:.3f} ≥ 0.85")
    print(f"{'PASS' if rho_r > rho_f + 0.02 else 'FAIL'}  roofline ρ {rho_r:.3f} clearly above FLOPs ρ {rho_f:.3f}")
    print(f"{'PASS' if within >= 0.8 else 'FAIL'}  roofline within ±20% for {within:.0%} of the zoo (≥ 80%)")


if __name__ == "__main__":
    main()
