"""Rules read the right argument: every case here gives each size a distinct value (k ≠ n, kernel ≠
stride), so a rule that reads the wrong operand or argument is off by a visible amount. Expected
figures are closed forms written out here."""

from __future__ import annotations

import torch
from torch import nn

from costmodel import analyze


class _Baddbmm(nn.Module):
    def forward(self, c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(c, a, b)


def test_baddbmm_contracts_over_the_inner_size() -> None:
    b, m, k, n = 2, 3, 5, 7
    inputs = ((torch.empty(b, m, n), torch.empty(b, m, k), torch.empty(b, k, n)), {})
    for fallback in (None, True):
        row = next(r for r in analyze(_Baddbmm(), inputs, fallback=fallback).layers if r.flops)
        assert row.flops == b * m * n * k  # not b·m·n·n
        assert row.mac == b * m * n + b * m * k + b * k * n + b * m * n  # c, a, b read; out written


def _taps(size: int, kernel: int, stride: int, padding: int, outputs: int) -> int:
    """Window elements read by each output along one dimension, windows clipped to the padded input."""
    total = 0
    for i in range(outputs):
        start = i * stride - padding
        total += min(start + kernel, size + padding) - max(start, -padding)
    return total


def test_pooling_reads_its_kernel_not_its_stride() -> None:
    for pool, (k, s, p) in ((nn.MaxPool2d(3, 2, 1), (3, 2, 1)), (nn.AvgPool2d(3, 2), (3, 2, 0))):
        h = w = 9
        out = (h + 2 * p - k) // s + 1
        report = analyze(nn.Sequential(pool), (1, 4, h, w))
        row = next(r for r in report.layers if r.family == "pool")
        assert row.output_shape == [1, 4, out, out]
        assert row.flops == 4 * _taps(h, k, s, p, out) * _taps(w, k, s, p, out), type(pool).__name__
        assert row.mac == 4 * h * w + 4 * out * out


class _GroupNormWeightOnly(nn.Module):
    """F.group_norm with a weight and no bias: the weight, not the bias, says the norm is affine."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.group_norm(x, 2, self.weight, None)


def test_group_norm_reads_its_weight_where_it_is() -> None:
    x = (2, 6, 3, 3)  # 108 elements, 2 × 2 groups of statistics
    row = next(r for r in analyze(_GroupNormWeightOnly(), x).layers if r.flops)
    assert row.flops == 108 * 5  # affine: 5 per element (fvcore's count); 4 without a weight
    assert row.mac == 108 + 108 + 6 + 2 * 2 * 2  # in, out, weight, mean and rstd per (batch, group)


def test_embedding_bag_reads_the_rows_it_sums() -> None:
    vocab, dim, n, bags = 50, 8, 10, 3
    model = nn.EmbeddingBag(vocab, dim, mode="sum")
    inputs = ((torch.zeros(n, dtype=torch.int64), torch.tensor([0, 4, 7])), {})
    row = next(r for r in analyze(model, inputs).layers if r.op in ("EmbeddingBag", "_embedding_bag"))
    assert row.flops == n * dim  # one add per row element summed
    assert row.mac == n * dim + n + bags + bags * dim  # rows read, indices, offsets, output written
