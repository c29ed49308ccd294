"""Pending tensors: the geometry of a fake tensor handed between nodes before anything has to run on it,
and helpers that find, describe or materialise the tensors inside nested values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from costmodel.rules.tensor_meta import TensorMeta, is_contiguous
from costmodel.trace.fake_tensors import LazyFakeMode, contiguous_strides, fake_from_meta


class PendingTensor:
    """The geometry of a fake tensor that has not been built because nothing has run on it yet.

    Shape propagation hands these between nodes whose outcome is known from metadata (a closed-form
    shape rule, a memoised node); ``materialise`` builds the fake tensor (once: every reader gets the
    same object) when a node really has to run. Reads like a tensor for what rules need: ``shape``,
    ``dtype``, ``device``, ``stride()``, ``storage_offset()``, ``is_contiguous()``, ``dim()``.
    """

    __slots__ = ("shape", "_stride", "_offset", "dtype", "device", "_mode", "_fake", "_contiguous", "_source", "requires_grad")
    layout = torch.strided
    constant = None

    def __init__(
        self,
        shape: tuple[int, ...],
        stride: tuple[int, ...],
        offset: int,
        dtype: torch.dtype,
        device: torch.device,
        mode: Any,
        contiguous: bool | None = None,
    ) -> None:
        """``mode``: a ``fake.LazyFakeMode`` (the FakeTensorMode is made only if one is materialised);
        ``contiguous``: known by construction, else derived from the strides when first asked."""
        self.shape = torch.Size(shape)
        self._stride = stride
        self._offset = offset
        self.dtype = dtype
        self.device = device
        self._mode = mode
        self._fake: torch.Tensor | None = None
        self._contiguous = contiguous
        self._source: Callable[[], torch.Tensor] | None = None
        self.requires_grad = False

    def stride(self) -> tuple[int, ...]:
        """Strides, in elements."""
        return self._stride

    def storage_offset(self) -> int:
        """Offset into the storage, in elements."""
        return self._offset

    def dim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape, or one dimension's size."""
        return self.shape if dim is None else self.shape[dim]

    def is_contiguous(self) -> bool:
        """Row-major contiguity (see ``is_contiguous``)."""
        if self._contiguous is None:
            self._contiguous = is_contiguous(tuple(self.shape), self._stride)
        return self._contiguous

    def known_contiguity(self) -> bool | None:
        """Contiguity if already known (by construction or asked before), else None; never computed here."""
        return self._contiguous

    def materialise(self) -> torch.Tensor:
        """The fake tensor of this geometry, built on first use."""
        if self._fake is None and self._source is not None:
            self._fake = self._source()
        if self._fake is None:
            geometry = (tuple(self.shape), self._stride, self._offset, self.dtype, self.device)
            self._fake = fake_from_meta(self._mode.get(), *geometry, self.requires_grad)
        return self._fake

    def __repr__(self) -> str:
        return f"PendingTensor({list(self.shape)}, {self.dtype})"


def standing_in(meta: torch.Tensor, device: torch.device, mode: Any, source: Callable[[], torch.Tensor]) -> PendingTensor:
    """A PendingTensor standing for one of the traced copy's meta tensors (a parameter or buffer read by
    the graph) on its real ``device``, so that shape rules take it like any traced tensor; materialised,
    it is ``source()`` — the meta tensor's one fake twin, never a second fake of it."""
    out = PendingTensor(tuple(meta.shape), meta.stride(), int(meta.storage_offset()), meta.dtype, device, mode)
    out._source = source
    out.requires_grad = meta.requires_grad
    return out


def materialised(value: Any, twin: Callable[[torch.Tensor], torch.Tensor | None] | None = None) -> Any:
    """``value`` with every PendingTensor inside (tuples, lists, dicts) replaced by its fake tensor,
    and every other tensor by ``twin(tensor)`` where that is not None (the traced copy's meta tensors)."""
    if type(value) is PendingTensor:
        return value.materialise()
    if twin is not None and isinstance(value, torch.Tensor):
        found = twin(value)
        return value if found is None else found
    if isinstance(value, tuple):
        items = [materialised(v, twin) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, list):
        return [materialised(v, twin) for v in value]
    if isinstance(value, dict):
        return {k: materialised(v, twin) for k, v in value.items()}
    return value


def tensors_in(value: Any) -> list[Any]:
    """Every tensor (or PendingTensor) inside ``value`` (nested tuples, lists and dicts), in order."""
    if isinstance(value, (torch.Tensor, PendingTensor)):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in tensors_in(item)]
    return []


def distinct_tensors(value: Any) -> list[Any]:
    """The tensors inside ``value`` (as ``tensors_in``), each object once, in first-seen order."""
    seen: set[int] = set()
    out = []
    for t in tensors_in(value):
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def as_meta(value: Any) -> Any:
    """Replace every tensor inside ``value`` by its TensorMeta, keeping the container structure."""
    if isinstance(value, (torch.Tensor, PendingTensor)):
        return TensorMeta.of(value)
    if isinstance(value, tuple):
        return tuple(as_meta(v) for v in value)
    if isinstance(value, list):
        return [as_meta(v) for v in value]
    if isinstance(value, dict):
        return {k: as_meta(v) for k, v in value.items()}
    return value


def pending_input(spec: Any, dtype: torch.dtype, mode: LazyFakeMode) -> PendingTensor:
    """A model input (a ``TensorSpec``) as a contiguous CPU PendingTensor: its dtype, or ``dtype``."""
    shape = tuple(spec.shape)
    return PendingTensor(shape, contiguous_strides(shape), 0, spec.dtype or dtype, torch.device("cpu"), mode, contiguous=True)
