"""Discrete Fourier transforms (``torch.fft``): FNet's token mixing, spectral filters, audio front ends."""

from __future__ import annotations

import math

from costmodel.rules.base import AtenCall, OpCost, rule
from costmodel.rules.tensor_meta import TensorMeta

#: A radix-2 FFT of L complex points takes a nominal 5·L·log2 L real operations (the figure FFT
#: benchmarks report), that is 5/2·L·log2 L multiply-adds.
FFT_MULTIPLY_ADDS_PER_POINT_LOG2 = 2.5


def _real_elements(t: TensorMeta) -> int:
    """A tensor's elements counting a complex element as two (its real and imaginary parts)."""
    return t.numel * (2 if t.dtype.is_complex else 1)


@rule("_fft_c2c", "_fft_r2c", "_fft_c2r", family="spectral")
def fft(call: AtenCall) -> OpCost:
    """An FFT over the dims ``dim`` (L = the product of their sizes on the complex side's full length):
    FLOPs = 5/2 · N · log2 L multiply-adds for N complex points (c2c), half that for a real input or
    output (r2c: N real inputs; c2r: N real outputs), floored to an integer; MAC = in + out, a complex
    element counting as two."""
    dims = call.args[1] if len(call.args) > 1 and isinstance(call.args[1], (list, tuple)) else []
    real_side = call.output if call.short == "_fft_c2r" else call.args[0]
    length = math.prod(real_side.shape[d] for d in dims)
    points = real_side.numel
    flops = FFT_MULTIPLY_ADDS_PER_POINT_LOG2 * points * math.log2(length) if length > 1 else 0.0
    if call.short != "_fft_c2c":
        flops /= 2
    mac = sum(_real_elements(t) for t in call.inputs) + sum(_real_elements(t) for t in call.outputs)
    return OpCost(int(flops), mac, kind="fft")


@rule("polar", "complex", family="elementwise")
def complex_from_parts(call: AtenCall) -> OpCost:
    """A complex tensor built element-wise from two real ones: ``torch.polar(r, θ)`` (r·cos θ, r·sin θ:
    an ISTFT head's spectrum) and ``torch.complex(re, im)``. FLOPs = 1 per real component written (2 per
    complex output element, the element-wise convention applied to each part); MAC = in + out, a complex
    element counting as two."""
    mac = sum(_real_elements(t) for t in call.inputs) + sum(_real_elements(t) for t in call.outputs)
    return OpCost(_real_elements(call.output), mac, kind="elementwise")
