"""The rules for explicit products (``mm``, ``bmm``, ``addmm``, ``baddbmm``), splits, concatenation of
permuted operands (rotary embeddings), ``nn.Softmax`` and ``arange`` with a start and step record what
FakeTensorMode records, call for call and stride for stride; a model made of them runs no node faked."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from costmodel.inputs import TensorSpec
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.shortcut_helpers import suggests_channels_last
from tests.trace.node_records import assert_rules_record_what_fake_records, count_fake_modes

SPEC = ((TensorSpec((2, 7, 3)), TensorSpec((2, 7), torch.int64)), {})


class AttentionGlue(nn.Module):
    """GPT-2's fused projection (``addmm`` then ``split``), Bloom's ALiBi scores (``baddbmm``), rotary
    embeddings' half rotation (``cat`` of permuted halves), a softmax module, ranges with a start."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 9))
        self.bias = nn.Parameter(torch.randn(9))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = ids.shape[1]
        rows = x.reshape(14, 3)
        qkv = torch.addmm(self.bias, rows, self.weight).view(2, 7, 9)
        q, k, v = qkv.split(3, dim=2)
        uneven = (*torch.split(qkv, [4, 5], dim=-1), *qkv.split([2, 2, 5], 2), *qkv.split(4, -1))
        heads = x.view(2, 7, 1, 3).expand(2, 7, 4, 3).reshape(2, 7, 4, 3).permute(0, 2, 1, 3)
        rotated = torch.cat((-heads[..., 1:], heads[..., :1]), dim=-1), torch.cat([heads, heads], dim=1)
        scores = torch.bmm(q.transpose(1, 2), k)
        alibi = torch.baddbmm(scores, q.transpose(1, 2), v, beta=1.0, alpha=0.5)
        keywords = scores.baddbmm(batch1=q.transpose(1, 2), batch2=k, beta=0.0, alpha=2)
        products = (
            torch.mm(rows, self.weight),
            rows.mm(self.weight),
            q.transpose(1, 2).bmm(k),
            (rows @ rows.t()).addmm(rows, rows.t()),
        )
        ranges = torch.arange(1, 9, dtype=torch.int32, device=x.device), torch.arange(0, n, 2), torch.arange(n, 0, -3)
        return qkv, q, k, v, *uneven, *rotated, scores, alibi, keywords, *products, self.softmax(qkv), *ranges


def test_attention_glue_records_what_fake_records() -> None:
    assert_rules_record_what_fake_records(AttentionGlue().eval(), SPEC)


def test_attention_glue_runs_no_node_on_fake_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    built = count_fake_modes(monkeypatch)
    traced = trace_model(AttentionGlue().eval(), SPEC)
    assert traced.node_outcomes and not built


class PermutedConcatenation(nn.Module):
    """``cat`` of two 4-D operands, each stored in its own dimension order."""

    def __init__(self, first: tuple[int, ...], second: tuple[int, ...]) -> None:
        super().__init__()
        self.first, self.second = first, second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def stored(order: tuple[int, ...]) -> torch.Tensor:
            inverse = [order.index(d) for d in range(4)]
            return x.permute(*order).contiguous().permute(*inverse)

        return torch.cat((stored(self.first), stored(self.second)), dim=1) * 1


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 3, 1, 1), (2, 1, 4, 5)])
def test_concatenation_of_every_pair_of_layouts_records_what_fake_records(shape: tuple[int, ...]) -> None:
    orders = list(itertools.permutations(range(4)))
    for first, second in zip(orders, orders[5:] + orders[:5]):
        assert_rules_record_what_fake_records(PermutedConcatenation(first, second).eval(), shape)


def test_suggests_channels_last_is_torchs_reading() -> None:
    """Against torch's own reading (``torch._prims_common.suggest_memory_format``, what FakeTensorMode's
    ``cat`` asks) on every dimension order of small shapes, size-1 and size-0 dimensions included."""
    from torch._prims_common import suggest_memory_format

    for shape in itertools.product((0, 1, 2, 3), repeat=4):
        for order in itertools.permutations(range(4)):
            t = torch.empty([shape[d] for d in order]).permute(*[order.index(d) for d in range(4)])
            expected = suggest_memory_format(t) == torch.channels_last
            assert suggests_channels_last(tuple(t.shape), t.stride()) == expected, (shape, order)


class ClampsAndStacks(nn.Module):
    """``clamp``/``clip`` with number bounds in every spelling, of strided tensors too; ``torch.stack`` of
    row-major, transposed and channels-last-like operands; an integer tensor clamped by a float (the
    result promotes: left to FakeTensorMode)."""

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        nhwc = x.unsqueeze(1).permute(0, 2, 3, 1)
        return (
            x.clamp(0, 6),
            torch.clamp(x, min=0.0),
            x.clamp(max=1),
            x.clamp_min(0.1),
            x.clamp_max(3),
            torch.clamp(ids, 0, 3),
            x.clamp(0, 6).transpose(0, 1).clamp(0, 1),
            torch.clip(x, -1, 1),
            x.clip(max=2.0),
            ids.clamp(min=0.5),
            torch.stack([x, x], dim=1),
            torch.stack((x.transpose(1, 2), x.transpose(1, 2))),
            torch.stack([x, x], -1),
            torch.stack([nhwc] * 3, 2),
            torch.stack([x[0], x[1]]),
        )


def test_clamps_and_stacks_record_what_fake_records() -> None:
    assert_rules_record_what_fake_records(ClampsAndStacks().eval(), SPEC)
