"""What a trace recorded per node, in a form two traces can be compared by: the shape rules are held
to FakeTensorMode through it."""

from __future__ import annotations

from typing import Any

from costmodel.trace.fx_trace import TracedModel
from costmodel.trace.pending import tensors_in


def node_records(traced: TracedModel) -> dict[str, tuple[list[tuple[Any, ...]], list[Any]]]:
    """Per node: (shape, stride, storage offset, dtype) of each output tensor, and the aten calls it ran,
    each with the ``F.linear`` call it ran in (numbered by first appearance in the node: costing reads
    a bias add by it, and ``AtenCall`` equality leaves it out)."""
    out = {}
    for node in traced.graph.nodes:
        geometry = [(tuple(t.shape), tuple(t.stride()), t.storage_offset(), t.dtype) for t in tensors_in(node.meta.get("val"))]
        calls = traced.node_calls.get(node.name, [])
        numbers: dict[int, int] = {}
        groups = [numbers.setdefault(c.group, len(numbers) + 1) if c.group else 0 for c in calls]
        out[node.name] = (geometry, list(zip(calls, groups)))
    return out


def count_fake_modes(monkeypatch: Any) -> list[int]:
    """Empty the node memo and count, from now on, every FakeTensorMode a trace asks for: a list that
    stays empty while every node is answered by closed-form rules."""
    from costmodel.trace.fake_tensors import LazyFakeMode
    from costmodel.trace.node_cache import forget

    built: list[int] = []
    get = LazyFakeMode.get
    forget()
    monkeypatch.setattr(LazyFakeMode, "get", lambda self: built.append(1) or get(self))
    return built


def assert_rules_record_what_fake_records(model: Any, inputs: Any) -> None:
    """Trace ``model`` with every node run on fake tensors, then (memo emptied) with the closed-form rules:
    every node's output geometry and aten calls must be the same."""
    from costmodel.trace.fx_trace import trace_model
    from costmodel.trace.node_cache import forget

    reference = node_records(trace_model(model, inputs, shortcuts=False))
    forget()
    assert node_records(trace_model(model, inputs)) == reference
