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
from costmodel.trace.layer_shortcuts import pool_size, row_major
from costmodel.trace.shortcut_helpers import reads_as_channels_last
from costmodel.trace.view_shortcuts import inferred_shape, viewed_strides

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


def _unambiguous_rows(x: Any, spatial: int) -> bool:
    """Whether a non-empty floating (N, C, *spatial) or (C, *spatial) ``x`` is row-major and does not read
    as channels-last to the pooling kernels (``reads_as_channels_last``: C = 1 can), which then keep that
    layout."""
    if _no_elements(x) or not x.is_floating_point() or x.dim() not in (spatial + 1, spatial + 2) or not row_major(x):
        return False
    return not reads_as_channels_last(tuple(x.shape), tuple(x.stride()))


def _window_sizes(
    x: Any, spatial: int, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any
) -> list[int] | None:
    """Output sizes of a pooling window over ``x``'s last ``spatial`` dims (``pool_size``), or None where
    the kernel must judge (a size not positive, padding over half the kernel, a form it rejects)."""
    kernel, padding, dilation = _pairs(kernel, spatial), _pairs(padding, spatial), _pairs(dilation, spatial)
    stride = kernel if isinstance(stride, (list, tuple)) and not stride else _pairs(stride, spatial)
    if kernel is None or stride is None or padding is None or dilation is None or type(ceil_mode) is not bool:
        return None
    if min(*kernel, *stride, *dilation) <= 0 or min(padding) < 0 or any(2 * p > k for p, k in zip(padding, kernel)):
        return None
    sizes = [pool_size(n, k, p, s, d, ceil_mode) for n, k, p, s, d in zip(x.shape[-spatial:], kernel, padding, stride, dilation)]
    return sizes if min(sizes) > 0 else None


def _completed(args: tuple[Any, ...], defaults: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pooling op's operands (input and kernel, then what the dispatcher handed over) with the trailing
    defaults it left out filled in."""
    return (*args, *defaults[len(args) - 2 :])


def _max_pool2d(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::max_pool2d_with_indices(x, kernel, stride=[], padding=0, dilation=1, ceil_mode=False)`` (max
    pooling, 1-d pooling on an unsqueezed input too): values and int64 indices of the pooled shape."""
    if not 2 <= len(args) <= 6 or not _unambiguous_rows(args[0], 2):
        return None
    x, kernel, stride, padding, dilation, ceil_mode = _completed(args, ((), [0], [1], False))
    sizes = _window_sizes(x, 2, kernel, stride, padding, dilation, ceil_mode)
    if sizes is None:
        return None
    shape = (*x.shape[:-2], *sizes)
    return _new(shape, x.dtype), _new(shape, torch.int64)


def _avg_pool(spatial: int) -> Callable[[tuple[Any, ...]], torch.Tensor | None]:
    """``aten::avg_pool2d``/``avg_pool3d(x, kernel, stride=[], padding=0, ceil_mode=False,
    count_include_pad=True, divisor_override=None)``: the pooled tensor."""

    def made(args: tuple[Any, ...]) -> torch.Tensor | None:
        if not 2 <= len(args) <= 7 or not _unambiguous_rows(args[0], spatial):
            return None
        x, kernel, stride, padding, ceil_mode, include_pad, divisor = _completed(args, ((), [0], False, True, None))
        if type(include_pad) is not bool or divisor is not None and (type(divisor) is not int or divisor == 0):
            return None
        sizes = _window_sizes(x, spatial, kernel, stride, padding, [1], ceil_mode)
        return None if sizes is None else _new((*x.shape[:-spatial], *sizes), x.dtype)

    return made


def _adaptive_pool(with_indices: bool) -> Callable[[tuple[Any, ...]], Any]:
    """``aten::adaptive_max_pool2d(x, output_size)`` (values and int64 indices) and
    ``aten::_adaptive_avg_pool2d(x, output_size)``: (…, out_h, out_w)."""

    def made(args: tuple[Any, ...]) -> Any:
        if len(args) != 2 or not _unambiguous_rows(args[0], 2):
            return None
        size = _pairs(args[1], 2)
        if size is None or min(size) <= 0:
            return None
        shape = (*args[0].shape[:-2], *size)
        out = _new(shape, args[0].dtype)
        return (out, _new(shape, torch.int64)) if with_indices else out

    return made


def _pixel_unshuffle(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::pixel_unshuffle(x, r)`` of (…, C, H·r, W·r): a row-major (…, C·r², H, W) tensor."""
    if len(args) != 2 or type(args[1]) is not int or args[1] <= 0 or _no_elements(args[0]):
        return None
    x, r = args
    if x.dim() < 3 or x.shape[-2] % r or x.shape[-1] % r or not row_major(x):
        return None
    return _new((*x.shape[:-3], x.shape[-3] * r * r, x.shape[-2] // r, x.shape[-1] // r), x.dtype)


def _batch_norm(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``aten::native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)`` of a
    row-major float32/float64 (N, C, …) ``x`` (instance norm runs it on (1, N·C, …)): the normalised tensor
    like ``x`` and the saved mean and 1/std, C each in training and empty otherwise (the decomposition
    FakeTensorMode runs makes them so on every device)."""
    if len(args) != 8 or _no_elements(args[0]):
        return None
    x, weight, bias, mean, var, training, momentum, eps = args
    if x.dim() < 2 or x.dtype not in (torch.float32, torch.float64) or not row_major(x) or type(training) is not bool:
        return None
    state = [t for t in (weight, bias, mean, var) if t is not None]
    if any(not isinstance(t, torch.Tensor) or tuple(t.shape) != (x.shape[1],) or t.dtype != x.dtype for t in state):
        return None
    if (
        not isinstance(momentum, (int, float))
        or not isinstance(eps, (int, float))
        or not training
        and (mean is None or var is None)
    ):
        return None
    saved = (x.shape[1],) if training else (0,)
    return _new(tuple(x.shape), x.dtype), _new(saved, x.dtype), _new(saved, x.dtype)


def _prelu(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_prelu_kernel(x, weight)``, the weight broadcast over a row-major floating ``x`` (F.prelu views
    it as (1, C, 1, …)): a new tensor like ``x``."""
    if len(args) != 2 or _no_elements(args[0]) or not isinstance(args[1], torch.Tensor):
        return None
    x, weight = args
    if not x.is_floating_point() or weight.dtype != x.dtype or not row_major(x) or weight.dim() > x.dim():
        return None
    return _new(tuple(x.shape), x.dtype) if broadcast_shape(tuple(x.shape), tuple(weight.shape)) == tuple(x.shape) else None


def _glu(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::glu(x, dim=-1)`` of a row-major floating ``x``, even at ``dim``: a new tensor with that dim halved."""
    if not 1 <= len(args) <= 2 or _no_elements(args[0]):
        return None
    x = args[0]
    dim = args[1] if len(args) > 1 else -1
    if x.dim() == 0 or type(dim) is not int or not -x.dim() <= dim < x.dim() or not x.is_floating_point() or not row_major(x):
        return None
    dim %= x.dim()
    if x.shape[dim] % 2:
        return None
    return _new((*x.shape[:dim], x.shape[dim] // 2, *x.shape[dim + 1 :]), x.dtype)


def _grid_sampler(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::grid_sampler_2d(x, grid, interpolation, padding, align_corners)`` of a floating (N, C, H, W)
    ``x`` at an (N, Hg, Wg, 2) grid: a new row-major (N, C, Hg, Wg) tensor."""
    if len(args) != 5 or _no_elements(args[0]) or _no_elements(args[1]):
        return None
    x, grid, interpolation, padding, align = args
    if x.dim() != 4 or grid.dim() != 4 or grid.shape[0] != x.shape[0] or grid.shape[3] != 2 or grid.dtype != x.dtype:
        return None
    if not x.is_floating_point() or interpolation not in (0, 1, 2) or padding not in (0, 1, 2) or type(align) is not bool:
        return None
    return _new((x.shape[0], x.shape[1], grid.shape[1], grid.shape[2]), x.dtype)


def _scan(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::cumprod(x, dim)`` of a row-major floating ``x`` (no dtype): a new tensor like it."""
    if kwargs.get("dtype") is not None or set(kwargs) - {"dtype"} or len(args) != 2 or _no_elements(args[0]):
        return None
    x, dim = args
    if type(dim) is not int or not -max(x.dim(), 1) <= dim < max(x.dim(), 1) or not x.is_floating_point():
        return None
    return _like(x)


def _statistic_and_mean(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::var_mean.correction``/``aten::std_mean.correction``: two reduced tensors (``_statistic``)."""
    reduced = _statistic(args, kwargs)
    return None if reduced is None else (reduced, _new(tuple(reduced.shape), reduced.dtype))


def _repeat(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::repeat(x, repeats)``, at least one non-negative count per dim of ``x`` (more: new leading dims
    of size 1): a new row-major tensor of the padded shape times the counts."""
    if len(args) != 2 or not isinstance(args[0], torch.Tensor) or not isinstance(args[1], (list, tuple)):
        return None
    x, repeats = args
    if len(repeats) < x.dim() or not all(type(r) is int and r >= 0 for r in repeats):
        return None
    padded = (1,) * (len(repeats) - x.dim()) + tuple(x.shape)
    return _new(tuple(n * r for n, r in zip(padded, repeats)), x.dtype)


def _view(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::view``/``aten::_unsafe_view(x, sizes)`` of a tensor with elements: a view of ``x`` with the
    strides FakeTensorMode gives (``viewed_strides``, torch's Python reference: the meta kernel strides
    size-1 dimensions otherwise); None where no view exists (the kernel raises) or to 0 dims."""
    if len(args) != 2 or _no_elements(args[0]) or not isinstance(args[1], (list, tuple)):
        return None
    x, sizes = args
    if not sizes or not all(type(s) is int for s in sizes):
        return None
    shape = inferred_shape(list(sizes), x.numel())
    strides = None if shape is None else viewed_strides(tuple(x.shape), tuple(x.stride()), shape)
    return None if shape is None or strides is None else x.as_strided(shape, strides, x.storage_offset())


def _arg_extremum(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::argmax``/``aten::argmin(x, dim=None, keepdim=False)`` of a floating ``x`` with elements: int64
    indices of the reduced shape (every dim reduced when ``dim`` is None)."""
    if not 1 <= len(args) <= 3 or _no_elements(args[0]) or not args[0].is_floating_point():
        return None
    x = args[0]
    dim = args[1] if len(args) > 1 else None
    keepdim = args[2] if len(args) > 2 else False
    if dim is not None and (type(dim) is not int or x.dim() == 0):
        return None
    reduced = _reduced(x, dim, keepdim)
    return None if reduced is None else _new(tuple(reduced.shape), torch.int64)


def _channel_shuffle(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::channel_shuffle``/``aten::native_channel_shuffle(x, groups)`` of a row-major (N, C, …) ``x``,
    1 < groups < C dividing C: a new row-major tensor like ``x`` (the channels regrouped by a copy)."""
    if len(args) != 2 or type(args[1]) is not int or _no_elements(args[0]):
        return None
    x, groups = args
    if x.dim() < 3 or not row_major(x) or not 1 < groups < x.shape[1] or x.shape[1] % groups:
        return None
    return _new(tuple(x.shape), x.dtype)


def _distances(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_cdist_forward(x1, x2, p, compute_mode)`` and ``aten::_euclidean_dist(x1, x2)`` of floating
    (…, P, M) and (…, R, M) points of one dtype: a new row-major (…, P, R) tensor, the batch dims broadcast."""
    if len(args) not in (2, 4) or _no_elements(args[0]) or _no_elements(args[1]):
        return None
    x1, x2 = args[0], args[1]
    if x1.dim() < 2 or x2.dim() < 2 or x1.shape[-1] != x2.shape[-1] or x1.dtype != x2.dtype or not x1.is_floating_point():
        return None
    if len(args) == 4 and (not isinstance(args[2], (int, float)) or args[2] < 0 or args[3] not in (None, 0, 1, 2)):
        return None
    batch = broadcast_shape(tuple(x1.shape[:-2]), tuple(x2.shape[:-2]))
    return None if batch is None else _new((*batch, x1.shape[-2], x2.shape[-2]), x1.dtype)


def _trilinear(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim=1)`` of floating operands
    of one dtype: each with size-1 dims inserted at its ``expand`` positions, broadcast together, the
    ``sumdim`` dims summed away — a new row-major tensor of what remains."""
    if len(args) not in (7, 8) or not all(isinstance(t, torch.Tensor) for t in args[:3]):
        return None
    operands, expands, sumdim = args[:3], args[3:6], args[6]
    if any(_no_elements(t) or t.dtype != operands[0].dtype or not t.is_floating_point() for t in operands):
        return None
    rank = operands[0].dim() + len(expands[0])
    space: tuple[int, ...] | None = ()
    for operand, expand in zip(operands, expands):
        if not isinstance(expand, (list, tuple)) or operand.dim() + len(expand) != rank or len(set(expand)) != len(expand):
            return None
        if not all(type(d) is int and 0 <= d < rank for d in expand):
            return None
        shape = list(operand.shape)
        for d in sorted(expand):
            shape.insert(d, 1)
        space = None if space is None else broadcast_shape(space, tuple(shape))
    if space is None or not isinstance(sumdim, (list, tuple)) or not all(type(d) is int and 0 <= d < rank for d in sumdim):
        return None
    return _new(tuple(n for i, n in enumerate(space) if i not in set(sumdim)), operands[0].dtype)


def _col2im(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::col2im`` (``F.fold``) of (N, C·kh·kw, L) or (C·kh·kw, L) blocks without padding: a new
    row-major (N, C, H, W) tensor, L being the number of kernel positions in H×W (``_im2col``'s count).
    Padded folds are left to the kernel (its decomposition crops a padded buffer: a strided view)."""
    if len(args) != 6 or _no_elements(args[0]) or args[0].dim() not in (2, 3):
        return None
    x, size, kernel, dilation, padding, stride = args
    size, kernel, dilation, padding, stride = (_pairs(v, 2) for v in (size, kernel, dilation, padding, stride))
    if size is None or kernel is None or dilation is None or padding is None or stride is None or any(padding):
        return None
    if min(*size, *kernel, *dilation, *stride) <= 0 or x.shape[-2] % (kernel[0] * kernel[1]):
        return None
    positions = 1
    for n, k, d, s in zip(size, kernel, dilation, stride):
        span = n - d * (k - 1) - 1
        if span < 0:
            return None
        positions *= span // s + 1
    if positions != x.shape[-1]:
        return None
    return _new((*x.shape[:-2], x.shape[-2] // (kernel[0] * kernel[1]), *size), x.dtype)


def _log_sigmoid(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::log_sigmoid_forward(x)`` of a row-major floating ``x`` (off CUDA): the output and the buffer
    of exp(−|x|) the decomposition keeps, both new tensors like ``x``."""
    if len(args) != 1 or _no_elements(args[0]) or not args[0].is_floating_point() or not row_major(args[0]):
        return None
    return _new(tuple(args[0].shape), args[0].dtype), _new(tuple(args[0].shape), args[0].dtype)


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
    "aten::pixel_unshuffle": (("default",), _positional(_pixel_unshuffle)),
    "aten::max_pool2d_with_indices": (("default",), _positional(_max_pool2d)),
    "aten::avg_pool2d": (("default",), _positional(_avg_pool(2))),
    "aten::avg_pool3d": (("default",), _positional(_avg_pool(3))),
    "aten::adaptive_max_pool2d": (("default",), _positional(_adaptive_pool(True))),
    "aten::_adaptive_avg_pool2d": (("default",), _positional(_adaptive_pool(False))),
    "aten::amax": (("default",), _extremum),
    "aten::amin": (("default",), _extremum),
    "aten::logsumexp": (("default",), _extremum),
    "aten::mean": (("dim",), _extremum),
    "aten::sum": (("dim_IntList",), _extremum),
    "aten::var": (("correction",), _statistic),
    "aten::var_mean": (("correction",), _statistic_and_mean),
    "aten::std_mean": (("correction",), _statistic_and_mean),
    "aten::cumprod": (("default",), _scan),
    "aten::native_batch_norm": (("default",), _positional(_batch_norm)),
    "aten::_prelu_kernel": (("default",), _positional(_prelu)),
    "aten::glu": (("default",), _positional(_glu)),
    "aten::repeat": (("default",), _positional(_repeat)),
    "aten::view": (("default",), _positional(_view)),
    "aten::argmax": (("default",), _positional(_arg_extremum)),
    "aten::argmin": (("default",), _positional(_arg_extremum)),
    "aten::native_channel_shuffle": (("default",), _positional(_channel_shuffle)),
    "aten::channel_shuffle": (("default",), _positional(_channel_shuffle)),
    "aten::_cdist_forward": (("default",), _positional(_distances)),
    "aten::_euclidean_dist": (("default",), _positional(_distances)),
    "aten::_trilinear": (("default",), _positional(_trilinear)),
    "aten::log_sigmoid_forward": (("default",), _positional(_log_sigmoid)),
    "aten::_unsafe_view": (("default",), _positional(_view)),
    "aten::grid_sampler_2d": (("default",), _positional(_grid_sampler)),
    "aten::std": (("correction",), _statistic),
    "aten::linalg_vector_norm": (("default",), _vector_norm),
    "aten::mm": (("default",), _positional(_product)),
    "aten::bmm": (("default",), _positional(_product)),
    "aten::im2col": (("default",), _positional(_im2col)),
    "aten::col2im": (("default",), _positional(_col2im)),
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
