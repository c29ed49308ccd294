"""What the cost rules know about a tensor: its shape, dtype and layout, never its values."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class TensorMeta:
    """Shape, dtype and memory layout of one (real or fake) tensor."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    contiguous: bool = True

    @functools.cached_property
    def numel(self) -> int:
        """Number of elements, the product of the shape (1 for a scalar tensor); worked out once (a product
        of symbolic sizes costs torch's ShapeEnv work on every step)."""
        total = 1
        for size in self.shape:
            total *= size
        return total

    @property
    def itemsize(self) -> int:
        """Bytes per element of the dtype."""
        return self.dtype.itemsize

    @classmethod
    def of(cls, tensor: Any) -> TensorMeta:
        """Metadata of a (real or fake) tensor or a PendingTensor; a symbolic size (``torch.SymInt``, under a
        ``ShapeEnv``) is kept as it is, never turned into its hint."""
        return cls(tuple(map(_size, tensor.shape)), tensor.dtype, tensor.is_contiguous())


def _size(size: Any) -> Any:
    """An int, or a ``torch.SymInt`` kept symbolic (``int()`` would fix it to its hint)."""
    return size if type(size) is int or type(size) is torch.SymInt else int(size)


def is_contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """torch's row-major contiguity: a tensor without elements is contiguous; otherwise each dimension of
    size > 1 has the stride of the ones after it."""
    if 0 in shape:
        return True
    expected = 1
    for size, step in zip(reversed(shape), reversed(stride)):
        if size != 1:
            if step != expected:
                return False
            expected *= size
    return True
