"""Contractions: convolutions, matrix products, attention and recurrent layers.

FLOPs are multiply-adds of the contraction, exactly ``torch.utils.flop_counter``'s count halved
(an m×n output contracted over k costs m·n·k). The conv and 2-D matmul closed forms and their proved
MAC bounds come from ``formulas`` (the same sympy expressions ``verify`` proves).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

from costmodel.rules import closed_forms
from costmodel.rules.base import AtenCall, OpCost, rule
from costmodel.rules.tensor_meta import TensorMeta


def _fold(sizes: tuple[int, ...]) -> tuple[int, int]:
    """Fold 1-, 2- or 3-D spatial sizes into (h, w): 1-D → (L, 1); 3-D → (D·H, W)."""
    if len(sizes) == 1:
        return sizes[0], 1
    return prod(sizes[:-1]), sizes[-1]


def conv_kind(c_in: int, groups: int, taps: int) -> str:
    """'depthwise' (one input channel per group), 'pointwise' / 'grouped_pointwise' (1x1), 'grouped'
    (k×k with several channels per group, as ResNeXt/RegNet), else 'dense'."""
    if groups > 1 and groups == c_in:
        return "depthwise"
    if taps == 1:
        return "grouped_pointwise" if groups > 1 else "pointwise"
    return "grouped" if groups > 1 else "dense"


@rule("convolution", "_convolution", "conv1d", "conv2d", "conv3d", family="conv")
def convolution(call: AtenCall) -> OpCost:
    """Conv: FLOPs = N·h'·w'·c2·(c1/g)·k_h·k_w; MAC = N·h·w·c1 + N·h'·w'·c2 + weights (+ bias);
    bound = 2·√(g·N·h·w·B/(k_h·k_w)) + B/(N·h'·w'), from ``formulas`` (proved in ``verify``).
    Transposed: every input element meets a (c2/g)·k_h·k_w patch, FLOPs = N·h·w·c1·(c2/g)·k_h·k_w
    (as fvcore and flop_counter); MAC = in + out + weights (+ bias); bound = 2·√(g·N·h'·w'·B/(k_h·k_w)) +
    B/(N·h·w): a transposed conv is the adjoint of the conv from its output to its input (areas and
    channels exchanged), whose FLOPs and bias-free MAC are identical, so the proved conv bound applies to
    it with the roles exchanged (equality iff N·h·w·c1 = N·h'·w'·c2; a bias only adds)."""
    x, weight, bias = call.args[0], call.args[1], call.args[2]
    transposed = call.op.endswith("convolution") and bool(call.arg(6, "transposed", False))
    groups = int(call.arg(8, "groups", 1)) if call.op.endswith("convolution") else int(call.arg(6, "groups", 1))
    spatial = len(weight.shape) - 2
    n = x.shape[0] if len(x.shape) == spatial + 2 else 1
    out = call.output
    c1, c2 = x.shape[-spatial - 1], out.shape[-spatial - 1]
    h, w = _fold(x.shape[-spatial:])
    ho, wo = _fold(out.shape[-spatial:])
    kh, kw = _fold(weight.shape[2:])
    if transposed:
        flops = n * prod(x.shape[-spatial - 1 :]) * weight.shape[1] * prod(weight.shape[2:])
        adjoint = closed_forms.conv_cost(n, ho, wo, h, w, c2, c1, kh, kw, groups, False)  # output → input
        return OpCost(flops, call.io_elements(1), adjoint.mac_lower_bound, "transposed")
    cost = closed_forms.conv_cost(n, h, w, ho, wo, c1, c2, kh, kw, groups, bias is not None)
    return OpCost(cost.flops, cost.mac, cost.mac_lower_bound, conv_kind(c1, groups, kh * kw))


def _matrix(call: AtenCall, a: TensorMeta, b: TensorMeta, has_bias: bool) -> OpCost:
    m, k = a.shape[-2] if len(a.shape) > 1 else 1, a.shape[-1]
    n = b.shape[-1] if len(b.shape) > 1 else 1
    cost = closed_forms.linear_cost(m, k, n, has_bias)
    # MAC as the kernel runs it (a bias broadcast from a row counts its own size); the bound is the
    # 1x1-conv bound with N·h·w = m rows, which the bias only adds to
    # one row or one column: a matrix-vector product, bound by streaming the matrix (GEMV), not by compute
    return OpCost(cost.flops, call.io_elements(), cost.mac_lower_bound, "gemv" if 1 in (m, n) else "matmul")


@rule("mm", "mv", "dot", "vdot", family="linear")
def mm(call: AtenCall) -> OpCost:
    """(m×k)·(k×n): FLOPs = m·n·k; MAC = m·k + k·n + m·n; bound 2·√(m·B) + B/m (Eq. (1) with h·w = m)."""
    return _matrix(call, call.args[0], call.args[1], False)


@rule("addmm", "addmv", family="linear")
def addmm(call: AtenCall) -> OpCost:
    """bias + (m×k)·(k×n): FLOPs = m·n·k (the bias add is not counted, as fvcore and flop_counter);
    MAC = bias + m·k + k·n + m·n; bound as ``mm``."""
    return _matrix(call, call.args[1], call.args[2], True)


@rule("bmm", "baddbmm", family="matmul")
def bmm(call: AtenCall) -> OpCost:
    """Batched (b×m×k)·(b×k×n): FLOPs = b·m·n·k; MAC = inputs + out; no proved bound."""
    a = call.args[1] if call.short == "baddbmm" else call.args[0]
    return OpCost(call.output.numel * a.shape[-1], call.io_elements(), None, "matmul")


@rule("_cdist_forward", "_euclidean_dist", family="matmul")
def pairwise_distance(call: AtenCall) -> OpCost:
    """``torch.cdist`` of (…×P×M) and (…×R×M) points (the direct kernel for any p, or the Euclidean one that
    runs as a matrix product): one multiply-add per coordinate of each pair, FLOPs = (…)·P·R·M — the
    contraction ``mm`` counts for the P×M by M×R product; MAC = both point sets + the (…×P×R) output."""
    a = call.args[0]
    return OpCost(call.output.numel * a.shape[-1], call.io_elements(), None, "distance")


@rule("_trilinear", family="matmul")
def trilinear(call: AtenCall) -> OpCost:
    """``_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim)`` (``nn.Bilinear``: y_o = x1ᵀ·W_o·x2 per
    row): each operand with size-1 dims inserted at its ``expand`` positions, the three broadcast to one
    iteration space whose ``sumdim`` dims are summed away. FLOPs = that space's size, one multiply-add per
    term (a bilinear layer, B rows of I1 and I2 features into O: B·O·I1·I2); MAC = the three operands + out."""
    space: list[int] = []
    for operand, expand in zip(call.args[:3], call.args[3:6]):
        shape = expanded_operand(operand.shape, expand)
        space = [max(a, b) for a, b in zip(space, shape)] if space else shape
    return OpCost(prod(space), call.io_elements(), None, "bilinear")


def expanded_operand(shape: Sequence[Any], expand: Sequence[int]) -> list[Any]:
    """A ``_trilinear`` operand's shape in the iteration space: size-1 dims inserted at its ``expand``
    positions (in increasing order, so each names a position of the result)."""
    out = list(shape)
    for d in sorted(expand):
        out.insert(d, 1)
    return out


@rule("_grouped_mm", "grouped_mm", family="matmul")
def grouped_mm(call: AtenCall) -> OpCost:
    """Grouped matrix products (Mixture-of-Experts layers): each output element is one dot product over
    the contraction size K, so FLOPs = output elements × K — for tokens (S×K) routed to expert weights
    (E×K×N), S·N·K; for groups along K (M×K by K×N, G groups), M·N·K. MAC = inputs (every expert's
    weights, as the kernel is given them; which experts receive tokens is data) + offsets + output."""
    a, b = call.args[0], call.args[1]
    if len(a.shape) == 2 and len(b.shape) == 2:  # groups split the contraction: out is G×M×N
        flops = a.shape[0] * b.shape[1] * a.shape[1]
    else:
        flops = call.output.numel * a.shape[-1]
    return OpCost(flops, call.io_elements(), None, "matmul")


def attention_macs(q: TensorMeta, k: TensorMeta, v: TensorMeta, out_elements: int, extra: int) -> tuple[int, int, int]:
    """(FLOPs, fused MAC, unfused MAC) of softmax(q·kᵀ)·v with batch-and-heads B·H, L queries, S keys:
    FLOPs = B·H·L·S·(E + Ev); fused MAC = q + k + v + out + ``extra`` (mask); the unfused math path
    also writes the L×S scores, reads them for the softmax, writes the probabilities and reads them
    for the second product: + 4·B·H·L·S."""
    bh = prod(q.shape[:-2])
    length, e = q.shape[-2], q.shape[-1]
    s, ev = k.shape[-2], v.shape[-1]
    flops = bh * length * s * (e + ev)
    fused = q.numel + k.numel + v.numel + out_elements + extra
    return flops, fused, fused + 4 * bh * length * s


@rule(
    "scaled_dot_product_attention",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
    family="attention",
)
def scaled_dot_product_attention(call: AtenCall) -> OpCost:
    """Attention (q: B·H×L×E, k: B·H×S×E, v: B·H×S×Ev): FLOPs = B·H·L·S·(E + Ev), the two products
    (flop_counter's count halved); MAC = q + k + v + out (+ mask) as the fused kernel moves it, and the
    unfused math path's MAC (+ 4·B·H·L·S for the score matrix) beside it. Extra kernel outputs
    (log-sum-exp statistics) are not counted."""
    q, k, v = call.args[0], call.args[1], call.args[2]
    mask = call.arg(3, "attn_mask") if call.short == "scaled_dot_product_attention" else call.kwargs.get("attn_mask")
    if not isinstance(mask, TensorMeta):
        mask = next((a for a in call.args[3:] if isinstance(a, TensorMeta)), None)
    extra = mask.numel if isinstance(mask, TensorMeta) else 0
    flops, fused, unfused = attention_macs(q, k, v, call.output.numel, extra)
    return OpCost(flops, fused, None, "attention", unfused)


@rule("_native_multi_head_attention", family="attention")
def native_multi_head_attention(call: AtenCall) -> OpCost:
    """nn.MultiheadAttention's fused inference kernel (q: B×L×E, k, v: B×S×E, H heads) as its three
    stages: in-projection FLOPs = B·E²·(L + 2S), attention 2·B·L·S·E, out-projection B·L·E²; MAC =
    inputs, weights and outputs + the projected q, k, v written and read (2·B·(L + 2S)·E) + the
    attention output written and read (2·B·L·E); unfused adds 4·B·H·L·S for the score matrix."""
    q, k = call.args[0], call.args[1]
    e, heads = int(call.args[3]), int(call.args[4])
    b = prod(q.shape[:-2]) if len(q.shape) > 2 else 1
    length, s = q.shape[-2], k.shape[-2]
    flops = b * e * e * (length + 2 * s) + 2 * b * length * s * e + b * length * e * e
    mac = call.io_elements() + 2 * b * (length + 2 * s) * e + 2 * b * length * e
    return OpCost(flops, mac, None, "attention", mac + 4 * b * heads * length * s)


@rule("mkldnn_rnn_layer", family="rnn")
def rnn_layer(call: AtenCall) -> OpCost:
    """One recurrent layer in one direction over T steps of B rows (LSTM: 4 gates, GRU: 3, RNN: 1):
    FLOPs = T·B·(numel(W_ih) + numel(W_hh)), the two gate products per step (the gates' element-wise
    work is not counted, as flop_counter and fvcore count only the products); MAC = inputs + weights +
    states + outputs."""
    x, w_ih, w_hh = call.args[0], call.args[1], call.args[2]
    steps_rows = prod(x.shape[:-1])
    return OpCost(steps_rows * (w_ih.numel + w_hh.numel), call.io_elements(), None, "rnn")
