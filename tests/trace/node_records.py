"""What a trace recorded per node, in a form two traces can be compared by: the shape rules are held
to FakeTensorMode through it."""

from __future__ import annotations

from typing import Any

from costmodel.trace.fx_trace import TracedModel
from costmodel.trace.pending import tensors_in


def node_records(traced: TracedModel) -> dict[str, tuple[list[tuple[Any, ...]], list[Any]]]:
    """Per node: (shape, stride, storage offset, dtype) of each output tensor, and the aten calls it ran."""
    out = {}
    for node in traced.graph.nodes:
        geometry = [(tuple(t.shape), tuple(t.stride()), t.storage_offset(), t.dtype) for t in tensors_in(node.meta.get("val"))]
        out[node.name] = (geometry, traced.node_calls.get(node.name, []))
    return out
