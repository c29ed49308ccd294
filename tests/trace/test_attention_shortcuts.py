"""F.scaled_dot_product_attention's closed-form rule held to FakeTensorMode call for call: the flash
kernel's output takes the query's layout, the math kernel's is row-major, and what follows the attention
(a transpose and reshape, which copies or views by layout) must be recorded as the fake run records it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from costmodel.trace.elementwise_shortcuts import like_strides
from costmodel.trace.fx_trace import trace_model
from tests.trace.node_records import assert_rules_record_what_fake_records, count_fake_modes


class AttentionVariants(nn.Module):
    """Heads split from a projection (a non-contiguous query, as transformers write it) or contiguous;
    masks of every rank and dtype, a learned bias, causal, a scale, dropout, a narrower value, 3-D inputs,
    arguments by keyword; each output transposed back and reshaped."""

    def __init__(self, dim: int = 16, heads: int = 2, tokens: int = 6) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.bias = nn.Parameter(torch.zeros(heads, tokens, tokens))  # learned: requires grad
        self.register_buffer("keep", torch.ones(tokens, tokens, dtype=torch.bool).tril())
        self.register_buffer("additive", torch.zeros(1, 1, 1, tokens))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        qc, kc, vc = q.contiguous(), k.contiguous(), v.contiguous()
        sdpa = F.scaled_dot_product_attention
        outs = (
            sdpa(q, k, v),
            sdpa(qc, kc, vc),
            sdpa(q, k, v, attn_mask=self.keep),
            sdpa(q, k, v, self.additive),
            sdpa(q, k, v, attn_mask=self.bias),  # 3-D learned bias: the math kernel
            sdpa(q, k, v, attn_mask=self.bias.detach().unsqueeze(0)),
            sdpa(q, k, v, is_causal=True, scale=0.25),
            sdpa(query=q, key=k, value=v[..., :4]),  # narrower value: the math kernel
            sdpa(q, k, v, dropout_p=0.1),
            sdpa(qc[0], kc[0], vc[0], attn_mask=self.keep),  # 3-D
            sdpa(q[:, :, :, :4], k[:, :, :, :4], v[:, :, :, :4]),  # a query that is not dense
            sdpa(*self.qkv(x).view(b, n, 3, self.heads, -1).transpose(1, 3).unbind(2)),  # (b, h, n, d) views
        )
        return tuple(o.transpose(1, 2).reshape(o.shape[0], o.shape[2], -1) for o in outs)


class GroupedQueryAttention(nn.Module):
    """Grouped-query attention as Llama-family models write it (``enable_gqa``: 4 query heads over 2 or 1
    key/value heads): a query split from a projection (the flash kernel keeps its layout) or contiguous, a
    mask, causal, dropout (the math kernel), and one key/value head shared by all."""

    def __init__(self, dim: int = 16, heads: int = 4, groups: int = 2) -> None:
        super().__init__()
        self.heads, self.groups, self.size = heads, groups, dim // heads
        self.q, self.kv = nn.Linear(dim, dim), nn.Linear(dim, 2 * groups * (dim // heads))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, n, _ = x.shape
        q = self.q(x).view(b, n, self.heads, self.size).transpose(1, 2)
        k, v = self.kv(x).view(b, n, 2, self.groups, self.size).permute(2, 0, 3, 1, 4).unbind(0)
        k, v = k.contiguous(), v.contiguous()
        sdpa = F.scaled_dot_product_attention
        outs = (
            sdpa(q, k, v, enable_gqa=True),
            sdpa(q.contiguous(), k, v, enable_gqa=True),
            sdpa(q, k, v, attn_mask=torch.ones(n, n, dtype=torch.bool).tril(), enable_gqa=True),
            sdpa(q, k, v, is_causal=True, enable_gqa=True),
            sdpa(q, k, v, dropout_p=0.1, enable_gqa=True),
            sdpa(q, k[:, :1], v[:, :1], enable_gqa=True),
        )
        return tuple(o.transpose(1, 2).reshape(b, n, -1) for o in outs)


@pytest.mark.parametrize("shape", [(2, 6, 16), (1, 6, 16)])
def test_grouped_query_attention_records_what_a_fake_run_records(shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """The flash kernel's layout under grouped heads as FakeTensorMode gives it (the real CPU kernel's:
    the meta device would pick the math kernel), so the transpose-and-reshape after it copies only where
    the fake run's does; every call answered by the rule, no FakeTensorMode built."""
    assert_rules_record_what_fake_records(GroupedQueryAttention().eval(), shape)
    built = count_fake_modes(monkeypatch)
    trace_model(GroupedQueryAttention().eval(), shape)
    assert not built


@pytest.mark.parametrize("shape", [(2, 6, 16), (1, 6, 16)])
def test_attention_rule_records_what_a_fake_run_records(shape: tuple[int, ...]) -> None:
    model = AttentionVariants().eval()
    assert_rules_record_what_fake_records(model, shape)


def test_attention_as_transformers_write_it_needs_no_fake_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Heads split from one projection, a boolean mask, the output merged back: closed forms throughout."""

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv, self.out = nn.Linear(16, 48), nn.Linear(16, 16)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            b, n, c = x.shape
            q, k, v = self.qkv(x).view(b, n, 3, 2, c // 2).permute(2, 0, 3, 1, 4).unbind(0)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
            return self.out(y.transpose(1, 2).reshape(b, n, c))

    built = count_fake_modes(monkeypatch)
    inputs = (torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool))
    traced = trace_model(SelfAttention().eval(), inputs)
    assert traced.node_outcomes and not built


def test_like_strides_are_what_empty_like_gives() -> None:
    """Every permutation of a 4-D tensor, sliced to be dense, not dense, or with size-1 dims."""
    import itertools

    for order in itertools.permutations(range(4)):
        base = torch.empty(3, 1, 4, 5).permute(order)
        for t in (base, base[..., :2], base[:2], base.transpose(0, 2)[::2]):
            assert like_strides(tuple(t.shape), tuple(t.stride())) == torch.empty_like(t).stride(), (order, t.stride())
