"""Outputs of a few aten ops on meta tensors, made from their operands' geometry without running the
Python kernel that makes them under FakeTensorMode (torch's Python meta kernels and decompositions
import sympy on first use, about half a second of a fresh process).

Each maker returns what that kernel returns — new row-major tensors of the shapes torch's own formulas
give (tests hold the meta run to FakeTensorMode, output geometry and calls) — or None wherever the
kernel has to run: an overload, an argument form or a layout it does not cover, or operands the kernel
would reject with its own error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from costmodel.trace.elementwise_shortcuts import broadcast_shape
from costmodel.trace.layer_shortcuts import row_major

__all__ = ["made_output"]

_META = torch.device("meta")


def _new(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device=_META)


def _pairs(value: Any, rank: int) -> tuple[int, ...] | None:
    """Per-dimension ints from an int list of length 1 or ``rank``; None otherwise."""
    if not isinstance(value, (list, tuple)) or not all(type(v) is int for v in value):
        return None
    if len(value) == 1:
        return tuple(value) * rank
    return tuple(value) if len(value) == rank else None


def _product(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::mm`` (m×k @ k×n) and ``aten::bmm`` (b×m×k @ b×k×n): a new m×n (b×m×n) tensor."""
    if len(args) != 2:
        return None
    a, b = args
    if a.dim() != b.dim() or a.dim() not in (2, 3) or a.dtype != b.dtype:
        return None
    if a.shape[-1] != b.shape[-2] or a.shape[:-2] != b.shape[:-2]:
        return None
    return _new((*a.shape[:-1], b.shape[-1]), a.dtype)


def _im2col(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::im2col`` (``F.unfold``) of an (N, C, H, W) or (C, H, W) input: (N, C·kh·kw, L), L the
    number of kernel positions, ∏ ⌊(size + 2·pad − dil·(k − 1) − 1) / stride⌋ + 1."""
    if len(args) != 5:
        return None
    x, kernel, dilation, padding, stride = args
    if x.dim() not in (3, 4) or x.numel() == 0:
        return None
    kernel, dilation, padding, stride = (_pairs(v, 2) for v in (kernel, dilation, padding, stride))
    if kernel is None or dilation is None or padding is None or stride is None:
        return None
    if min(*kernel, *dilation, *stride) <= 0 or min(padding) < 0:
        return None
    positions = 1
    for size, k, d, p, s in zip(x.shape[-2:], kernel, dilation, padding, stride):
        span = size + 2 * p - d * (k - 1) - 1
        if span < 0:
            return None
        positions *= span // s + 1
    columns = x.shape[-3] * kernel[0] * kernel[1]
    return _new((*x.shape[:-3], columns, positions), x.dtype)


def _topk(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::topk(x, k, dim)``: values and int64 indices, ``x``'s shape with size k at ``dim``."""
    if not 2 <= len(args) <= 5 or type(args[1]) is not int:
        return None
    x, k = args[0], args[1]
    dim = args[2] if len(args) > 2 else -1
    if x.dim() == 0 or type(dim) is not int or not -x.dim() <= dim < x.dim():
        return None
    dim %= x.dim()
    if not 0 <= k <= x.shape[dim]:
        return None
    shape = (*x.shape[:dim], k, *x.shape[dim + 1 :])
    return _new(shape, x.dtype), _new(shape, torch.int64)


def _convolution(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::convolution`` of a contiguous batched input by a contiguous weight (plain or transposed):
    a new contiguous tensor of torch's output sizes — (in + 2·pad − dil·(k − 1) − 1) / stride + 1, or
    for a transposed one (in − 1)·stride − 2·pad + dil·(k − 1) + output_pad + 1."""
    if len(args) != 9:
        return None
    x, weight, bias, stride, padding, dilation, transposed, output_padding, groups = args
    rank = x.dim() - 2
    if rank < 1 or weight.dim() != x.dim() or x.dtype != weight.dtype or type(groups) is not int or groups <= 0:
        return None
    if not (row_major(x) and row_major(weight)) or x.numel() == 0:
        return None
    if bias is not None and (bias.dim() != 1 or bias.dtype != x.dtype):
        return None
    stride, padding, dilation, output_padding = (_pairs(v, rank) for v in (stride, padding, dilation, output_padding))
    if stride is None or padding is None or dilation is None or output_padding is None or type(transposed) is not bool:
        return None
    if min(*stride, *dilation) <= 0 or min(*padding, *output_padding) < 0:
        return None
    if transposed:
        if (
            x.shape[1] != weight.shape[0]
            or weight.shape[0] % groups
            or any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation))
        ):
            return None
        channels = weight.shape[1] * groups
        sizes = [
            (n - 1) * s - 2 * p + d * (k - 1) + o + 1
            for n, k, s, p, d, o in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation, output_padding)
        ]
    else:
        if x.shape[1] != weight.shape[1] * groups or weight.shape[0] % groups or any(output_padding):
            return None
        channels = weight.shape[0]
        sizes = [
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation)
        ]
    if bias is not None and bias.shape[0] != channels or min(sizes) <= 0:
        return None
    return _new((x.shape[0], channels, *sizes), x.dtype)


def _reduced(x: Any, dims: Any, keepdim: Any) -> torch.Tensor | None:
    """A new tensor of a non-empty floating-point ``x``'s shape with ``dims`` reduced: dropped, or kept
    as 1 with ``keepdim``; no dims (None or empty) reduces them all. None for anything the kernel must
    judge itself (a dim out of range or named twice)."""
    if _no_elements(x) or x.dim() == 0 or not x.is_floating_point() or type(keepdim) is not bool:
        return None
    if dims is None:
        dims = []
    if type(dims) is int:
        dims = [dims]
    if not isinstance(dims, (list, tuple)) or not all(type(d) is int and -x.dim() <= d < x.dim() for d in dims):
        return None
    reduced = {d % x.dim() for d in dims} if dims else set(range(x.dim()))
    if len(reduced) != len(dims or reduced):
        return None
    return _new(tuple(1 if i in reduced else n for i, n in enumerate(x.shape) if keepdim or i not in reduced), x.dtype)


def _extremum(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::amax``/``aten::amin(x, dims=[], keepdim=False)``, ``aten::logsumexp(x, dims, keepdim=False)``,
    ``aten::mean.dim``/``aten::sum.dim_IntList(x, dims, keepdim=False)``: the reduced tensor."""
    if kwargs.get("dtype") is not None or set(kwargs) - {"dtype"} or not 1 <= len(args) <= 3:
        return None
    return _reduced(args[0], args[1] if len(args) > 1 else [], args[2] if len(args) > 2 else False)


def _statistic(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::var.correction``/``aten::std.correction(x, dims, *, correction, keepdim)``: the reduced tensor."""
    if set(kwargs) - {"correction", "keepdim"} or not 1 <= len(args) <= 2:
        return None
    correction = kwargs.get("correction")
    if correction is not None and not isinstance(correction, (int, float)):
        return None
    return _reduced(args[0], args[1] if len(args) > 1 else None, kwargs.get("keepdim", False))


def _vector_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::linalg_vector_norm(x, ord=2, dims=None, keepdim=False)`` of a real floating tensor: the
    reduced tensor."""
    if kwargs.get("dtype") is not None or set(kwargs) - {"dtype"} or not 1 <= len(args) <= 4:
        return None
    if len(args) > 1 and not isinstance(args[1], (int, float)):
        return None
    return _reduced(args[0], args[2] if len(args) > 2 else None, args[3] if len(args) > 3 else False)


def _row_major_broadcast(x: Any) -> bool:
    """Whether ``x`` is row-major once its broadcast (stride-0) dimensions are set aside: a row-major
    tensor, or one ``expand`` made of it. Element-wise kernels order their output by the operands'
    strides, ignoring stride-0 dimensions: with every operand such, the output is row-major."""
    kept = [(n, st) for n, st in zip(x.shape, x.stride()) if st != 0]
    expected = 1
    for n, st in reversed(kept):
        if st != expected:
            return False
        expected *= n
    return True


def _like(x: Any) -> torch.Tensor | None:
    """A new row-major tensor of ``x``'s shape and dtype where ``x`` has exactly row-major strides (what
    element-wise kernels make of such an input; of a channels-last one some keep the layout and some do
    not, so those run); None for any other layout."""
    return _new(tuple(x.shape), x.dtype) if row_major(x) else None


#: element-wise ops whose output is not of the input's dtype (comparisons, tests, float_power): never made here
_COMPARISONS = frozenset(
    {"aten::eq", "aten::ne", "aten::lt", "aten::le", "aten::gt", "aten::ge", "aten::signbit", "aten::float_power"}
)  # (float_power computes in double)
_OTHER_DTYPE = ("aten::is", "aten::logical_", "aten::bitwise_")


def _pointwise(func: Any, args: tuple[Any, ...]) -> torch.Tensor | None:
    """An element-wise op (``torch.Tag.pointwise``) of floating-point tensors of one dtype (and numbers,
    and 0-dim tensors of a floating dtype, which torch's promotion lets the others decide): a tensor of
    the operands' broadcast shape. One operand: its geometry (``_like``); several: each row-major, or
    expanded from a row-major tensor (``_row_major_broadcast``), the output row-major too. An in-place
    op returns its first operand where the result has its shape."""
    name = str(func._schema.name)
    if torch.Tag.pointwise not in func.tags or name in _COMPARISONS or name.startswith(_OTHER_DTYPE):
        return None
    if not args or [str(r.type) for r in func._schema.returns] != ["Tensor"]:
        return None
    if not isinstance(args[0], torch.Tensor) or any(
        not isinstance(a, (torch.Tensor, int, float, bool, type(None))) for a in args[1:]
    ):
        return None
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    shaped = [t for t in tensors if t.dim() > 0] or tensors[:1]
    dtype = shaped[0].dtype
    if not all(t.is_floating_point() for t in tensors) or any(t.dtype != dtype for t in shaped) or shaped[0].numel() == 0:
        return None
    if len(tensors) == 1:
        out = _like(tensors[0])
    else:
        if not all(_row_major_broadcast(t) for t in tensors):
            return None
        shape: tuple[int, ...] | None = ()
        for t in tensors:
            shape = None if shape is None else broadcast_shape(shape, t.shape)
        if shape is None:
            return None  # not broadcastable: the kernel's own error
        out = _new(shape, dtype)
    if out is not None and name.endswith("_"):
        return args[0] if tuple(out.shape) == tuple(args[0].shape) and out.dtype == args[0].dtype else None
    return out


def _softmax(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_softmax``/``aten::_log_softmax(x, dim, half_to_float=False)`` of a row-major ``x``: a new
    row-major tensor like it (a channels-last input comes out row-major: the kernel runs for those)."""
    if len(args) != 3 or args[2] is not False or type(args[1]) is not int or _no_elements(args[0]):
        return None
    x, dim = args[0], args[1]
    if not x.is_floating_point() or not row_major(x) or not -max(x.dim(), 1) <= dim < max(x.dim(), 1):
        return None
    return _new(tuple(x.shape), x.dtype)


def _sort(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::sort(x, dim, descending)``: sorted values like ``x`` and int64 indices of its shape."""
    if not 1 <= len(args) <= 3 or _no_elements(args[0]):
        return None
    x = args[0]
    dim = args[1] if len(args) > 1 else -1
    if type(dim) is not int or not -max(x.dim(), 1) <= dim < max(x.dim(), 1) or not row_major(x):
        return None
    return _new(tuple(x.shape), x.dtype), _new(tuple(x.shape), torch.int64)


def _no_elements(x: Any) -> bool:
    """Whether ``x`` is not a tensor with elements (the kernels' edge cases stay theirs)."""
    return not isinstance(x, torch.Tensor) or x.numel() == 0


def _copy_like(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::flip(x, dims)``, ``aten::tril``/``aten::triu(x, diagonal)``: a new row-major tensor like a
    row-major ``x``."""
    if not args or _no_elements(args[0]) or not row_major(args[0]):
        return None
    return _new(tuple(args[0].shape), args[0].dtype)


def _pixel_shuffle(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::pixel_shuffle(x, r)`` of (…, C·r², H, W): a row-major (…, C, H·r, W·r) tensor."""
    if len(args) != 2 or type(args[1]) is not int or args[1] <= 0 or _no_elements(args[0]):
        return None
    x, r = args
    if x.dim() < 3 or x.shape[-3] % (r * r) or not row_major(x):
        return None
    return _new((*x.shape[:-3], x.shape[-3] // (r * r), x.shape[-2] * r, x.shape[-1] * r), x.dtype)


def _positional(maker: Callable[[tuple[Any, ...]], Any]) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    def made(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return None if kwargs else maker(args)

    return made


#: aten op → (the overloads covered, the maker of their output)
_MAKERS: dict[str, tuple[tuple[str, ...], Callable[[tuple[Any, ...], dict[str, Any]], Any]]] = {
    "aten::_softmax": (("default",), _positional(_softmax)),
    "aten::_log_softmax": (("default",), _positional(_softmax)),
    "aten::sort": (("default",), _positional(_sort)),
    "aten::flip": (("default",), _positional(_copy_like)),
    "aten::tril": (("default",), _positional(_copy_like)),
    "aten::triu": (("default",), _positional(_copy_like)),
    "aten::pixel_shuffle": (("default",), _positional(_pixel_shuffle)),
    "aten::amax": (("default",), _extremum),
    "aten::amin": (("default",), _extremum),
    "aten::logsumexp": (("default",), _extremum),
    "aten::mean": (("dim",), _extremum),
    "aten::sum": (("dim_IntList",), _extremum),
    "aten::var": (("correction",), _statistic),
    "aten::std": (("correction",), _statistic),
    "aten::linalg_vector_norm": (("default",), _vector_norm),
    "aten::mm": (("default",), _positional(_product)),
    "aten::bmm": (("default",), _positional(_product)),
    "aten::im2col": (("default",), _positional(_im2col)),
    "aten::topk": (("default",), _positional(_topk)),
    "aten::convolution": (("default",), _positional(_convolution)),
}


def made_output(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The output of ``func`` (an aten overload) on these meta operands, made from their geometry, or
    None when its kernel must run (see the module docstring)."""
    entry = _MAKERS.get(str(func._schema.name))
    if entry is None:
        return None if kwargs else _pointwise(func, args)
    overloads, maker = entry
    return maker(args, kwargs) if str(func._overloadname) in overloads else None
