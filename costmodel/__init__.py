"""costmodel: what a convolutional network really costs, layer by layer (FLOPs, params, MAC).

Conventions (docs/CONVENTIONS.md): FLOPs are multiply-adds; MAC is memory access cost in tensor
elements read plus written per op; params are learnable parameters, shared ones counted once.
"""

from typing import Any

from costmodel.analyze import Analysis, analyze, run_analysis
from costmodel.errors import CostModelError, ModelSpecError, ShapeMismatch, TraceFailure, UncountedOpsError
from costmodel.guidelines.compare import CompareRow, compare
from costmodel.guidelines.experiments import run_table as run_guideline_table
from costmodel.guidelines.lint import LintResult, LintThresholds, lint
from costmodel.inputs import ModelInputs, TensorSpec
from costmodel.memory.result import MemoryReport
from costmodel.memory.run import memory_report
from costmodel.render.printing import render
from costmodel.report import LayerCost, Report, UncountedOp
from costmodel.rules import AtenCall, OpCost, register, rules_overlay, unregister
from costmodel.runtime.bench import BenchReport, bench
from costmodel.runtime.settings import RunSettings
from costmodel.zoo import ZOO
from costmodel.zoo.loader import load_model

__version__ = "0.1.0"

_PLOTS = ("plot_compare", "plot_layers", "plot_roofline", "save_png")


_VERIFY = ("all_theorems", "check_layers")
_CLAIMS = ("check_claim",)
_FORMULA = ("formula", "Formula")
_SWEEP = ("sweep", "SweepResult")


def __getattr__(name: str) -> Any:
    """Plot functions load matplotlib, and the proofs and formulas sympy, on first use, keeping ``import costmodel``
    (and every command that does not plot or prove) light."""
    if name in _PLOTS:
        from costmodel.render import plots

        return getattr(plots, name)
    if name in _VERIFY:
        from costmodel.proofs import verify

        return getattr(verify, name)
    if name in _CLAIMS:
        from costmodel.proofs import conv_claim

        return getattr(conv_claim, name)
    if name in _FORMULA:
        from costmodel.symbolic import derive, result

        return derive.formula if name == "formula" else result.Formula
    if name in _SWEEP:
        from costmodel.sweeps import result as sweep_result
        from costmodel.sweeps import run

        return run.sweep if name == "sweep" else sweep_result.SweepResult
    raise AttributeError(f"module 'costmodel' has no attribute {name!r}")


__all__ = [
    "analyze",
    "formula",
    "Formula",
    "sweep",
    "SweepResult",
    "memory_report",
    "MemoryReport",
    "run_analysis",
    "Analysis",
    "register",
    "rules_overlay",
    "unregister",
    "AtenCall",
    "OpCost",
    "TensorSpec",
    "ModelInputs",
    "load_model",
    "compare",
    "bench",
    "lint",
    "run_guideline_table",
    "all_theorems",
    "check_layers",
    "check_claim",
    "Report",
    "LayerCost",
    "UncountedOp",
    "CompareRow",
    "BenchReport",
    "LintResult",
    "LintThresholds",
    "ZOO",
    "render",
    "RunSettings",
    "plot_compare",
    "plot_layers",
    "plot_roofline",
    "save_png",
    "CostModelError",
    "ModelSpecError",
    "ShapeMismatch",
    "TraceFailure",
    "UncountedOpsError",
]
