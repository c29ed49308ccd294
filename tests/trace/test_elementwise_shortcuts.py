"""The arithmetic rules' output layout is torch's: held to FakeTensorMode on random operands of every
layout (permuted, sliced, expanded, channels-last, broadcast), and call for call on a model that
writes arithmetic in all its spellings."""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from costmodel.inputs import TensorSpec
from costmodel.trace.elementwise_shortcuts import broadcast_shape, elementwise_layout, expanded, result_dtype
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.node_cache import forget
from tests.trace.node_records import node_records


def _operand(rng: random.Random, shape: list[int]) -> torch.Tensor:
    """A tensor of ``shape`` in a random layout: permuted storage, a strided slice, or channels-last."""
    kind = rng.choice(["contiguous", "permuted", "sliced", "channels_last", "expanded"])
    if kind == "permuted" and len(shape) > 1:
        order = list(range(len(shape)))
        rng.shuffle(order)
        base = torch.empty([shape[d] for d in order])
        return base.permute([order.index(d) for d in range(len(shape))])
    if kind == "sliced" and shape:
        d = rng.randrange(len(shape))
        grown = list(shape)
        grown[d] = shape[d] * 2
        return torch.empty(grown).narrow(d, 0, shape[d] * 2).unfold(d, 1, 2).squeeze(-1)
    if kind == "channels_last" and len(shape) == 4:
        return torch.empty(shape).to(memory_format=torch.channels_last)
    if kind == "expanded" and shape:
        d = rng.randrange(len(shape))
        small = list(shape)
        small[d] = 1
        return torch.empty(small).expand(shape)
    return torch.empty(shape)


@pytest.mark.parametrize("seed", range(6))
def test_layout_of_arithmetic_is_fake_tensor_modes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(120):
        rank = rng.randint(1, 4)
        shape = [rng.choice([1, 2, 3, 5]) for _ in range(rank)]
        other = [s if rng.random() < 0.7 else 1 for s in shape][rng.randint(0, rank - 1) :]
        a, b = _operand(rng, shape), _operand(rng, other)
        with FakeTensorMode(allow_non_fake_inputs=True):
            fa, fb = torch.empty_strided(a.shape, a.stride()), torch.empty_strided(b.shape, b.stride())
            want = (fa * fb, fa * 0.5)
        out = broadcast_shape(tuple(a.shape), tuple(b.shape))
        assert out == tuple(want[0].shape)
        both = [expanded(tuple(t.shape), t.stride(), out) for t in (a, b)]
        assert elementwise_layout(out, both) == want[0].stride(), (a.shape, a.stride(), b.shape, b.stride())
        assert elementwise_layout(tuple(a.shape), [a.stride()]) == want[1].stride(), (a.shape, a.stride())


def test_shapes_that_do_not_broadcast_have_no_rule() -> None:
    assert broadcast_shape((2, 3), (4, 3)) is None
    assert broadcast_shape((2, 1, 3), (4, 1)) == (2, 4, 3)


class Arithmetic(nn.Module):
    """Arithmetic as models write it: gates and layer scales that broadcast, a residual of a permuted
    tensor, numbers on either side, in place, integer and mixed dtypes (those left to FakeTensorMode)."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(4))
        self.scale = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        gate = x.mean((2, 3), keepdim=True).sigmoid()
        a = x * gate + self.scale * x - x / self.scale
        p = x.permute(0, 2, 3, 1)
        b = p * self.gamma + x.permute(0, 2, 3, 1) - self.gamma
        c = torch.add(x, gate) + torch.mul(x, 2) + torch.sub(x, 1.5) + torch.div(x, 3)
        d = x.mul(gate).add(1).sub(x).div(2.0)
        e = 2 * x + 1 - x, 0.5 * x.permute(0, 2, 3, 1), 1.0 + x, 3 - x, 1 / x  # numbers on the left (1/x: faked)
        f = x.clone()
        f.mul_(gate)
        f.add_(self.scale).div_(2).sub_(1)
        i = torch.ones_like(x, dtype=torch.int64)
        g = i * 3 + i - 1, 2 * i, 1 + i, 5 - i  # integer tensor, integer numbers
        h = i / 2 + x * True, 0.5 * i, 2.5 - i  # promotions and a bool number: left to FakeTensorMode
        cl = x.contiguous(memory_format=torch.channels_last)
        j = cl * gate + cl * x, x[:, :2] * x[:, 2:]
        return a, b, c, d, *e, f, *g, *h, *j


def test_arithmetic_records_what_a_fake_run_records() -> None:
    model = Arithmetic().eval()
    reference = node_records(trace_model(model, (2, 4, 5, 6), shortcuts=False))
    forget()
    for traced in (trace_model(model, (2, 4, 5, 6)), trace_model(model, (2, 4, 5, 6))):
        nodes = node_records(traced)
        assert nodes.keys() == reference.keys()
        for name, (geometry, calls) in reference.items():
            assert nodes[name] == (geometry, calls), name


class MasksAndPromotions(nn.Module):
    """Comparisons, bitwise logic and mixed dtypes as transformers' mask code writes them: a causal mask
    from index comparisons, padding masks combined with ``&``, numbers on the left of a comparison,
    integer positions times a float scale, 0-dim tensors of another dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("slopes", torch.ones(4, 1, 1))
        self.register_buffer("one_half", torch.tensor(0.5, dtype=torch.float64))

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = ids.shape[1]
        rows = torch.arange(n).view(1, 1, n, 1)
        cols = torch.arange(n).view(1, 1, 1, n)
        causal = cols <= rows
        padding = (ids != 0).view(ids.shape[0], 1, 1, n)
        mask = causal & padding | (rows == 0) ^ torch.ge(cols, 1)
        left = (0 < ids, 3 >= ids, 1 == ids, ids.eq(2), ids.lt(x.shape[1]), torch.bitwise_and(causal, padding))
        positions = torch.arange(n) * self.slopes  # int64 positions, float32 scale: float32
        scaled = x * self.one_half + ids.unsqueeze(-1) * 0.5 + x.gt(0) * x  # 0-dim float64 keeps float32
        counts = ids.sum(1, keepdim=True) + torch.ones_like(ids, dtype=torch.int32)  # int64 + int32
        return mask, *left, positions, scaled, counts, ids * True, x.le(0.5).float()


def test_masks_and_promotions_record_what_a_fake_run_records() -> None:
    spec = ((TensorSpec((2, 7, 3)), TensorSpec((2, 7), torch.int64)), {})
    model = MasksAndPromotions().eval()
    reference = node_records(trace_model(model, spec, shortcuts=False))
    forget()
    traced = trace_model(model, spec)
    nodes = node_records(traced)
    assert nodes.keys() == reference.keys()
    for name, recorded in reference.items():
        assert nodes[name] == recorded, name


_DTYPES = (
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
)


@pytest.mark.parametrize("op", ["aten::add", "aten::mul", "aten::div", "aten::eq", "aten::lt", "aten::bitwise_and"])
def test_result_dtype_is_the_dtype_of_the_real_result(op: str) -> None:
    """``result_dtype`` against the result of the real op on small tensors of every pair of dtypes and
    ranks, and with Python numbers: the same dtype, or None where torch raises or the case is not ruled."""
    run = getattr(torch, op.removeprefix("aten::"))
    others: list[Any] = [torch.ones(shape, dtype=d) for d in _DTYPES for shape in ((), (3,))] + [True, 2, 0.5]
    for dtype in _DTYPES:
        for shape in ((), (3,)):
            a = torch.ones(shape, dtype=dtype)
            for b in others:
                try:
                    real = run(a, b).dtype
                except RuntimeError:
                    real = None
                ruled = result_dtype(op, a, b)
                assert ruled is None or ruled == real, (op, a.dtype, a.dim(), b)
                if real is not None and op in ("aten::eq", "aten::lt", "aten::mul") and not isinstance(b, bool):
                    assert ruled is not None or a.dtype == torch.bool or getattr(b, "dtype", None) == torch.bool, (op, a, b)


class WhereAndMaskedFill(nn.Module):
    """Masking as attention code writes it: ``torch.where`` with a number (made a 0-dim tensor first) or a
    0-dim buffer, on permuted and broadcast operands; ``masked_fill`` with a broadcast mask; and a number
    of another kind than the tensor (a cast first: left to FakeTensorMode)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("zero", torch.tensor(0.0))

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mask = (ids > 0).view(2, 1, 7)
        lowest = torch.finfo(torch.float32).min
        permuted = x.unsqueeze(1).permute(0, 1, 3, 2).transpose(2, 3)
        return (
            torch.where(mask, x.transpose(1, 2), -1e9),
            torch.where(mask, self.zero, lowest),
            torch.where(ids > 1, ids, ids * 2),
            torch.where(ids > 1, 0, ids),
            torch.where(mask.unsqueeze(-1), x.unsqueeze(1), permuted),
            torch.where(mask, x.transpose(1, 2), 2),
            torch.where(ids > 0, 1.5, ids),  # int64 tensor, float number: cast first, faked
            x.masked_fill(x > 0, 0.0),
            x.masked_fill((ids > 0).unsqueeze(-1), -1e4),
            ids.masked_fill(ids > 3, 1),
        )


def test_where_and_masked_fill_record_what_a_fake_run_records() -> None:
    spec = ((TensorSpec((2, 7, 3)), TensorSpec((2, 7), torch.int64)), {})
    model = WhereAndMaskedFill().eval()
    reference = node_records(trace_model(model, spec, shortcuts=False))
    forget()
    nodes = node_records(trace_model(model, spec))
    for name, recorded in reference.items():
        assert nodes[name] == recorded, name
