"""The backward ops autograd runs, costed like the forward ops (multiply-adds; MAC = tensors read +
written). Each gradient is costed as the kernel that computes it, never as a multiple of the forward.

Contractions: a conv's input gradient is the transposed conv of the output gradient with the weight,
and its weight gradient the conv of the input with the output gradient; each has the forward's
multiply-adds (groups included). Attention's backward recomputes the scores and runs four more
products. Bias gradients (sums of the output gradient) are not counted, as the forward's bias is not.
Element-wise gradients count 1 per output element, as the element-wise forward ops do; normalisation
backward ``NORM_BACKWARD_FLOPS_PER_ELEMENT``; a window op's adjoint does its forward's arithmetic.
"""

from __future__ import annotations

import math

from costmodel.rules.base import AtenCall, OpCost, rule
from costmodel.rules.contractions import attention_macs
from costmodel.rules.tensor_meta import TensorMeta

#: Batch/layer/group norm backward per element: recompute x̂ (2), Σg and Σg·x̂ (3), and
#: dx = scale·(g − Σg/M − x̂·Σg·x̂/M) (4).
NORM_BACKWARD_FLOPS_PER_ELEMENT = 9

ACTIVATION_BACKWARDS = (
    "hardtanh_backward", "gelu_backward", "silu_backward", "hardswish_backward", "hardsigmoid_backward",
    "leaky_relu_backward", "elu_backward", "softplus_backward", "mish_backward", "log_sigmoid_backward",
    "glu_backward", "softshrink_backward", "hardshrink_backward", "rrelu_with_noise_backward",
    "_prelu_kernel_backward", "logit_backward", "native_dropout_backward",
)  # fmt: skip


def _mask(call: AtenCall, index: int, keyword: str, outputs: int) -> list[bool]:
    mask = call.arg(index, keyword)
    return [bool(m) for m in mask] if isinstance(mask, (list, tuple)) else [True] * outputs


@rule("convolution_backward", family="conv")
def convolution_backward(call: AtenCall) -> OpCost:
    """Gradients of a conv (x: N×c1×…, weight c2×c1/g×k…, grad_out N×c2×…): grad_input and grad_weight
    each cost the forward's multiply-adds, F = grad_out elements·(c1/g)·Πk (transposed:
    x elements·(c2/g)·Πk); FLOPs = F per gradient asked for (output_mask); MAC = grad_out + x (for
    grad_weight) + weight (for grad_input) + the gradients written."""
    grad_out, x, weight = call.args[0], call.args[1], call.args[2]
    transposed = bool(call.arg(7, "transposed", False))
    mask = _mask(call, 10, "output_mask", 3)
    taps = weight.shape[1] * math.prod(weight.shape[2:])
    forward = (x.numel if transposed else grad_out.numel) * taps
    flops = forward * (int(mask[0]) + int(mask[1]))
    read = grad_out.numel + (x.numel if mask[1] else 0) + (weight.numel if mask[0] else 0)
    written = sum(t.numel for t in call.outputs)
    return OpCost(flops, read + written, kind="conv_backward")


@rule("native_batch_norm_backward", "native_layer_norm_backward", "native_group_norm_backward", family="norm")
def norm_backward(call: AtenCall) -> OpCost:
    """Normalisation backward: FLOPs = 9 per element of the input (see NORM_BACKWARD_FLOPS_PER_ELEMENT);
    MAC = every tensor read (grad_out, input, weight, statistics) + the gradients written."""
    x = call.args[1]
    return OpCost(NORM_BACKWARD_FLOPS_PER_ELEMENT * x.numel, call.io_elements(), kind="norm_backward")


#: Weight norm backward per element of v (w = g·v/‖v‖): grad_g = Σ grad_w·v/‖v‖ (2) and
#: grad_v = (g/‖v‖)·(grad_w − v·grad_g/‖v‖) (3).
WEIGHT_NORM_BACKWARD_FLOPS_PER_ELEMENT = 5


@rule("_weight_norm_interface_backward", family="norm")
def weight_norm_backward(call: AtenCall) -> OpCost:
    """Weight norm backward: FLOPs = 5 per element of v (see WEIGHT_NORM_BACKWARD_FLOPS_PER_ELEMENT);
    MAC = grad_w, v, g and the saved norms read + grad_v and grad_g written."""
    v = call.args[1]
    return OpCost(WEIGHT_NORM_BACKWARD_FLOPS_PER_ELEMENT * v.numel, call.io_elements(), kind="norm_backward")


@rule(*ACTIVATION_BACKWARDS, family="activation")
def activation_backward(call: AtenCall) -> OpCost:
    """Element-wise gradient: FLOPs = 1 per output element; MAC = grad_out + the saved input or output
    it reads + the gradient written."""
    return OpCost(call.output.numel, call.io_elements(), kind="elementwise")


@rule(
    "max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward", "avg_pool2d_backward",
    "avg_pool3d_backward", "_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward",
    "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward", "fractional_max_pool2d_backward",
    "fractional_max_pool3d_backward",
    family="pool",
)  # fmt: skip
def pool_backward(call: AtenCall) -> OpCost:
    """Pooling backward, the adjoint of the window op: average pooling spreads each output gradient over
    its window (FLOPs = grad_out elements·window taps, adaptive: 1 per input element); max pooling
    scatters each output gradient to the saved argmax (FLOPs = 0: no arithmetic). MAC = grad_out + the
    indices or input read + grad_input written."""
    grad_out = call.args[0]
    if "max" in call.short:
        flops = 0
    elif "adaptive" in call.short:
        flops = call.output.numel
    else:
        kernel = call.arg(2, "kernel_size")
        taps = math.prod(kernel) if isinstance(kernel, (list, tuple)) and kernel else 1
        if isinstance(kernel, (list, tuple)) and len(kernel) == 1:
            taps = kernel[0] ** (2 if "2d" in call.short else 3)
        flops = grad_out.numel * taps
    return OpCost(flops, call.io_elements(), kind="pool_backward")


@rule(
    "upsample_nearest1d_backward", "upsample_nearest2d_backward", "upsample_nearest3d_backward",
    "_upsample_nearest_exact1d_backward", "_upsample_nearest_exact2d_backward", "_upsample_nearest_exact3d_backward",
    "upsample_linear1d_backward", "upsample_bilinear2d_backward", "upsample_bicubic2d_backward",
    "upsample_trilinear3d_backward",
    family="resample",
)  # fmt: skip
def resample_backward(call: AtenCall) -> OpCost:
    """Interpolation backward, the adjoint: each output gradient is spread over its taps (nearest 1,
    linear 2, bilinear 4, bicubic 16, trilinear 8): FLOPs = grad_out elements·taps; MAC = in + out."""
    from costmodel.rules.movement import RESAMPLE_TAPS

    mode = next((m for m in ("bicubic", "trilinear", "bilinear", "linear", "nearest") if m in call.short), "bilinear")
    return OpCost(call.args[0].numel * RESAMPLE_TAPS[mode], call.io_elements(), kind="resample")


@rule("embedding_dense_backward", family="embedding")
def embedding_backward(call: AtenCall) -> OpCost:
    """Embedding backward: each gathered row's gradient is added into the weight gradient: FLOPs = 1 per
    grad_out element; MAC = grad_out + indices + the weight gradient written (whole table, zeroed)."""
    return OpCost(call.args[0].numel, call.io_elements(), kind="scatter")


@rule("select_backward", "slice_backward", "diagonal_backward", "unfold_backward", "as_strided_backward", family="copy")
def view_backward(call: AtenCall) -> OpCost:
    """Backward of a view that selects part of a tensor: a zero tensor of the base's size with the
    gradient copied into the part: FLOPs = 0; MAC = grad_out read + the base-sized gradient written."""
    return OpCost(0, call.io_elements(), kind="copy")


@rule(
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_cudnn_attention_backward",
    "_scaled_dot_product_fused_attention_overrideable_backward",
    family="attention",
)
def attention_backward(call: AtenCall) -> OpCost:
    """Attention backward (q: B·H×L×E, k: B·H×S×E, v: B·H×S×Ev): it recomputes the scores q·kᵀ, then
    grad_scores = g·vᵀ, grad_v = pᵀ·g, grad_q = ds·k, grad_k = dsᵀ·q: FLOPs = B·H·L·S·(3E + 2Ev)
    (flop_counter's count, halved); MAC = every tensor read (grad_out, q, k, v, out, statistics) + the
    three gradients written."""
    grad_out, q, k, v = call.args[0], call.args[1], call.args[2], call.args[3]
    if not all(isinstance(t, TensorMeta) for t in (grad_out, q, k, v)):
        return OpCost(0, call.io_elements(), kind="attention")
    forward, _, _ = attention_macs(q, k, v, grad_out.numel, 0)  # B·H·L·S·(E + Ev)
    bh, length, s = math.prod(q.shape[:-2]), q.shape[-2], k.shape[-2]
    flops = forward + bh * length * s * (2 * q.shape[-1] + v.shape[-1])
    return OpCost(flops, call.io_elements(), kind="attention")
