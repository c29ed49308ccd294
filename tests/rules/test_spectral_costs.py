"""FFT costs (FNet's token mixing, spectral filters): 5/2 · N · log2 L multiply-adds per complex
transform, half for a real input or output, MAC counting a complex element as two. Closed forms here."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from costmodel import analyze


class Spectral(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "fftn":  # FNet: a 2-D transform over tokens and hidden, the real part kept
            return torch.fft.fftn(x, dim=(1, 2)).real
        if self.kind == "rfft":
            return torch.fft.rfft(x, dim=-1)
        return torch.fft.irfft(x.to(torch.complex64), n=2 * (x.shape[-1] - 1), dim=-1)


def _fft_row(kind: str, shape: tuple[int, ...]) -> dict[str, object]:
    report = analyze(Spectral(kind).eval(), shape)
    assert not report.uncounted
    return next(op for row in report.layers for op in row.aten if str(op["op"]).startswith("_fft"))


@pytest.mark.parametrize("shape", [(2, 8, 16), (1, 6, 10), (3, 128, 64)])
def test_complex_transform_is_five_halves_n_log_l(shape: tuple[int, int, int]) -> None:
    op = _fft_row("fftn", shape)
    n, length = math.prod(shape), shape[1] * shape[2]
    assert op["flops"] == int(2.5 * n * math.log2(length))
    assert op["mac"] == 2 * n + 2 * n  # complex in, complex out


@pytest.mark.parametrize("shape", [(2, 8, 16), (1, 3, 10)])
def test_real_to_complex_is_half_and_reads_reals(shape: tuple[int, int, int]) -> None:
    op = _fft_row("rfft", shape)
    n, length = math.prod(shape), shape[-1]
    assert op["flops"] == int(2.5 * n * math.log2(length) / 2)
    onesided = n // length * (length // 2 + 1)
    assert op["mac"] == n + 2 * onesided


def test_complex_to_real_counts_its_real_output() -> None:
    op = _fft_row("irfft", (2, 4, 9))  # 9 one-sided bins → 16 real outputs
    n = 2 * 4 * 16
    assert op["flops"] == int(2.5 * n * math.log2(16) / 2)
    assert op["mac"] == 2 * (2 * 4 * 9) + n


def test_complex_tensors_from_real_parts_are_counted() -> None:
    """torch.polar (an ISTFT head) and torch.complex: 2 FLOPs per complex output element (one per real
    component), MAC = the two real inputs + the output at two reals per element; nothing uncounted."""

    class Spectrum(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            magnitude, phase = x.exp(), x * 3.14
            return torch.polar(magnitude, phase), torch.complex(x, x * 2)

    report = analyze(Spectrum(), (2, 5, 7))
    assert report.uncounted == []
    n = 2 * 5 * 7
    rows = {row.name: row for row in report.layers}
    assert (rows["polar"].flops, rows["polar"].mac) == (2 * n, n + n + 2 * n)
    assert (rows["complex"].flops, rows["complex"].mac) == (2 * n, n + n + 2 * n)
