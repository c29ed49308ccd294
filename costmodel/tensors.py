"""What the cost rules know about a tensor: its shape, dtype and layout, never its values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class TensorMeta:
    """Shape, dtype and memory layout of one (real or fake) tensor."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    contiguous: bool = True

    @property
    def numel(self) -> int:
        """Number of elements, the product of the shape (1 for a scalar tensor)."""
        total = 1
        for size in self.shape:
            total *= size
        return total

    @property
    def itemsize(self) -> int:
        """Bytes per element of the dtype."""
        return self.dtype.itemsize

    @classmethod
    def of(cls, tensor: torch.Tensor) -> TensorMeta:
        """Metadata of a (real or fake) tensor."""
        return cls(tuple(int(s) for s in tensor.shape), tensor.dtype, tensor.is_contiguous())


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor inside ``value`` (nested tuples, lists and dicts), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in tensors_in(item)]
    return []


def as_meta(value: Any) -> Any:
    """Replace every tensor inside ``value`` by its TensorMeta, keeping the container structure."""
    if isinstance(value, torch.Tensor):
        return TensorMeta.of(value)
    if isinstance(value, tuple):
        return tuple(as_meta(v) for v in value)
    if isinstance(value, list):
        return [as_meta(v) for v in value]
    if isinstance(value, dict):
        return {k: as_meta(v) for k, v in value.items()}
    return value
