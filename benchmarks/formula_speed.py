"""Formula speed: deriving a model's cost as a formula of its input sizes against the concrete analysis of
the same model at one size, both measured in this run.

Each figure is the median of --repeats runs after one warm-up run of each, at a fixed thread count, with
the spread (min–max); the concrete analysis runs cold (node memo emptied before each run: the first
analysis of a model, as the CLI does it). Also times a 10^5-point sweep evaluated from one formula.

Targets (issue "The model's cost as a formula of its input sizes"):
  formula ≤ 3x the concrete analysis on every model here;  10^5 sweep evaluations in under a second.

    python benchmarks/formula_speed.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from costmodel import analyze  # noqa: E402
from costmodel.symbolic.derive import formula  # noqa: E402
from costmodel.symbolic.sweep import sweep  # noqa: E402
from costmodel.trace.node_cache import forget  # noqa: E402
from costmodel.zoo import ZOO  # noqa: E402


def timed(fn: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None) -> list[float]:
    """Seconds of ``repeats`` calls after one untimed warm-up call; ``before`` runs untimed before each."""
    before()
    fn()
    out = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def models() -> list[tuple[str, nn.Module, Any, Any, dict[str, int]]]:
    """(name, model, concrete input, symbolic input, hints): the zoo and Hugging Face models from configs."""
    out: list[tuple[str, nn.Module, Any, Any, dict[str, int]]] = []
    for name in sorted(ZOO):
        out.append((name, ZOO[name](), (1, 3, 224, 224), (1, 3, "H", "W"), {}))
    try:
        import transformers
    except ImportError:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        for config_name in ("ResNetConfig", "ConvNextConfig", "RegNetConfig"):
            config = getattr(transformers, config_name)()
            model = transformers.AutoModelForImageClassification.from_config(config).eval()
            out.append((f"hf:{config_name}", model, (1, 3, 128, 128), (1, 3, "H", "W"), {"H": 128, "W": 128}))
        bert = transformers.BertModel(transformers.BertConfig(num_hidden_layers=4)).eval()
        out.append(
            (
                "hf:BertConfig(4 layers)",
                bert,
                {"input_ids": ((1, 128), torch.int64)},
                {"input_ids": (("B", "L"), torch.int64)},
                {},
            )
        )
    return out


def _spread(values: list[float]) -> str:
    return f"{min(values) * 1e3:.0f}–{max(values) * 1e3:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} · {args.threads} thread(s) · median of {args.repeats} after a warm-up")
    print(f"{'model':28} {'analysis ms':>12} {'(spread)':>10} {'formula ms':>11} {'(spread)':>11} {'ratio':>6}  walk")
    worst = 0.0
    for name, model, concrete, symbolic, hints in models():
        base = timed(lambda m=model, c=concrete: analyze(m, c), args.repeats, forget)
        derived = timed(lambda m=model, s=symbolic, h=hints: formula(m, s, hints=h), args.repeats)
        ratio = statistics.median(derived) / statistics.median(base)
        worst = max(worst, ratio)
        walk = formula(model, symbolic, hints=hints).walk
        print(
            f"{name:28} {statistics.median(base) * 1e3:12.0f} {_spread(base):>10} {statistics.median(derived) * 1e3:11.0f}"
            f" {_spread(derived):>11} {ratio:5.2f}x  {walk}"
        )
    print(f"{'PASS' if worst <= 3.0 else 'FAIL'}: formula ≤ 3x the concrete analysis on every model (worst {worst:.2f}x)")
    resnet = formula(ZOO["resnet50"](), (1, 3, "R", "R"))
    values = list(range(1, 100_001))
    times = timed(lambda: sweep(resnet, "R", values), args.repeats)
    best = statistics.median(times)
    print(f"{'PASS' if best < 1.0 else 'FAIL'}: 10^5 sweep evaluations of resnet50's formula in {best:.3f} s (< 1 s)")


if __name__ == "__main__":
    main()
