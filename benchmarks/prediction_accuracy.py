"""Prediction accuracy: how well FLOPs, MAC and the roofline predict measured runtime on this device.

Judged on the zoo and on models the calibration work never looks at (``unseen_models.py``: new own
definitions and Hugging Face CNNs built from configs). Calibration uses micro-benchmarks only.

Targets (issue "Runtime predictions that hold on models the calibration never saw"):
- per-layer roofline Spearman ρ ≥ 0.90 on every model, above the FLOPs and the MAC predictors' ρ;
- whole-model roofline error within ±15% for ≥ 80% of all models (goal ±10%).
Each model is measured in interleaved rounds; its run-to-run spread is printed beside the error.

    python benchmarks/prediction_accuracy.py [--threads 1] [--repeats 20] [--device cpu] [--recalibrate]
        [--sets zoo,own,hf] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from unseen_models import OWN, hugging_face  # noqa: E402

from costmodel import load_model  # noqa: E402
from costmodel.runtime.bench import bench
from costmodel.zoo import ZOO  # noqa: E402


def main() -> int:
    """Bench every model of the chosen sets, print the table and the PASS/FAIL lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recalibrate", action="store_true")
    parser.add_argument("--sets", default="zoo,own,hf", help="comma-separated: zoo, own, hf")
    parser.add_argument("--only", nargs="*", default=None, help="only these model names")
    args = parser.parse_args()
    sets = set(args.sets.split(","))
    models: dict[str, tuple[str, object]] = {}
    if "zoo" in sets:
        models |= {name: ("zoo", lambda name=name: load_model(name)) for name in ZOO}
    if "own" in sets:
        models |= {name: ("unseen", make) for name, make in OWN.items()}
    if "hf" in sets:
        models |= {name: ("unseen", make) for name, make in hugging_face().items()}
    if args.only:
        models = {k: v for k, v in models.items() if k in args.only}
    torch.manual_seed(0)
    print(f"{len(models)} models · {args.device} · {args.threads} thread(s) · {args.repeats} repeats (3 interleaved rounds)\n")
    header = f"{'model':26s} {'set':6s} {'rows':>4s} {'ρ roof':>7s} {'ρ FLOPs':>7s} {'ρ MAC':>7s}"
    header += f" {'measured':>9s} {'spread':>7s} {'predicted':>9s} {'error':>8s}  note"
    print(header)
    print("-" * len(header))
    results = []
    for i, (name, (group, make)) in enumerate(models.items()):
        start = time.perf_counter()
        result = bench(
            make(),  # type: ignore[operator]
            (1, 3, 224, 224),
            name=name,
            device=args.device,
            threads=args.threads,
            repeats=args.repeats,
            recalibrate=args.recalibrate and i == 0,
        )
        s = result.summary
        rho = {p: s["predictors"][p]["spearman"] for p in ("roofline", "flops", "mac")}
        error, spread = s["model_error_pct"]["roofline"], s["model_spread_pct"]
        note = ("in noise " if abs(error) <= spread else "") + ("hooks" if "rows" in s else "fx")
        note += f" drift ×{s['machine_drift']:.2f}"
        print(
            f"{name:26s} {group:6s} {s['layers_scored']:4d} {rho['roofline']:7.3f} {rho['flops']:7.3f} {rho['mac']:7.3f}"
            f" {s['model_measured_ms']:8.2f}ms {spread:6.1f}% {s['model_predicted_ms']['roofline']:8.2f}ms {error:+7.1f}%"
            f"  {note} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        results.append((name, group, rho, error))
    print()
    worst = min(results, key=lambda r: r[2]["roofline"])
    rho_ok = all(r[2]["roofline"] >= 0.90 for r in results)
    above = [r[0] for r in results if not (r[2]["roofline"] > r[2]["flops"] and r[2]["roofline"] > r[2]["mac"])]
    within15 = sum(abs(r[3]) <= 15 for r in results) / len(results)
    within10 = sum(abs(r[3]) <= 10 for r in results) / len(results)
    lowest = f"lowest {worst[2]['roofline']:.3f}, {worst[0]}"
    print(f"{'PASS' if rho_ok else 'FAIL'}  per-layer roofline ρ ≥ 0.90 on every model ({lowest})")
    print(
        f"{'PASS' if not above else 'FAIL'}  roofline ρ above FLOPs' and MAC's on every model"
        + (f" (not on {', '.join(above)})" if above else "")
    )
    share = f"{within15:.0%} of models (≥ 80%); ±10%: {within10:.0%}"
    print(f"{'PASS' if within15 >= 0.8 else 'FAIL'}  whole-model roofline within ±15% for {share}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
