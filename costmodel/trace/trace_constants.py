"""Writes into tensors that a plain fx trace made for real.

fx runs a forward's factories with no traced argument for real (``counts = torch.zeros(2)``) and keeps
the result as a ``_tensor_constant`` attribute. A write of a traced value into such a tensor
(``counts[0] = x.sum()``, ``counts.add_(y)``, ``torch.add(a, b, out=counts)``, or into a view of it)
becomes a graph node, but the real tensor keeps its old value. Python that reads it afterwards
(``int(counts[0])``) read that stale value while the trace ran, and the graph holds what it decided. Such
a trace cannot be trusted; the shaped trace makes these factories nodes instead.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

__all__ = ["written_trace_constant"]

#: fx's name for a tensor made while tracing, kept on the root
_CONSTANT_PREFIX = "_tensor_constant"
#: methods whose output is a view of their first operand: a write into it is a write into that operand
_VIEWS = frozenset(
    {
        "__getitem__",
        "view",
        "view_as",
        "select",
        "narrow",
        "slice",
        "transpose",
        "permute",
        "expand",
        "expand_as",
        "unsqueeze",
        "squeeze",
        "flatten",
        "unflatten",
        "reshape",
        "as_strided",
        "t",
        "detach",
        "diagonal",
        "unfold",
        "movedim",
        "swapaxes",
        "unbind",
        "split",
        "chunk",
    }
)
#: functions likewise
_VIEW_FUNCTIONS = frozenset(
    {
        operator.getitem,
        torch.select,
        torch.narrow,
        torch.transpose,
        torch.permute,
        torch.flatten,
        torch.reshape,
        torch.squeeze,
        torch.unsqueeze,
    }
)


def written_trace_constant(graph: fx.Graph) -> str | None:
    """The name of a ``_tensor_constant`` that a node of ``graph`` writes in place, directly or through a
    view (see the module docstring), or None."""
    for node in graph.nodes:
        for written in _written_operands(node):
            base = _base_of(written)
            if base is not None and base.op == "get_attr" and str(base.target).startswith(_CONSTANT_PREFIX):
                return str(base.target)
    return None


def _written_operands(node: fx.Node) -> list[fx.Node]:
    """The nodes whose tensors ``node`` writes: its first operand for an in-place method or ``setitem``,
    and its ``out=`` tensors."""
    written: list[fx.Node] = []
    target = str(node.target)
    if node.op == "call_method":
        in_place = target == "__setitem__" or target.endswith("_") and not target.startswith("__")
    else:
        in_place = node.op == "call_function" and node.target is operator.setitem
    if in_place and node.args and isinstance(node.args[0], fx.Node):
        written.append(node.args[0])
    if node.op in ("call_function", "call_method"):
        out = node.kwargs.get("out")
        written += [n for n in (out if isinstance(out, (tuple, list)) else [out]) if isinstance(n, fx.Node)]
    return written


def _base_of(node: fx.Node) -> fx.Node | None:
    """The node whose tensor ``node``'s is a view of (itself where it is no view), following view ops."""
    for _ in range(64):
        viewing = node.op == "call_method" and str(node.target) in _VIEWS
        viewing = viewing or node.op == "call_function" and node.target in _VIEW_FUNCTIONS
        if not viewing or not node.args or not isinstance(node.args[0], fx.Node):
            return node
        node = node.args[0]
    return None
