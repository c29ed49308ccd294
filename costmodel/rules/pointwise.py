"""Element-wise maps, normalisations, softmax and reductions.

Element-wise maps count 1 FLOP per output element whatever their inner arithmetic (a transcendental's
cost is a runtime matter, captured by calibration); reductions count 1 per input element;
normalisations and softmax count the stated constants below (docs/CONVENTIONS.md). MAC is every
distinct input at its own (pre-broadcast) size plus every output.
"""

from __future__ import annotations

from costmodel.rules.base import AtenCall, OpCost, rule
from costmodel.rules.tensor_meta import TensorMeta

#: Softmax and log-softmax: max, subtract, exp, sum, divide (or log) — 5 per element.
SOFTMAX_FLOPS_PER_ELEMENT = 5
#: Layer/group/instance norm with an affine transform: mean, variance, normalise (2), scale-shift —
#: 5 per element (fvcore's count); 4 without the affine part.
NORM_FLOPS_PER_ELEMENT = 5
#: RMS norm: square, mean, scale by the reciprocal root, and the weight — 4 per element; 3 without weight.
RMS_NORM_FLOPS_PER_ELEMENT = 4
#: Inference batch norm is y = x·a + b per channel: 2 per element with affine, 1 without (fvcore).
BATCH_NORM_EVAL_FLOPS_PER_ELEMENT = 2

ACTIVATIONS = (
    "relu", "relu6", "hardtanh", "sigmoid", "tanh", "hardswish", "hardsigmoid", "silu", "gelu", "leaky_relu",
    "elu", "celu", "selu", "mish", "softplus", "softshrink", "hardshrink", "threshold", "clamp", "clamp_min",
    "clamp_max", "clip", "log_sigmoid_forward", "_prelu_kernel", "prelu", "glu", "rrelu_with_noise", "logit",
)  # fmt: skip

ARITHMETIC = (
    "add", "sub", "rsub", "mul", "div", "true_divide", "floor_divide", "neg", "abs", "pow", "sqrt", "rsqrt",
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "asin", "acos", "atan",
    "atan2", "sinh", "cosh", "asinh", "acosh", "atanh", "reciprocal", "square", "sign", "sgn", "floor", "ceil",
    "round", "trunc", "frac", "erf", "erfc", "erfinv", "remainder", "fmod", "maximum", "minimum", "fmax", "fmin",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "logical_and", "logical_or", "logical_xor",
    "bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor", "where", "masked_fill", "lerp", "addcmul",
    "addcdiv", "hypot", "nan_to_num", "isnan", "isinf", "isfinite", "signbit", "xlogy", "copysign",
    "heaviside", "_softmax_backward_data", "sigmoid_backward", "tanh_backward", "threshold_backward",
)  # fmt: skip

REDUCTIONS = (
    "sum", "mean", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std", "var_mean",
    "std_mean", "norm", "linalg_vector_norm", "logsumexp", "any", "all", "cumsum", "cumprod", "cummax",
    "cummin", "logcumsumexp", "topk", "sort", "argsort", "median", "nanmedian", "mode", "kthvalue", "count_nonzero",
    "nansum", "aminmax", "_weight_norm_interface", "histc", "bincount", "histogram", "_is_all_true", "_is_any_true",
)  # fmt: skip


@rule(*ACTIVATIONS, family="activation")
def activation(call: AtenCall) -> OpCost:
    """Element-wise nonlinearity: FLOPs = 1 per output element; MAC = in + out (in-place still reads
    and writes every element)."""
    return OpCost(call.output.numel, call.io_elements(1), kind=call.short.rstrip("_"))


@rule(*ARITHMETIC, family="elementwise")
def arithmetic(call: AtenCall) -> OpCost:
    """Element-wise arithmetic, comparisons and selections (with broadcasting): FLOPs = 1 per output
    element; MAC = each distinct tensor operand at its own size + out."""
    return OpCost(call.output.numel, call.io_elements(), kind="broadcast" if _broadcasts(call) else "elementwise")


def _broadcasts(call: AtenCall) -> bool:
    return any(t.numel != call.output.numel for t in call.inputs)


@rule("fill", "zero", family="elementwise")
def fill(call: AtenCall) -> OpCost:
    """Writing a constant into a tensor: FLOPs = 0; MAC = the elements written."""
    return OpCost(0, call.output.numel, kind="copy")


@rule("_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax", family="activation")
def softmax(call: AtenCall) -> OpCost:
    """Softmax / log-softmax: FLOPs = 5 per element (max, subtract, exp, sum, divide); MAC = in + out."""
    return OpCost(SOFTMAX_FLOPS_PER_ELEMENT * call.output.numel, call.io_elements(1), kind="softmax")


@rule(
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "batch_norm",
    "_batch_norm_impl_index",
    "cudnn_batch_norm",
    "miopen_batch_norm",
    family="norm",
)
def batch_norm(call: AtenCall) -> OpCost:
    """Batch norm with running statistics (inference) is y = x·a + b per channel: FLOPs = 2 per element
    with affine, 1 without (fvcore); with statistics computed from the input (training flag set, as
    instance norm does) it is a layer norm over each channel: 5 per element with affine, 4 without.
    MAC = in + out + weight, bias, running mean and var (what the kernel reads) + saved statistics."""
    x = call.args[0]
    affine = isinstance(call.arg(1, "weight"), TensorMeta)
    if call.short == "_native_batch_norm_legit_no_training":
        batch_stats = False
    elif call.short == "_native_batch_norm_legit":
        batch_stats = bool(call.arg(5, "training", True)) if len(call.args) > 5 else True
    else:
        batch_stats = bool(call.arg(5, "training", False))
    per = (NORM_FLOPS_PER_ELEMENT if affine else NORM_FLOPS_PER_ELEMENT - 1) if batch_stats else (2 if affine else 1)
    return OpCost(x.numel * per, call.io_elements(), kind="batch_norm")


@rule("native_layer_norm", "layer_norm", "native_group_norm", "group_norm", family="norm")
def layer_group_norm(call: AtenCall) -> OpCost:
    """Layer / group norm compute statistics at run time: FLOPs = 5 per element with affine, 4 without
    (fvcore's count); MAC = in + out + weight and bias + the per-row mean and rstd it writes."""
    x = call.args[0]
    weight_index = 2 if "layer_norm" in call.short else 1
    affine = isinstance(call.arg(weight_index, "weight"), TensorMeta)
    flops = x.numel * (NORM_FLOPS_PER_ELEMENT if affine else NORM_FLOPS_PER_ELEMENT - 1)
    return OpCost(flops, call.io_elements(), kind="layer_norm" if "layer_norm" in call.short else "group_norm")


@rule("_fused_rms_norm", "rms_norm", family="norm")
def rms_norm(call: AtenCall) -> OpCost:
    """RMS norm: FLOPs = 4 per element with a weight, 3 without; MAC = in + out + weight + statistics."""
    x = call.args[0]
    weighted = isinstance(call.arg(2, "weight"), TensorMeta)
    return OpCost(x.numel * (RMS_NORM_FLOPS_PER_ELEMENT - (0 if weighted else 1)), call.io_elements(), kind="layer_norm")


#: losses with one element-wise term per input element (``reduction`` none, mean or sum)
ELEMENTWISE_LOSSES = (
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "soft_margin_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
)  # fmt: skip


@rule(*ELEMENTWISE_LOSSES, family="reduction")
def elementwise_loss(call: AtenCall) -> OpCost:
    """A loss a forward computes (a codec's commitment loss): the element-wise term, 1 FLOP per input
    element, then, reduced to a mean or sum (an output smaller than the input), 1 per input element more;
    MAC = every distinct input (targets and weights too) + the output."""
    elements = call.args[0].numel
    reduced = call.output.numel < elements
    return OpCost(elements * (2 if reduced else 1), call.io_elements(), kind="reduce" if reduced else "elementwise")


@rule("nll_loss_forward", "nll_loss2d_forward", family="reduction")
def nll_loss(call: AtenCall) -> OpCost:
    """Negative log-likelihood (``F.nll_loss``, the second half of ``F.cross_entropy``): one log-probability
    picked per target element, 1 FLOP each, and 1 per target element more when reduced to a mean or sum;
    MAC = the inputs (log-probabilities, targets, class weights) + the outputs (loss, total weight)."""
    targets = call.args[1].numel
    reduced = call.output.numel < targets
    return OpCost(targets * (2 if reduced else 1), call.io_elements(), kind="reduce")


@rule(*REDUCTIONS, family="reduction")
def reduction(call: AtenCall) -> OpCost:
    """Reductions, scans, sorts and top-k: FLOPs = 1 per input element; MAC = in + outputs."""
    return OpCost(call.args[0].numel, call.io_elements(), kind="reduce")
