"""costmodel: what a convolutional network really costs, layer by layer (FLOPs, params, MAC).

Conventions (../shared/CONVENTIONS.md): FLOPs are multiply-adds; MAC is memory access cost in tensor
elements read plus written per op; params are learnable parameters, shared ones counted once.
"""

from costmodel.analyze import analyze
from costmodel.errors import CostModelError, ModelSpecError, ShapeMismatch, TraceFailure, UncountedOpsError
from costmodel.loader import load_model
from costmodel.report import LayerCost, Report, UncountedOp
from costmodel.zoo import ZOO

__version__ = "0.1.0"

__all__ = [
    "analyze",
    "load_model",
    "Report",
    "LayerCost",
    "UncountedOp",
    "ZOO",
    "CostModelError",
    "ModelSpecError",
    "ShapeMismatch",
    "TraceFailure",
    "UncountedOpsError",
]
