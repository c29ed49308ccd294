"""A tensor whose value the trace knows (one a forward made from Python numbers, a one-element buffer)
stops being known once a traced value is written into it, directly, through a view or by ``out=``: a
shape read from it afterwards comes from the real forward, never from the value it held before the
write. Checked against the model's own forward; the slice writes of a scan stay in the fx walk."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from costmodel import analyze
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.trace_constants import written_trace_constant


class SetItemCount(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros(2, dtype=torch.int64)
        counts[0] = (x.abs() >= 0).sum()  # every element: the count is x's size whatever its values
        return x.new_zeros(int(counts.sum()))


class InPlaceCount(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros(2, dtype=torch.int64)
        counts.add_((x.abs() >= 0).sum())
        return x.new_zeros(int(counts[0]))


class ViewCount(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros(2, dtype=torch.int64)
        counts[:1].fill_((x.abs() >= 0).sum())
        return x.new_zeros(int(counts.sum()))


class OutCount(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros((), dtype=torch.int64)
        torch.sum(x.abs() >= 0, dim=(0, 1), dtype=torch.int64, out=counts)
        return x.new_zeros(int(counts))


class BufferCount(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.tensor(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count.copy_((x.abs() >= 0).sum())
        return x.new_zeros(int(self.count))


WRITES: dict[str, Callable[[], nn.Module]] = {
    "setitem": SetItemCount,
    "in_place": InPlaceCount,
    "view": ViewCount,
    "out": OutCount,
    "buffer": BufferCount,
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_shape_read_after_a_write_is_the_forwards(name: str) -> None:
    model = WRITES[name]().eval()
    expected = model(torch.randn(2, 3)).shape
    report = analyze(model, (2, 3))
    assert report.layers[-1].output_shape == list(expected) == [6]
    assert report.walk == "aten"  # the written value decides a shape: the real forward is run


class Scan(nn.Module):
    """A recurrence writing each step into a buffer it made; nothing reads the buffer's values."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(2, 4, 3)  # no traced size: plain fx runs it for real
        h = x[:, 0]
        for t in range(4):
            h = h * 0.5 + x[:, t]
            out[:, t] = h
        return out


def test_writes_into_a_tensor_made_while_tracing_take_the_shaped_trace() -> None:
    """Plain fx keeps ``torch.zeros(2, 4, 3)`` as a constant of the root and the writes as nodes; Python may
    have read the constant before them, so that graph is not used: the shaped trace makes the factory a node.
    Costs are those of the aten walk's real forward."""
    import torch.fx as fx

    assert written_trace_constant(fx.symbolic_trace(Scan()).graph) == "_tensor_constant0"
    traced = trace_model(Scan(), (2, 4, 3))
    assert written_trace_constant(traced.graph) is None
    report = analyze(Scan(), (2, 4, 3))
    assert report.walk == "fx" and report.uncounted == []
    assert report.totals == analyze(Scan(), (2, 4, 3), fallback=True).totals
    assert sum(row.op in ("setitem", "__setitem__") for row in report.layers) == 4
