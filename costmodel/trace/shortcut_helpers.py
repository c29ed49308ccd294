"""What the closed-form shape rules share: the result type, tensor tests, dimension arithmetic, pending
outputs and the AtenCall a rule records."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensor

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta, is_contiguous
from costmodel.trace.fake_tensors import LazyFakeMode, contiguous_strides
from costmodel.trace.pending import PendingTensor

#: A rule's answer: the node's output and the aten calls it runs.
Result = tuple[Any, list[AtenCall]]


_CPU = torch.device("cpu")


def default_device() -> torch.device:
    """``torch.get_default_device()``, without the import its first call makes (half a millisecond): a
    default other than the CPU lives in ``torch.utils._device``'s contexts (``set_default_device``, ``with
    torch.device(…)``), so while that module is not imported the default is the CPU."""
    return torch.get_default_device() if "torch.utils._device" in sys.modules else _CPU


def suggests_channels_last(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """Whether torch's ``suggest_memory_format`` reads these 4-D or 5-D strides as channels-last
    (``is_channels_last_strides_2d``/``_3d`` at concrete sizes): strides non-decreasing in the order C, W,
    H, (D,) N, each at least the previous one times its size, with its tie-breaks (a zero channel stride, an
    empty dimension, and N's stride equal to C's mean row-major). Its Python form imports sympy on first use."""
    order = (1, 3, 2, 0) if len(shape) == 4 else (1, 4, 3, 2, 0) if len(shape) == 5 else ()
    if not order or strides[1] == 0:
        return False
    least = 0
    for d in order:
        if shape[d] == 0 or strides[d] < least or d == 0 and least == strides[1]:
            return False
        least = strides[d] * shape[d]
    return True


def is_traced_tensor(value: Any) -> bool:
    """A tensor flowing through the trace: a fake tensor or a pending one (not a parameter's meta tensor)."""
    return type(value) is FakeTensor or type(value) is PendingTensor


def is_any_tensor(value: Any) -> bool:
    """A tensor of any kind (a module's meta buffer, a fake or pending tensor)."""
    return isinstance(value, torch.Tensor) or type(value) is PendingTensor


def holds(value: Any, found: Callable[[Any], bool]) -> bool:
    """Whether ``found`` holds for ``value`` or anything inside it (nested tuples, lists and dicts)."""
    if found(value):
        return True
    if isinstance(value, (tuple, list)):
        return any(holds(v, found) for v in value)
    if isinstance(value, dict):
        return any(holds(v, found) for v in value.values())
    return False


def holds_tensor(value: Any) -> bool:
    """Whether a tensor of any kind is inside ``value`` (nested tuples, lists and dicts)."""
    return holds(value, is_any_tensor)


def named_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any] | None:
    """The arguments after the tensor, by parameter name (``names`` in schema order); None when more are
    given positionally than there are names, or one is given twice (the call torch itself would refuse)."""
    if len(args) > len(names) or any(name in kwargs for name in names[: len(args)]):
        return None
    return dict(zip(names, args), **kwargs)


def normalised_dim(d: int, rank: int) -> int | None:
    """A dimension index made non-negative, or None when out of range."""
    d = d + rank if d < 0 else d
    return d if 0 <= d < rank else None


def numel_of(shape: tuple[int, ...]) -> int:
    """The number of elements of ``shape`` (1 for a scalar)."""
    total = 1
    for s in shape:
        total *= s
    return total


def pending_like(
    like: Any, shape: tuple[int, ...], mode: LazyFakeMode, stride: tuple[int, ...] | None = None, offset: int = 0
) -> PendingTensor:
    """A PendingTensor of ``shape`` with ``like``'s dtype and device: row-major unless ``stride`` is given
    (row-major by construction is contiguous: never re-derived from symbolic strides, which costs guards)."""
    if stride is None:
        return PendingTensor(shape, contiguous_strides(shape), offset, like.dtype, like.device, mode, contiguous=True)
    return PendingTensor(shape, stride, offset, like.dtype, like.device, mode)


def preserved_like(x: Any, mode: LazyFakeMode) -> PendingTensor:
    """A new tensor of a contiguous ``x``'s geometry as torch's ``preserve_format`` allocates it (copies,
    casts, ``*_like``): ``x``'s own strides, size-1 dimensions' included (a contiguous tensor may carry
    channels-last strides there), offset 0; contiguous by construction."""
    return PendingTensor(tuple(x.shape), tuple(x.stride()), 0, x.dtype, x.device, mode, contiguous=True)


def view_like(
    like: Any, shape: tuple[int, ...], mode: LazyFakeMode, stride: tuple[int, ...] | None = None, offset: int = 0
) -> PendingTensor:
    """A view of ``like`` as a PendingTensor: ``pending_like``, and it requires grad where ``like`` does (a
    view of a parameter keeps ``requires_grad`` even under no_grad, and matmul's choice of kernels reads it)."""
    out = pending_like(like, shape, mode, stride, offset)
    out.requires_grad = like.requires_grad
    return out


def aten_call(
    op: str, args: tuple[Any, ...], inputs: list[Any], outputs: list[Any], *, aliases: bool = False, **kwargs: Any
) -> AtenCall:
    """The AtenCall of ``op`` with these (already TensorMeta) ``args`` and keyword arguments, reading the
    distinct tensors of ``inputs`` (by identity) and returning ``outputs``."""
    unique: list[Any] = []
    for t in inputs:
        if not any(t is u for u in unique):
            unique.append(t)
    return AtenCall(op, args, kwargs, tuple(TensorMeta.of(t) for t in unique), tuple(TensorMeta.of(t) for t in outputs), aliases)


class InnerTensor:
    """A tensor an op's C++ code makes and reads inside one rule (never a node's output: a circular pad's
    slices, a recurrent layer's gates): its sizes, strides and TensorMeta, all a recorded call needs."""

    __slots__ = ("meta", "shape", "stride")

    def __init__(self, shape: tuple[int, ...], stride: tuple[int, ...], dtype: torch.dtype) -> None:
        self.shape, self.stride = shape, stride
        self.meta = TensorMeta(shape, dtype, is_contiguous(shape, stride))

    @classmethod
    def of(cls, t: Any) -> InnerTensor:
        """The geometry of a traced tensor ``t``."""
        return cls(tuple(t.shape), tuple(t.stride()), t.dtype)


def trimmed(values: list[Any], defaults: list[Any]) -> list[Any]:
    """Positional arguments without the trailing ones equal to their schema defaults."""
    end = len(values)
    while end and values[end - 1] == defaults[end - 1]:
        end -= 1
    return values[:end]
