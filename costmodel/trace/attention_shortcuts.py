"""The closed-form rule of ``F.scaled_dot_product_attention`` on CPU, recorded as the composite op the
recorder makes of it (``aten::scaled_dot_product_attention``, whatever kernel runs underneath).

The output's shape is the query's with the value's last size; its layout is the one the kernel torch
picks gives it. The fused CPU flash kernel returns ``empty_like(query)`` (the query's strides); torch
picks it when no dropout is asked, query, key and value are 4-D with one head size and their last
strides 1, no sequence is empty, flash attention is not disabled, and the mask is absent, or 2-D or 4-D
and not requiring grad (with grouped-query attention too: ``enable_gqa``, key and value heads dividing
the query's). Otherwise the math kernel runs, whose product is row-major. The rule covers float32/float64
CPU tensors of matching batch and head counts (or grouped heads), a causal flag or a mask that
broadcasts; anything else runs faked (never on meta, where torch would pick the math kernel). Tests hold
the rule to FakeTensorMode call for call.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.elementwise_shortcuts import broadcast_shape, like_strides
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.pending import as_meta, distinct_tensors
from costmodel.trace.shortcut_helpers import Result, is_any_tensor, is_traced_tensor, named_arguments, pending_like

__all__ = ["FUNCTIONS", "scaled_dot_product_attention"]

_NAMES = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
_DEFAULTS = {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None, "enable_gqa": False}


def _flash_runs(q: Any, k: Any, v: Any, mask: Any, dropout: float) -> bool:
    """Whether CPU dispatch picks the flash kernel (see the module docstring)."""
    if dropout != 0.0 or not torch.backends.cuda.flash_sdp_enabled() or any(t.dim() != 4 for t in (q, k, v)):
        return False
    if q.shape[-1] != v.shape[-1] or any(t.stride()[-1] != 1 for t in (q, k, v)):
        return False
    return mask is None or (not mask.requires_grad and mask.dim() in (2, 4))


def scaled_dot_product_attention(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """softmax(q·kᵀ·scale + mask)·v for q (…, L, E), k (…, S, E), v (…, S, Ev) with equal leading sizes: an
    output of shape (…, L, Ev), q's strides under the flash kernel and row-major under the math kernel;
    one composite call with the arguments as given."""
    given = named_arguments(args, kwargs, _NAMES)
    if given is None or set(given) - set(_NAMES):
        return None
    p = {**_DEFAULTS, **given}
    q, k, v, mask, dropout = p["query"], p["key"], p["value"], p["attn_mask"], p["dropout_p"]
    if not all(is_traced_tensor(t) for t in (q, k, v)) or type(p["enable_gqa"]) is not bool or type(p["is_causal"]) is not bool:
        return None
    if type(dropout) not in (int, float) or (p["is_causal"] and mask is not None):
        return None
    if p["scale"] is not None and type(p["scale"]) not in (int, float):
        return None
    if q.dtype not in (torch.float32, torch.float64) or any(t.dtype != q.dtype or t.device.type != "cpu" for t in (q, k, v)):
        return None
    if q.dim() not in (3, 4) or k.dim() != q.dim() or v.dim() != q.dim() or any(t.requires_grad for t in (q, k, v)):
        return None
    lead, length, source = tuple(q.shape[:-2]), q.shape[-2], k.shape[-2]
    if p["enable_gqa"]:  # grouped-query attention: q's heads share k's and v's, which divide them
        if q.dim() != 4 or k.shape[1] != v.shape[1] or k.shape[1] == 0 or q.shape[1] % k.shape[1] != 0:
            return None
        shared = (q.shape[0], k.shape[1])
        if tuple(k.shape[:2]) != shared or tuple(v.shape[:2]) != shared:
            return None
    elif tuple(k.shape[:-2]) != lead or tuple(v.shape[:-2]) != lead:
        return None
    if k.shape[-1] != q.shape[-1] or v.shape[-2] != source:
        return None
    if 0 in q.shape or 0 in k.shape or 0 in v.shape:
        return None
    if mask is not None:
        scores = (*lead, length, source)
        if not is_any_tensor(mask) or mask.dtype not in (torch.bool, q.dtype) or broadcast_shape(mask.shape, scores) != scores:
            return None
    shape = (*lead, length, v.shape[-1])
    if _flash_runs(q, k, v, mask, dropout):
        out = pending_like(q, shape, mode, stride=like_strides(tuple(q.shape), tuple(q.stride())))
    else:
        out = pending_like(q, shape, mode)
    inputs = tuple(TensorMeta.of(t) for t in distinct_tensors((args, kwargs)))
    name = "aten::scaled_dot_product_attention"
    return out, [AtenCall(name, as_meta(tuple(args)), as_meta(dict(kwargs)), inputs, (TensorMeta.of(out),))]


FUNCTIONS = {F.scaled_dot_product_attention: scaled_dot_product_attention}
