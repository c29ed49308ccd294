"""Shape-only ops: views, splits, indexing, size queries, copies to contiguous memory, identities."""

from __future__ import annotations

import builtins
import operator

import torch
from torch import nn
from torch.nn import functional as F

from costmodel.handlers.base import REGISTRY, OpCall, OpCost
from costmodel.module_kinds import IDENTITY_MODULES

_VIEW_FUNCTIONS = (
    operator.getitem,
    builtins.getattr,
    torch.flatten,
    torch.reshape,
    torch.transpose,
    torch.permute,
    torch.chunk,
    torch.split,
    torch.squeeze,
    torch.unsqueeze,
    torch.narrow,
    torch.t,
    torch.movedim,
)
_VIEW_METHODS = (
    "view",
    "view_as",
    "reshape",
    "reshape_as",
    "flatten",
    "unflatten",
    "transpose",
    "permute",
    "chunk",
    "split",
    "squeeze",
    "unsqueeze",
    "narrow",
    "t",
    "expand",
    "expand_as",
    "size",
    "dim",
    "contiguous",
    "movedim",
    "unbind",
    "numel",
)


@REGISTRY.register("views", functions=_VIEW_FUNCTIONS, methods=_VIEW_METHODS, modules=(nn.Flatten, nn.Unflatten))
def view_cost(call: OpCall) -> OpCost:
    """FLOPs = 0. MAC = 0 when the output is a view of the input (no data moves); otherwise the op
    copied (``contiguous`` of a transposed tensor, ``reshape`` of a non-contiguous one): MAC = in + out."""
    if not call.output_is_tensor or call.aliases_input:
        return OpCost(0, 0)
    return OpCost(0, call.io_elements())


@REGISTRY.register(
    "views",
    modules=IDENTITY_MODULES,
    functions=(F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.dropout),
)
def identity_cost(call: OpCall) -> OpCost:
    """Identity and inference-time dropout return their input: FLOPs = 0, MAC = 0."""
    return OpCost(0, 0)
