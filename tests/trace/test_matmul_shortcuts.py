"""The matmul rule is torch's composite: held to FakeTensorMode on random operands (stacks and matrices,
broadcast batches, transposed layouts, a weight that requires grad), call for call and stride for stride,
and never running a node faked when it answers."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.node_cache import forget
from tests.trace.node_records import node_records


class Product(nn.Module):
    """``x`` (its last two dims swapped when ``flip_x``) times ``y``, an input or a parameter (which
    requires grad), written as ``@``, ``torch.matmul`` or ``.matmul``."""

    def __init__(self, weight: tuple[int, ...] | None, flip_x: bool, flip_y: bool, spelling: int) -> None:
        super().__init__()
        self.weight = None if weight is None else nn.Parameter(torch.zeros(weight))
        self.flip_x, self.flip_y, self.spelling = flip_x, flip_y, spelling

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        other = y if self.weight is None else self.weight
        a = x.transpose(-1, -2) if self.flip_x else x
        b = other.transpose(-1, -2) if self.flip_y else other
        if self.spelling == 0:
            return a @ b
        return torch.matmul(a, b) if self.spelling == 1 else a.matmul(b)


def _operands(rng: random.Random) -> tuple[list[int], list[int]]:
    """Shapes of a and b (b of rank 2 up to a's), batches broadcastable, inner sizes equal."""
    rank_a = rng.randint(2, 4)
    rank_b = rng.randint(2, rank_a)
    n, k, p = (rng.choice([1, 2, 3, 5]) for _ in range(3))
    batch_a = [rng.choice([1, 2, 3]) for _ in range(rank_a - 2)]
    batch_b = [rng.choice([1, s]) for s in batch_a[len(batch_a) - (rank_b - 2) :]] if rank_b > 2 else []
    return [*batch_a, n, k], [*batch_b, k, p]


@pytest.mark.parametrize("seed", range(6))
def test_random_products_record_what_a_fake_run_records(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    built: list[int] = []
    get = LazyFakeMode.get
    monkeypatch.setattr(LazyFakeMode, "get", lambda self: built.append(1) or get(self))
    seen = set()
    for _ in range(30):
        a, b = _operands(rng)
        flip_x, flip_y = rng.random() < 0.3, rng.random() < 0.3
        x_shape = [*a[:-2], a[-1], a[-2]] if flip_x else a
        y_shape = [*b[:-2], b[-1], b[-2]] if flip_y else b
        as_weight = rng.random() < 0.3
        model = Product(tuple(y_shape) if as_weight else None, flip_x, flip_y, rng.randrange(3))
        inputs = [tuple(x_shape), tuple(y_shape)]
        reference = node_records(trace_model(model, inputs, shortcuts=False))
        forget()
        built.clear()
        records = node_records(trace_model(model, inputs))
        assert records == reference, (a, b, flip_x, flip_y, as_weight)
        # the closed form declines a batch of one squeezed first; the meta run takes it: no FakeTensorMode
        assert not built, (a, b, flip_x, flip_y, as_weight)
        seen |= {c.op for _, calls in records.values() for c, _group in calls}
    assert "aten::bmm" in seen or "aten::mm" in seen
