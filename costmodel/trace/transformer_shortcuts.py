"""Closed-form rules for torch.nn's transformer layers at inference: ``nn.MultiheadAttention`` where it
takes PyTorch's fused kernel, and ``nn.TransformerEncoderLayer`` / ``nn.TransformerEncoder`` built from
it and the layer rules, recorded op for op as these modules run under the recorder.

``nn.MultiheadAttention`` runs ``aten::_native_multi_head_attention`` in eval under no_grad when its own
fast-path conditions hold (the recorder lets it decide as eager inference does): self-attention (one
tensor as query, key and value), batched (3-D) and batch-first, an even head count, packed input
projections with biases of the query's dtype, no extra key/value biases or zero attention, no masks,
fast paths enabled and autocast off, on CPU or CUDA. Its outputs are the attention (B, L, E) and the
weights: (B, L, S) averaged over heads, (B, H, L, S) per head, or an empty tensor when not asked for.

An encoder layer's own fused path is never taken under the recorder's torch-function mode, so its
forward runs its blocks one by one: self-attention (weights not asked for), residual add, layer norm
(before or after each block, ``norm_first``), then linear, activation, linear and a residual add;
dropout is the identity at inference. The encoder runs its layers in turn and its final norm if any.
Anything else (masks, training, other activations, unbatched input) returns None and runs faked.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace import elementwise_shortcuts as elementwise
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.function_shortcuts import activation_call
from costmodel.trace.layer_shortcuts import layer_norm, linear
from costmodel.trace.shortcut_helpers import Result, is_traced_tensor, named_arguments, pending_like, trimmed

__all__ = ["encoder", "encoder_layer", "multi_head_attention"]

_MHA = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights", "is_causal")
_MHA_DEFAULTS = {
    "key_padding_mask": None,
    "need_weights": True,
    "attn_mask": None,
    "average_attn_weights": True,
    "is_causal": False,
}


def _fused(module: Any, x: Any) -> bool:
    """Whether ``module`` (an nn.MultiheadAttention) takes the fused kernel for self-attention on ``x``
    with no masks, as its forward decides in eval under no_grad."""
    if not torch.backends.mha.get_fastpath_enabled() or torch.is_autocast_enabled() or module.training:
        return False
    if x.dim() != 3 or x.device.type not in ("cpu", "cuda") or not module.batch_first or module.num_heads % 2:
        return False
    if module.bias_k is not None or module.bias_v is not None or module.add_zero_attn or not module._qkv_same_embed_dim:
        return False
    weight, bias = module.in_proj_weight, module.in_proj_bias
    if weight is None or bias is None or weight.dtype != x.dtype or bias.dtype != x.dtype:
        return False
    out = module.out_proj
    return out.bias is not None and out.weight.dtype == x.dtype and x.shape[-1] == module.embed_dim


def multi_head_attention(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``attn(x, x, x, need_weights=..., average_attn_weights=...)`` on the fused kernel: (attention,
    weights) and one ``aten::_native_multi_head_attention`` with its trailing default arguments dropped
    as the dispatcher hands them over."""
    given = named_arguments(args, kwargs, _MHA)
    if given is None or set(given) - set(_MHA):
        return None
    p = {**_MHA_DEFAULTS, **given}
    x = p["query"]
    if not is_traced_tensor(x) or p["key"] is not x or p["value"] is not x:
        return None
    if p["key_padding_mask"] is not None or p["attn_mask"] is not None or p["is_causal"] is not False:
        return None
    need, average = p["need_weights"], p["average_attn_weights"]
    if type(need) is not bool or type(average) is not bool or not _fused(module, x):
        return None
    b, length, e = x.shape
    out = pending_like(x, (b, length, e), mode)
    if not need:
        weights = pending_like(x, (0,), mode)
    else:
        weights = pending_like(x, (b, length, length) if average else (b, module.num_heads, length, length), mode)
    xm = TensorMeta.of(x)
    params = tuple(
        TensorMeta.of(t) for t in (module.in_proj_weight, module.in_proj_bias, module.out_proj.weight, module.out_proj.bias)
    )
    trailing = trimmed([None, need, average], [None, True, True])  # mask, need_weights, average_attn_weights
    call_args = (xm, xm, xm, module.embed_dim, module.num_heads, *params, *trailing)
    outputs = (TensorMeta.of(out), TensorMeta.of(weights))
    return (out, weights), [AtenCall("aten::_native_multi_head_attention", call_args, {}, (xm, *params), outputs)]


def _activation(function: Any, x: Any, mode: LazyFakeMode) -> Result | None:
    """The layer's activation (``F.relu``, ``F.gelu`` or an ``nn.ReLU``/``nn.GELU``) of a contiguous ``x``."""
    if not x.is_contiguous():
        return None
    options: dict[str, Any] = {}
    if function is F.relu or type(function) is nn.ReLU:
        op = "aten::relu"
    elif function is F.gelu or type(function) is nn.GELU:
        op = "aten::gelu"
        approximate = getattr(function, "approximate", "none")
        options = {"approximate": approximate} if approximate != "none" else {}
    else:
        return None
    if getattr(function, "inplace", False):
        return None
    out = pending_like(x, tuple(x.shape), mode)
    return out, [activation_call(op, x, out, False, (), options)]


def _add(a: Any, b: Any, mode: LazyFakeMode) -> Result | None:
    return elementwise.FUNCTIONS[operator.add]((a, b), {}, mode)


def _norm(norm: Any, x: Any, mode: LazyFakeMode) -> Result | None:
    if type(norm) is not nn.LayerNorm:
        return None
    return layer_norm(x, tuple(norm.normalized_shape), norm.weight, norm.bias, norm.eps, mode)


def encoder_layer(module: Any, x: Any, mode: LazyFakeMode) -> Result | None:
    """``nn.TransformerEncoderLayer`` in eval on a batch-first ``x`` with no masks (module docstring)."""
    if module.training or type(module.linear1) is not nn.Linear or type(module.linear2) is not nn.Linear:
        return None
    calls: list[AtenCall] = []

    def step(result: Result | None) -> Any:
        if result is None:
            raise _NotRuled
        calls.extend(result[1])
        return result[0]

    def attention(h: Any) -> Any:
        return step(multi_head_attention(module.self_attn, (h, h, h), {"need_weights": False}, mode))[0]

    def feed_forward(h: Any) -> Any:
        hidden = step(linear(h, module.linear1.weight, module.linear1.bias, mode))
        return step(linear(step(_activation(module.activation, hidden, mode)), module.linear2.weight, module.linear2.bias, mode))

    try:
        if module.norm_first:
            x = step(_add(x, attention(step(_norm(module.norm1, x, mode))), mode))
            x = step(_add(x, feed_forward(step(_norm(module.norm2, x, mode))), mode))
        else:
            x = step(_norm(module.norm1, step(_add(x, attention(x), mode)), mode))
            x = step(_norm(module.norm2, step(_add(x, feed_forward(x), mode)), mode))
    except _NotRuled:
        return None
    return x, calls


def encoder(module: Any, x: Any, mode: LazyFakeMode) -> Result | None:
    """``nn.TransformerEncoder``: each layer's rule in turn, then its final norm where it has one."""
    if module.training or any(type(layer) is not nn.TransformerEncoderLayer for layer in module.layers):
        return None
    calls: list[AtenCall] = []
    for layer in module.layers:
        result = encoder_layer(layer, x, mode)
        if result is None:
            return None
        x = result[0]
        calls.extend(result[1])
    if module.norm is not None:
        result = _norm(module.norm, x, mode)
        if result is None:
            return None
        x = result[0]
        calls.extend(result[1])
    return x, calls


class _NotRuled(Exception):
    """A block of the layer has no closed-form rule: the whole layer runs faked."""
