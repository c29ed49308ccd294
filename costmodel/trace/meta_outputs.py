"""Outputs of aten ops on meta tensors, made from their operands' geometry without running the Python
kernel that makes them under FakeTensorMode (torch's Python meta kernels and decompositions import sympy
on first use, about half a second of a fresh process, or ``torch._dynamo``): products, reductions,
element-wise math, sorting, views and repeats here; layer kernels in ``meta_layer_outputs``.

Each maker returns what that kernel returns — new row-major tensors of the shapes torch's own formulas
give (tests hold the meta run to FakeTensorMode, output geometry and calls) — or None wherever the
kernel has to run: an overload, an argument form or a layout it does not cover, or operands the kernel
would reject with its own error.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch._decomp import meta_table
from torch._subclasses import fake_impls

from costmodel.trace.elementwise_shortcuts import broadcast_shape, elementwise_layout, expanded
from costmodel.trace.layer_shortcuts import row_major
from costmodel.trace.meta_layer_outputs import LAYER_OUTPUTS, empty_like_meta, new_meta, no_elements
from costmodel.trace.view_shortcuts import inferred_shape, viewed_strides

__all__ = ["made_output"]


def _product(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::mm`` (m×k @ k×n) and ``aten::bmm`` (b×m×k @ b×k×n): a new m×n (b×m×n) tensor."""
    if len(args) != 2:
        return None
    a, b = args
    if a.dim() != b.dim() or a.dim() not in (2, 3) or a.dtype != b.dtype:
        return None
    if a.shape[-1] != b.shape[-2] or a.shape[:-2] != b.shape[:-2]:
        return None
    return new_meta((*a.shape[:-1], b.shape[-1]), a.dtype)


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
    return new_meta(shape, x.dtype), new_meta(shape, torch.int64)


def _reduced(x: Any, dims: Any, keepdim: Any) -> torch.Tensor | None:
    """A new tensor of a non-empty floating-point ``x``'s shape with ``dims`` reduced: dropped, or kept
    as 1 with ``keepdim``; no dims (None or empty) reduces them all. None for anything the kernel must
    judge itself (a dim out of range or named twice)."""
    if no_elements(x) or x.dim() == 0 or not x.is_floating_point() or type(keepdim) is not bool:
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
    return new_meta(tuple(1 if i in reduced else n for i, n in enumerate(x.shape) if keepdim or i not in reduced), x.dtype)


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


def _norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::norm.Scalar(x, p=2)`` (every dim) or ``aten::norm.ScalarOpt_dim(x, p, dims, keepdim=False)``
    of a real floating tensor (``torch.norm``, ``Tensor.norm``, ``pairwise_distance``): the reduced tensor."""
    if kwargs or not 1 <= len(args) <= 4 or len(args) > 1 and args[1] is not None and not isinstance(args[1], (int, float)):
        return None
    return _reduced(args[0], args[2] if len(args) > 2 else None, args[3] if len(args) > 3 else False)


def _rrelu_with_noise(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::rrelu_with_noise(x, noise, lower, upper, training)`` (``F.rrelu``, ``nn.RReLU``): its meta
    kernel's ``empty_like(x)`` (``like_strides``: ``x``'s own where dense, else dense in their order); the
    noise is written in place."""
    if set(kwargs) - {"lower", "upper", "training", "generator"} or kwargs.get("generator") is not None or len(args) < 2:
        return None
    x = args[0]
    return None if no_elements(x) or not x.is_floating_point() else empty_like_meta(x)


def _slice(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::slice.Tensor(x, dim=0, start=None, end=None, step=1)`` as torch's decomposition (which
    FakeTensorMode runs) computes it: start and end made non-negative and clamped to the dim, the view
    ``x.as_strided`` with ⌈(end − start) / step⌉ elements, the dim's stride times the step, the offset
    moved by start strides. None for a 0-dim tensor or a step below 1 (torch's own errors)."""
    names = ("dim", "start", "end", "step")
    if len(args) > 5 or set(kwargs) - set(names[len(args) - 1 :]) or not args or not isinstance(args[0], torch.Tensor):
        return None
    p = {"dim": 0, "start": None, "end": None, "step": 1, **dict(zip(names, args[1:])), **kwargs}
    x, dim, start, end, step = args[0], p["dim"], p["start"], p["end"], p["step"]
    if x.dim() == 0 or type(dim) is not int or not -x.dim() <= dim < x.dim() or type(step) is not int or step < 1:
        return None
    if not all(v is None or type(v) is int for v in (start, end)):
        return None
    dim %= x.dim()
    sizes, strides, size = list(x.shape), list(x.stride()), x.shape[dim]
    begin = 0 if start is None else start + size if start < 0 else start
    begin = min(max(begin, 0), size)
    stop = size if end is None or end == sys.maxsize else end + size if end < 0 else end
    stop = begin if stop < begin else min(stop, size)
    offset = x.storage_offset() + begin * strides[dim]
    sizes[dim], strides[dim] = (stop - begin + step - 1) // step, strides[dim] * step
    return x.as_strided(sizes, strides, offset)


def _scatter(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::scatter(x, dim, index, src or value[, reduce])`` and ``aten::scatter_add(x, dim, index, src)``:
    its meta kernel's ``new_empty(x.shape)`` (row-major) once its checks hold — an int64 index of ``x``'s
    rank, no larger than ``x`` off ``dim`` nor than ``src`` anywhere, ``src`` of ``x``'s dtype, a known
    reduction; None for anything else (the kernel then raises its own error)."""
    if kwargs and set(kwargs) != {"reduce"} or not 4 <= len(args) + len(kwargs) <= 5:
        return None
    x, dim, index, source = args[:4]
    reduce = args[4] if len(args) > 4 else kwargs.get("reduce")
    if not isinstance(x, torch.Tensor) or not isinstance(index, torch.Tensor) or type(dim) is not int or no_elements(index):
        return None
    if index.dtype != torch.int64 or max(index.dim(), 1) != max(x.dim(), 1) or not -max(x.dim(), 1) <= dim < max(x.dim(), 1):
        return None
    if reduce is not None and reduce not in ("add", "multiply"):
        return None
    dim %= max(x.dim(), 1)
    sizes = [tuple(t.shape) or (1,) for t in (x, index)]
    if any(i > n for d, (i, n) in enumerate(zip(sizes[1], sizes[0])) if d != dim):
        return None
    if isinstance(source, torch.Tensor):
        if source.dtype != x.dtype or max(source.dim(), 1) != len(sizes[0]):
            return None
        if any(i > n for i, n in zip(sizes[1], tuple(source.shape) or (1,))):
            return None
    elif not isinstance(source, (int, float, bool)):
        return None
    return new_meta(tuple(x.shape), x.dtype)


def _index_add(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::index_add(x, dim, index, source, alpha=)`` and its in-place form, as torch's decomposition runs
    them: an accumulating ``index_put`` into ``x`` (out of place: a copy made row-major by ``contiguous``; in
    place: ``x`` itself), once its checks hold — an int64 index of one dim, ``source`` of ``x``'s dtype and
    shape but the index's length at ``dim``, ``alpha`` a number the dtype takes; None for anything else."""
    if len(args) != 4 or set(kwargs) - {"alpha"}:
        return None
    x, dim, index, source = args
    alpha = kwargs.get("alpha", 1)
    if not all(isinstance(t, torch.Tensor) for t in (x, index, source)) or type(dim) is not int or no_elements(x):
        return None
    if index.dtype != torch.int64 or index.dim() != 1 or source.dtype != x.dtype or not -x.dim() <= dim < x.dim():
        return None
    shape = list(x.shape)
    shape[dim] = index.shape[0]
    if list(source.shape) != shape or not (type(alpha) is int or type(alpha) is float and x.is_floating_point()):
        return None
    return new_meta(tuple(x.shape), x.dtype)


def _index_add_(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::index_add_``: ``x`` itself where ``_index_add`` holds."""
    return args[0] if _index_add(args, kwargs) is not None else None


def _aligned_rows(t: torch.Tensor) -> bool:
    """Whether the CPU grouped product takes ``t``'s layout: its last two dims row- or column-major, the
    leading stride of the two a multiple of 16 bytes."""
    alignment = max(16 // t.element_size(), 1)
    rows, cols = t.shape[-2], t.shape[-1]
    row_stride, col_stride = t.stride()[-2], t.stride()[-1]
    if row_stride == 1 and col_stride >= max(1, rows):
        return col_stride % alignment == 0
    if col_stride == 1 and row_stride >= max(1, cols):
        return row_stride % alignment == 0
    return False


def _grouped_mm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::_grouped_mm(a, b, offs=, bias=None, out_dtype=None)`` (Mixture-of-Experts layers) as the CPU
    kernel makes it: (S, N) for a (S, K) ``a`` against (G, K, N) experts, (M, N) for 3-D × 2-D, (G, M, N)
    for 2-D × 2-D or batched 3-D × 3-D, of ``a``'s dtype, rows padded to 16 bytes. Its meta kernel wants bf16
    (the CUDA kernel's demand), which the CPU kernel does not; the shapes never depend on the offsets'
    values. None for bias, another output dtype, offsets missing, of another kind or count, sizes that do
    not contract, or operand layouts the kernel refuses (rows not 16-byte aligned)."""
    names = ("offs", "bias", "out_dtype")
    if not 2 <= len(args) <= 5 or set(kwargs) - set(names) or any(n in kwargs for n in names[: len(args) - 2]):
        return None
    settings = dict(zip(names, args[2:]), **kwargs)
    a, b, offs = args[0], args[1], settings.get("offs")
    if settings.get("bias") is not None or settings.get("out_dtype") not in (None, a.dtype):
        return None
    if a.dim() not in (2, 3) or b.dim() not in (2, 3) or a.dtype != b.dtype or not a.dtype.is_floating_point:
        return None
    if (a.dim() == 3 or b.dim() == 3) and a.shape[-1] != b.shape[-2] or not (_aligned_rows(a) and _aligned_rows(b)):
        return None
    if a.dim() == 3 and b.dim() == 3:
        if offs is not None or a.shape[0] != b.shape[0]:
            return None
        shape: tuple[int, ...] = (a.shape[0], a.shape[1], b.shape[-1])
    elif not isinstance(offs, torch.Tensor) or offs.dim() != 1 or offs.dtype != torch.int32:
        return None
    elif a.dim() == 2 and b.dim() == 2:
        shape = (offs.shape[0], a.shape[0], b.shape[1])
    elif offs.shape[0] != (b.shape[0] if a.dim() == 2 else a.shape[0]):
        return None
    else:
        shape = (a.shape[0], b.shape[-1]) if a.dim() == 2 else (a.shape[1], b.shape[1])
    alignment = max(16 // a.element_size(), 1)
    row = -(-shape[-1] // alignment) * alignment
    strides = (shape[1] * row, row, 1) if len(shape) == 3 else (row, 1)
    return torch.empty_strided(shape, strides, dtype=a.dtype, device="meta")


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


#: element-wise ops whose output is not of the input's dtype (comparisons, tests, float_power): never made here
_COMPARISONS = frozenset(
    {"aten::eq", "aten::ne", "aten::lt", "aten::le", "aten::gt", "aten::ge", "aten::signbit", "aten::float_power"}
)  # (float_power computes in double)
_OTHER_DTYPE = ("aten::is", "aten::logical_", "aten::bitwise_")


@functools.cache
def _reference_layout(func: Any) -> bool:
    """Whether FakeTensorMode lays out ``func``'s output of operands in any layout by torch's Python
    reference (the vote ``elementwise_layout`` states): a Python meta registration of its own, or a fast
    binary path (add, sub, mul, div) that falls back to the reference when the operands are neither all
    row-major nor all channels-last. Other kernels choose for themselves (composite ones row-major)."""
    return func in meta_table or func in fake_impls.get_fast_op_impls()


def _pointwise(func: Any, args: tuple[Any, ...]) -> torch.Tensor | None:
    """An element-wise op (``torch.Tag.pointwise``) of floating-point tensors of one dtype (and numbers,
    and 0-dim tensors of a floating dtype, which torch's promotion lets the others decide): a tensor of
    the operands' broadcast shape. One operand row-major, or several each row-major or expanded from a
    row-major tensor (``_row_major_broadcast``): the output row-major too; other layouts where
    FakeTensorMode takes torch's Python reference (``_reference_layout``), dense in the order the operands
    vote (``elementwise_layout``, as that reference computes it). An in-place op returns its first operand
    where the result has its shape."""
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
    shape: tuple[int, ...] | None = ()
    for t in tensors:
        shape = None if shape is None else broadcast_shape(shape, t.shape)
    if shape is None:
        return None  # not broadcastable: the kernel's own error
    if name.endswith("_"):  # in place: the first operand itself, whatever its layout
        return args[0] if shape == tuple(args[0].shape) and args[0].dtype == dtype else None
    out: torch.Tensor | None
    if row_major(tensors[0]) if len(tensors) == 1 else all(_row_major_broadcast(t) for t in tensors):
        out = new_meta(shape, dtype)
    elif _reference_layout(func):
        operands = [expanded(tuple(t.shape), tuple(t.stride()), shape) for t in tensors]
        out = torch.empty_strided(shape, elementwise_layout(shape, operands), dtype=dtype, device="meta")
    else:
        return None  # a C++ kernel's own layout choice (some keep channels-last, some do not): it runs
    return out


def _softmax(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_softmax``/``aten::_log_softmax(x, dim, half_to_float=False)``: a new row-major tensor of
    ``x``'s shape whatever its layout (the CPU kernels write row-major; torch's decomposition makes its
    input contiguous first to match)."""
    if len(args) != 3 or args[2] is not False or type(args[1]) is not int or no_elements(args[0]):
        return None
    x, dim = args[0], args[1]
    if not x.is_floating_point() or not -max(x.dim(), 1) <= dim < max(x.dim(), 1):
        return None
    return new_meta(tuple(x.shape), x.dtype)


def _sort(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::sort(x, dim, descending)``: sorted values like ``x`` and int64 indices of its shape."""
    if not 1 <= len(args) <= 3 or no_elements(args[0]):
        return None
    x = args[0]
    dim = args[1] if len(args) > 1 else -1
    if type(dim) is not int or not -max(x.dim(), 1) <= dim < max(x.dim(), 1) or not row_major(x):
        return None
    return new_meta(tuple(x.shape), x.dtype), new_meta(tuple(x.shape), torch.int64)


def _copy_like(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::tril``/``aten::triu(x, diagonal)``: a new row-major tensor like a row-major ``x``."""
    if not args or no_elements(args[0]) or not row_major(args[0]):
        return None
    return new_meta(tuple(args[0].shape), args[0].dtype)


def _flip(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::flip(x, dims)``: a new tensor laid out as ``empty_like(x)`` (``like_strides``)."""
    return None if len(args) != 2 or no_elements(args[0]) else empty_like_meta(args[0])


def _scan(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::cumsum``/``aten::cumprod(x, dim)`` of a floating ``x`` (no dtype) in any layout: a new
    row-major tensor of its shape (as the CPU kernels and torch's reference write)."""
    if kwargs.get("dtype") is not None or set(kwargs) - {"dtype"} or len(args) != 2 or no_elements(args[0]):
        return None
    x, dim = args
    if type(dim) is not int or not -max(x.dim(), 1) <= dim < max(x.dim(), 1) or not x.is_floating_point():
        return None
    return new_meta(tuple(x.shape), x.dtype)


def _masked_fill(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::masked_fill.Scalar/.Tensor(x, mask, value)`` of a floating ``x`` in any layout, a bool mask
    that broadcasts to ``x``'s shape and a number (or 0-dim tensor) value: a new row-major tensor of ``x``'s
    shape (torch's reference clones contiguous, then fills)."""
    if len(args) != 3 or not all(isinstance(t, torch.Tensor) for t in args[:2]) or no_elements(args[0]):
        return None
    x, mask, value = args
    if (
        not x.is_floating_point()
        or mask.dtype != torch.bool
        or broadcast_shape(tuple(x.shape), tuple(mask.shape)) != tuple(x.shape)
    ):
        return None
    if not isinstance(value, (int, float)) and not (isinstance(value, torch.Tensor) and value.dim() == 0):
        return None
    return new_meta(tuple(x.shape), x.dtype)


def _prod(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``aten::prod.dim_int(x, dim, keepdim=False)`` of a floating ``x`` (no dtype): the reduced tensor."""
    if kwargs.get("dtype") is not None or set(kwargs) - {"dtype"} or not 2 <= len(args) <= 3 or type(args[1]) is not int:
        return None
    return _reduced(args[0], [args[1]], args[2] if len(args) > 2 else False)


def _statistic_and_mean(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::var_mean.correction``/``aten::std_mean.correction``: two reduced tensors (``_statistic``)."""
    reduced = _statistic(args, kwargs)
    return None if reduced is None else (reduced, new_meta(tuple(reduced.shape), reduced.dtype))


def _repeat(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::repeat(x, repeats)``, at least one non-negative count per dim of ``x`` (more: new leading dims
    of size 1): a new row-major tensor of the padded shape times the counts."""
    if len(args) != 2 or not isinstance(args[0], torch.Tensor) or not isinstance(args[1], (list, tuple)):
        return None
    x, repeats = args
    if len(repeats) < x.dim() or not all(type(r) is int and r >= 0 for r in repeats):
        return None
    padded = (1,) * (len(repeats) - x.dim()) + tuple(x.shape)
    return new_meta(tuple(n * r for n, r in zip(padded, repeats)), x.dtype)


def _view(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::view``/``aten::_unsafe_view(x, sizes)`` of a tensor with elements: a view of ``x`` with the
    strides FakeTensorMode gives (``viewed_strides``, torch's Python reference: the meta kernel strides
    size-1 dimensions otherwise); None where no view exists (the kernel raises) or to 0 dims."""
    if len(args) != 2 or no_elements(args[0]) or not isinstance(args[1], (list, tuple)):
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
    if not 1 <= len(args) <= 3 or no_elements(args[0]) or not args[0].is_floating_point():
        return None
    x = args[0]
    dim = args[1] if len(args) > 1 else None
    keepdim = args[2] if len(args) > 2 else False
    if dim is not None and (type(dim) is not int or x.dim() == 0):
        return None
    reduced = _reduced(x, dim, keepdim)
    return None if reduced is None else new_meta(tuple(reduced.shape), torch.int64)


def _positional(maker: Callable[[tuple[Any, ...]], Any]) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    def made(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return None if kwargs else maker(args)

    return made


#: aten op → (the overloads covered, the maker of their output)
_MAKERS: dict[str, tuple[tuple[str, ...], Callable[[tuple[Any, ...], dict[str, Any]], Any]]] = {
    "aten::_softmax": (("default",), _positional(_softmax)),
    "aten::_log_softmax": (("default",), _positional(_softmax)),
    "aten::sort": (("default",), _positional(_sort)),
    "aten::flip": (("default",), _positional(_flip)),
    "aten::masked_fill": (("Scalar", "Tensor"), _positional(_masked_fill)),
    "aten::prod": (("dim_int",), _prod),
    "aten::cumsum": (("default",), _scan),
    "aten::tril": (("default",), _positional(_copy_like)),
    "aten::triu": (("default",), _positional(_copy_like)),
    "aten::amax": (("default",), _extremum),
    "aten::amin": (("default",), _extremum),
    "aten::logsumexp": (("default",), _extremum),
    "aten::mean": (("dim",), _extremum),
    "aten::sum": (("dim_IntList",), _extremum),
    "aten::var": (("correction",), _statistic),
    "aten::var_mean": (("correction",), _statistic_and_mean),
    "aten::std_mean": (("correction",), _statistic_and_mean),
    "aten::cumprod": (("default",), _scan),
    "aten::repeat": (("default",), _positional(_repeat)),
    "aten::view": (("default",), _positional(_view)),
    "aten::argmax": (("default",), _positional(_arg_extremum)),
    "aten::argmin": (("default",), _positional(_arg_extremum)),
    "aten::_unsafe_view": (("default",), _positional(_view)),
    "aten::std": (("correction",), _statistic),
    "aten::linalg_vector_norm": (("default",), _vector_norm),
    "aten::norm": (("Scalar", "ScalarOpt_dim"), _norm),
    "aten::rrelu_with_noise": (("default",), _rrelu_with_noise),
    "aten::slice": (("Tensor",), _slice),
    "aten::scatter": (("src", "value", "reduce", "value_reduce"), _scatter),
    "aten::scatter_add": (("default",), _scatter),
    "aten::mm": (("default",), _positional(_product)),
    "aten::bmm": (("default",), _positional(_product)),
    "aten::topk": (("default",), _positional(_topk)),
    "aten::index_add": (("default",), _index_add),
    "aten::index_add_": (("default",), _index_add_),
    "aten::_grouped_mm": (("default",), _grouped_mm),
}
_MAKERS.update({name: (overloads, _positional(maker)) for name, (overloads, maker) in LAYER_OUTPUTS.items()})


def made_output(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The output of ``func`` (an aten overload) on these meta operands, made from their geometry, or
    None when its kernel must run (see the module docstring)."""
    entry = _MAKERS.get(str(func._schema.name))
    if entry is None:
        return None if kwargs else _pointwise(func, args)
    overloads, maker = entry
    return maker(args, kwargs) if str(func._overloadname) in overloads else None
