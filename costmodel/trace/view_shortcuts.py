"""Closed-form rules for the views models take of their tensors: ``permute``, ``expand``, ``view`` and
``reshape`` (a copy first where no view exists), and basic indexing (``x[:, :c]``, ``x[:, 0]``,
``x[..., 1:, None]``).

A view moves no data: its shape, strides and offset are arithmetic on the input's. Each rule records
the aten views in the order the dispatcher runs them, with the arguments as it hands them over (tests
hold every rule to FakeTensorMode, call for call); anything else returns None and runs faked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta, is_contiguous
from costmodel.trace.elementwise_shortcuts import broadcast_shape, elementwise_layout
from costmodel.trace.fake_tensors import LazyFakeMode, contiguous_strides
from costmodel.trace.shortcut_helpers import (
    Result,
    aten_call,
    is_any_tensor,
    is_traced_tensor,
    named_arguments,
    normalised_dim,
    numel_of,
    pending_like,
    view_like,
)

#: The largest int64: what an open-ended slice passes to ``aten::slice`` as its end.
_OPEN_END = 2**63 - 1


def _sizes(args: tuple[Any, ...], kinds: tuple[type, ...] = (int,)) -> list[int] | None:
    """Sizes or dims given one by one or as one list/tuple/torch.Size, each of a type in ``kinds``
    (ints; also SymInts where a rule takes symbolic sizes); None otherwise or when none are given."""
    values = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    if not args or not all(type(v) in kinds for v in values):
        return None
    return list(values)


def permute(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.permute(dims)``: sizes and strides reordered (``aten::permute`` with the dims as given)."""
    dims = _sizes(args) if not kwargs else None
    if dims is None or len(dims) != x.dim():
        return None
    resolved = [normalised_dim(d, x.dim()) for d in dims]
    if any(d is None for d in resolved) or len(set(resolved)) != len(resolved):
        return None
    order = [d for d in resolved if d is not None]
    out = view_like(x, tuple(x.shape[d] for d in order), mode, tuple(x.stride()[d] for d in order), x.storage_offset())
    return out, [aten_call("aten::permute", (TensorMeta.of(x), dims), [x], [out], aliases=True)]


def expand(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.expand(sizes)`` (``aten::expand`` with the sizes as given), torch's geometry taken from the
    innermost dimension out: a stretched size-1 dimension gets stride 0, a kept one (or -1) its own; a new
    leading dimension of size 1 the span of the dimension after it (size × stride), of any other size 0."""
    sizes = _sizes(args) if not kwargs else None
    if sizes is None or len(sizes) < x.dim():
        return None
    lead = len(sizes) - x.dim()
    shape, strides = [0] * len(sizes), [0] * len(sizes)
    for i in reversed(range(len(sizes))):
        if i >= lead:
            own, stride = x.shape[i - lead], x.stride()[i - lead]
        else:  # a new dimension: a 0-dim tensor's innermost one spans nothing
            own, stride = 1, shape[i + 1] * strides[i + 1] if i + 1 < len(sizes) else 0
        size = sizes[i]
        if size == -1 and i >= lead:
            size = own
        if size != own:
            if own != 1 or size < 0:
                return None  # -1 for a new dimension, or a dimension that is not 1 stretched: torch raises
            stride = 0
        shape[i], strides[i] = size, stride
    out = view_like(x, tuple(shape), mode, tuple(strides), x.storage_offset())
    return out, [aten_call("aten::expand", (TensorMeta.of(x), sizes), [x], [out], aliases=True)]


def inferred_shape(sizes: list[int], numel: int) -> tuple[int, ...] | None:
    """The shape ``sizes`` asks for, its one -1 (if any) inferred from ``numel``; None when no shape fits."""
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        return None
    known = numel_of(tuple(s for s in sizes if s != -1))
    if -1 in sizes:
        if known == 0 or numel % known:
            return None
        return tuple(numel // known if s == -1 else s for s in sizes)
    return tuple(sizes) if known == numel else None


def view_strides(shape: tuple[int, ...], strides: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...] | None:
    """Whether ``reshape`` can view (torch's eager rule, which decides between a view and a copy): the
    strides of ``new`` as a view of a tensor of ``shape`` and ``strides``, or None where the elements
    cannot be re-addressed without a copy. Runs of dimensions that are contiguous with each other
    (``strides[d] == strides[d + 1] * shape[d + 1]``) are chunks; each chunk must be split or merged by
    whole dimensions of ``new``, which take strides within the chunk, innermost first (size-1 dimensions
    of ``new`` are free). A tensor without elements views as row-major (as itself when the shape stays)."""
    if numel_of(shape) == 0:
        return tuple(strides) if tuple(shape) == tuple(new) else contiguous_strides(new)
    out = [0] * len(new)
    view_d = len(new) - 1
    chunk_base = strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in reversed(range(len(shape))):
        tensor_numel *= shape[tensor_d]
        chunk_ends = tensor_d == 0 or (shape[tensor_d - 1] != 1 and strides[tensor_d - 1] != tensor_numel * chunk_base)
        if not chunk_ends:
            continue
        while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
            out[view_d] = view_numel * chunk_base
            view_numel *= new[view_d]
            view_d -= 1
        if view_numel != tensor_numel:
            return None
        if tensor_d > 0:
            chunk_base, tensor_numel, view_numel = strides[tensor_d - 1], 1, 1
    return tuple(out) if view_d == -1 else None


def viewed_strides(shape: tuple[int, ...], strides: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...] | None:
    """The strides FakeTensorMode gives ``aten::view`` of a tensor with elements to ``new`` (torch's Python
    reference of the view, which differs from the eager kernel only in the strides of size-1 dimensions),
    or None where it refuses. A row-major tensor viewed to one dimension, or a 1-D one to two, is
    re-strided row-major; otherwise, left to right, each size of ``new`` is a dimension kept as it is, or
    the collapse of the next dimensions (allowed where each is dense in the next or of size 1; its stride
    the least of the non-1 strides) split to the size wanted; trailing size-1 dimensions are added or
    dropped."""
    if is_contiguous(shape, strides):
        if len(new) == 1 and len(shape) > 1:
            return (1,)
        if len(new) == 2 and len(shape) == 1:
            return (new[1], 1)
    sizes, steps = list(shape), list(strides)
    idx = 0
    for length in new:
        if idx >= len(sizes):  # a trailing size-1 dimension, split off the last one
            if length != 1:
                return None
            steps.append(steps[-1])
            sizes.append(1)
            idx += 1
            continue
        if length == sizes[idx]:
            idx += 1
            continue
        accum, end = sizes[idx], idx
        while accum % length:
            end += 1
            if end >= len(sizes):
                return None
            accum *= sizes[end]
        if end != idx:
            run = range(end - 1, idx - 1, -1)
            if not all(sizes[i] == 1 or sizes[i + 1] == 1 or steps[i] == steps[i + 1] * sizes[i + 1] for i in run):
                return None
            stride = min([steps[end]] + [steps[i] for i in run if sizes[i] != 1])
            sizes[idx : end + 1], steps[idx : end + 1] = [accum], [stride]
        if accum != length:
            inner = accum // length
            sizes[idx : idx + 1], steps[idx : idx + 1] = [length, inner], [steps[idx] * inner, steps[idx]]
        idx += 1
    if any(size != 1 for size in sizes[idx:]):
        return None
    return tuple(steps[:idx])


def _concrete(x: Any, sizes: list[int]) -> bool:
    """Whether every size and stride involved is a plain int (symbolic ones take the row-major path only)."""
    return all(type(v) is int for v in (*sizes, *x.shape, *x.stride()))


def view(x: Any, sizes: list[int], mode: LazyFakeMode) -> Result | None:
    """``x.view(sizes)``: the strides ``viewed_strides`` finds (None where there are none: torch raises),
    recorded as ``aten::view`` with the sizes as given (-1 included)."""
    if x.dim() == 0 or not _concrete(x, sizes):
        return _row_major_view(x, sizes, mode) if x.is_contiguous() else None
    shape = inferred_shape(sizes, numel_of(tuple(x.shape)))
    if shape is None or not shape:
        return None  # to 0-dim (a chain of squeezes): run faked
    empty = numel_of(shape) == 0  # no elements: re-strided row-major
    strides = contiguous_strides(shape) if empty else viewed_strides(tuple(x.shape), tuple(x.stride()), shape)
    if strides is None:
        return None
    out = view_like(x, shape, mode, strides, x.storage_offset())
    return out, [aten_call("aten::view", (TensorMeta.of(x), sizes), [x], [out], aliases=True)]


def _row_major_view(x: Any, sizes: list[int], mode: LazyFakeMode) -> Result | None:
    """The view of a row-major tensor, sizes possibly symbolic: arithmetic on the shape alone."""
    shape = inferred_shape(sizes, numel_of(tuple(x.shape)))
    if shape is None:
        return None
    out = view_like(x, shape, mode, offset=x.storage_offset())
    return out, [aten_call("aten::view", (TensorMeta.of(x), sizes), [x], [out], aliases=True)]


def reshape_to(x: Any, sizes: list[int], mode: LazyFakeMode) -> Result | None:
    """``x.reshape(sizes)``: a view where one exists (``view``); otherwise a row-major copy
    (``aten::clone``) viewed to the inferred shape (``aten::_unsafe_view``)."""
    if x.is_contiguous() or x.dim() == 0 or not _concrete(x, sizes):
        return view(x, sizes, mode)
    shape = inferred_shape(sizes, numel_of(tuple(x.shape)))
    if shape is None:
        return None
    if view_strides(tuple(x.shape), tuple(x.stride()), shape) is not None:
        return view(x, list(shape), mode)  # a row-major tensor hands view the sizes as given, others the inferred
    copy = pending_like(x, tuple(x.shape), mode)
    out = pending_like(x, shape, mode)
    clone = aten_call("aten::clone", (TensorMeta.of(x),), [x], [copy], memory_format=torch.contiguous_format)
    return out, [clone, aten_call("aten::_unsafe_view", (TensorMeta.of(copy), list(shape)), [copy], [out], aliases=True)]


def _method_sizes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[int] | None:
    """The sizes of ``x.view(*sizes)`` / ``x.reshape(sizes)`` (ints or symbolic sizes), or None."""
    return None if kwargs else _sizes(args, (int, torch.SymInt))


def view_method(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.view(*sizes)`` (a dtype argument runs faked)."""
    sizes = _method_sizes(args, kwargs)
    return None if sizes is None else view(x, sizes, mode)


def reshape(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.reshape(*sizes)`` / ``torch.reshape(x, sizes)``."""
    sizes = _method_sizes(args, kwargs)
    return None if sizes is None else reshape_to(x, sizes, mode)


def getitem(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x[index]`` with an index of ints, slices, None and one Ellipsis: per index element, left to
    right, ``aten::select`` (an int), ``aten::slice`` (a slice) or ``aten::unsqueeze`` (None). As torch's
    indexing does: inside a tuple a slice from 0 with step 1 reaching the end takes no op, and an index
    that takes none at all (``x[...]``, ``x[:, :]``) returns ``aten::alias``; a lone slice is always
    sliced. Tensor, list and bool indices (advanced indexing) are left to FakeTensorMode."""
    if kwargs or len(args) != 2 or not is_traced_tensor(args[0]):
        return None
    x, index = args
    in_tuple = type(index) is tuple
    items = list(index) if in_tuple else [index]
    if items.count(Ellipsis) > 1:
        return None
    if not all(type(i) in (int, slice) or i is None or i is Ellipsis for i in items):
        return _advanced(x, items, mode)
    if any(
        type(i) is slice and not all(v is None or (type(v) is int and abs(v) < _OPEN_END // 2) for v in (i.start, i.stop, i.step))
        for i in items
    ):
        return None  # bounds torch truncates, or not ints
    taken = sum(1 for i in items if type(i) in (int, slice))
    if taken > x.dim():
        return None
    current, dim, calls = x, 0, []
    for item in items:
        if item is Ellipsis:
            dim += x.dim() - taken
            continue
        step: tuple[Any, AtenCall | None] | None
        if item is None:
            step = _unsqueeze(current, dim, mode)
        elif type(item) is int:
            step = _select(current, dim, item, mode)
        else:
            step = _slice(current, dim, item, in_tuple, mode)
        if step is None:
            return None
        if step[1] is not None:
            current = step[0]
            calls.append(step[1])
        dim += 0 if type(item) is int else 1
    if not calls:  # x[...], x[:, :]: a new view of the whole tensor
        out = view_like(x, tuple(x.shape), mode, tuple(x.stride()), x.storage_offset())
        return out, [aten_call("aten::alias", (TensorMeta.of(x),), [x], [out], aliases=True)]
    return current, calls


def setitem_number(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x[index] = number`` on the CPU with an index ``getitem`` takes (ints, slices, None, one Ellipsis), as
    torch's indexing runs it: the number as a zero-dim tensor of x's dtype (``aten::lift_fresh``), the
    index's views as ``getitem`` records them inside a tuple (a whole-dimension slice takes no op, even
    alone; none where it would only alias), then ``aten::fill_`` of the view with it (``aten::copy_`` into a
    zero-dim view). The node's value is None. (On meta torch copies a tensor of the number instead.)"""
    if kwargs or len(args) != 3 or not is_traced_tensor(args[0]) or type(args[2]) not in (bool, int, float):
        return None
    x, index, number = args
    if x.device.type != "cpu" or x.dtype.is_complex:
        return None
    viewed = getitem((x, index if type(index) is tuple else (index,)), {}, mode)  # a lone slice reads as in a tuple
    if viewed is None:
        return None
    target, calls = viewed
    if [call.op for call in calls] == ["aten::alias"]:
        target, calls = x, []
    scalar = pending_like(x, (), mode)
    lifted = aten_call("aten::lift_fresh", (TensorMeta.of(scalar),), [scalar], [scalar])
    op = "aten::copy_" if target.dim() == 0 else "aten::fill_"  # torch's copy_to: equal sizes are copied
    filled = aten_call(op, (TensorMeta.of(target), TensorMeta.of(scalar)), [target, scalar], [target], aliases=True)
    return None, [lifted, *calls, filled]


def _advanced(x: Any, items: list[Any], mode: LazyFakeMode) -> Result | None:
    """``x[..., idx, :]`` with integer index tensors (broadcast together), whole-dimension slices and one
    Ellipsis: one ``aten::index`` of ``x`` and the list of indices per dimension (None for a dimension
    not indexed, none after the last index), a new row-major tensor of the dims before the indices, the
    indices' broadcast shape, and the dims after; where the indexed dims are not adjacent, the indices'
    shape comes first (NumPy's rule). Bool masks, ints, partial slices and None run faked."""
    if not all(i is Ellipsis or type(i) is slice and i == slice(None) or _index_tensor(i, x) for i in items):
        return None
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items = items[:at] + [slice(None)] * (x.dim() - len(items) + 1) + items[at + 1 :]
    if len(items) > x.dim():
        return None
    indexed = [d for d, i in enumerate(items) if type(i) is not slice]
    if not indexed:
        return None
    shape: tuple[int, ...] | None = ()
    for d in indexed:
        shape = None if shape is None else broadcast_shape(shape, tuple(items[d].shape))
    if shape is None:
        return None
    kept = [d for d in range(x.dim()) if d not in indexed]
    adjacent = indexed == list(range(indexed[0], indexed[-1] + 1))
    before = indexed[0] if adjacent else 0  # not adjacent: the indices' shape goes first
    order = [*kept[:before], *indexed, *kept[before:]]  # x's dims, indexed ones where they land
    out_shape = (*(x.shape[d] for d in kept[:before]), *shape, *(x.shape[d] for d in kept[before:]))
    strides = _index_output_strides(x, order, before, len(indexed), len(shape), out_shape)
    if isinstance(strides, bool):
        return None  # symbolic sizes of a tensor that is not row-major
    out = pending_like(x, out_shape, mode, strides)
    listed = [None if type(i) is slice else TensorMeta.of(i) for i in items[: indexed[-1] + 1]]
    return out, [aten_call("aten::index", (TensorMeta.of(x), listed), [x, *(items[d] for d in indexed)], [out])]


def _index_output_strides(
    x: Any, order: list[int], before: int, indexed: int, replaced: int, out_shape: tuple[int, ...]
) -> tuple[int, ...] | bool | None:
    """The strides of ``aten::index``'s output, as its kernel lays it out: an element-wise layout of ``x``
    with its dims in ``order`` and the ``indexed`` dims (from ``before``) replaced by ``replaced`` dims of
    stride 0. None (row-major) for a row-major ``x``, whose order that keeps; False where sizes are
    symbolic and ``x`` is not row-major."""
    shape = tuple(x.shape)
    symbolic = not all(type(v) is int for v in (*shape, *x.stride()))
    if x.is_contiguous() and (symbolic or tuple(x.stride()) == contiguous_strides(shape)):
        return None
    if symbolic:
        return False
    strides = [x.stride()[d] for d in order]
    strides[before : before + indexed] = [0] * replaced
    return elementwise_layout(out_shape, [tuple(strides)])


def gather(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``torch.gather(x, dim, index)`` with an int64 index of ``x``'s rank, no larger than ``x`` outside
    ``dim``: ``aten::gather``, a new row-major tensor of the index's shape and ``x``'s dtype."""
    params = named_arguments(args, kwargs, ("dim", "index", "sparse_grad"))
    if params is None or set(params) - {"dim", "index", "sparse_grad"} or params.get("sparse_grad", False) is not False:
        return None
    given, index = params.get("dim"), params.get("index")
    if index is None or type(given) is not int or not is_any_tensor(index):
        return None
    if index.dtype != torch.int64 or index.device != x.device:
        return None
    dim = normalised_dim(given, x.dim())
    if dim is None or index.dim() != x.dim() or any(i > s for d, (i, s) in enumerate(zip(index.shape, x.shape)) if d != dim):
        return None
    out = pending_like(x, tuple(index.shape), mode)
    return out, [aten_call("aten::gather", (TensorMeta.of(x), given, TensorMeta.of(index)), [x, index], [out])]


def _index_tensor(value: Any, x: Any) -> bool:
    """An integer tensor (int64 or int32) of at least one dimension on ``x``'s device (a 0-dim one indexes
    as an int), usable as an advanced index."""
    if not is_any_tensor(value) or value.dtype not in (torch.int64, torch.int32) or value.device != x.device:
        return False
    return value.dim() > 0 and value.layout is torch.strided


def _select(x: Any, dim: int, index: int, mode: LazyFakeMode) -> tuple[Any, AtenCall] | None:
    size = x.shape[dim]
    position = index + size if index < 0 else index
    if not 0 <= position < size:
        return None  # out of range: the real error comes from FakeTensorMode
    shape = tuple(s for d, s in enumerate(x.shape) if d != dim)
    strides = tuple(s for d, s in enumerate(x.stride()) if d != dim)
    out = view_like(x, shape, mode, strides, x.storage_offset() + position * x.stride()[dim])
    return out, aten_call("aten::select", (TensorMeta.of(x), dim, index), [x], [out], aliases=True)


def _slice(x: Any, dim: int, item: slice, in_tuple: bool, mode: LazyFakeMode) -> tuple[Any, AtenCall | None] | None:
    start, stop, step = item.start, item.stop, 1 if item.step is None else item.step
    if step <= 0:
        return None
    size = x.shape[dim]
    if in_tuple and (start or 0) == 0 and step == 1 and (stop is None or stop >= size):
        return x, None  # the whole dimension: no op
    first = _clamp(0 if start is None else start, size)
    end = _clamp(_OPEN_END if stop is None else stop, size)
    length = max(0, (end - first + step - 1) // step)
    shape, strides = list(x.shape), list(x.stride())
    shape[dim] = length
    strides[dim] = x.stride()[dim] * step
    out = view_like(x, tuple(shape), mode, tuple(strides), x.storage_offset() + first * x.stride()[dim])
    given: tuple[Any, ...] = (0 if start is None else start, _OPEN_END if stop is None else stop) + ((step,) if step != 1 else ())
    return out, aten_call("aten::slice", (TensorMeta.of(x), dim, *given), [x], [out], aliases=True)


def _clamp(position: int, size: int) -> int:
    """A slice bound as Python reads it: negative counts from the end, then clipped to [0, size]."""
    if position < 0:
        position += size
    return min(max(position, 0), size)


def _unsqueeze(x: Any, dim: int, mode: LazyFakeMode) -> tuple[Any, AtenCall] | None:
    if dim > x.dim():
        return None
    stride = x.shape[dim] * x.stride()[dim] if dim < x.dim() else 1
    shape = (*x.shape[:dim], 1, *x.shape[dim:])
    strides = (*x.stride()[:dim], stride, *x.stride()[dim:])
    out = view_like(x, shape, mode, strides, x.storage_offset())
    return out, aten_call("aten::unsqueeze", (TensorMeta.of(x), dim), [x], [out], aliases=True)


def unsqueeze(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.unsqueeze(dim)``: a size-1 dimension at ``dim`` (negative counts from the end of the result),
    recorded as ``aten::unsqueeze`` with the dim as given."""
    params = named_arguments(args, kwargs, ("dim",))
    if params is None:
        return None
    dim = params.get("dim")
    if set(params) != {"dim"} or type(dim) is not int:
        return None
    position = normalised_dim(dim, x.dim() + 1)
    if position is None:
        return None
    step = _unsqueeze(x, position, mode)
    if step is None:
        return None
    out = step[0]  # recorded again with the dim as the caller gave it
    return out, [aten_call("aten::unsqueeze", (TensorMeta.of(x), dim), [x], [out], aliases=True)]


def unflatten(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.unflatten(dim, sizes)`` / ``torch.unflatten``: ATen's composite infers a -1 among ``sizes`` from
    the dim's size and runs ``aten::view`` to the whole new shape (named sizes run faked)."""
    params = named_arguments(args, kwargs, ("dim", "sizes"))
    if params is None or set(params) != {"dim", "sizes"} or type(params["dim"]) is not int:
        return None
    sizes = params["sizes"]
    if not isinstance(sizes, (tuple, list, torch.Size)) or not sizes or not all(type(s) is int for s in sizes):
        return None
    dim = normalised_dim(params["dim"], x.dim())
    if dim is None or type(x.shape[dim]) is not int:
        return None
    inferred = inferred_shape(list(sizes), x.shape[dim])
    if inferred is None:
        return None  # torch's own error
    return view(x, [*x.shape[:dim], *inferred, *x.shape[dim + 1 :]], mode)


#: Tensor methods → rule (the tensor, the other arguments, keywords, the mode)
def _as(rule: Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]) -> Any:
    """``x.<rule>_as(other)``: the rule with ``other``'s sizes (what torch's composite passes on)."""

    def with_sizes_of(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        other = args[0] if len(args) == 1 and not kwargs else kwargs.get("other") if not args and len(kwargs) == 1 else None
        if other is None or not hasattr(other, "shape") or not hasattr(other, "dtype"):
            return None
        return rule(x, (list(other.shape),), {}, mode)

    return with_sizes_of


METHODS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    "reshape_as": _as(reshape),
    "view_as": _as(view_method),
    "expand_as": _as(expand),
    "permute": permute,
    "expand": expand,
    "unsqueeze": unsqueeze,
    "view": view_method,
    "reshape": reshape,
    "gather": gather,
    "unflatten": unflatten,
}
#: Torch functions taking the tensor first → rule
FUNCTIONS_ON_TENSOR: dict[Any, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    torch.permute: permute,
    torch.unsqueeze: unsqueeze,
    torch.reshape: reshape,
    torch.gather: gather,
    torch.unflatten: unflatten,
}
