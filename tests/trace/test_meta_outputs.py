"""Outputs the meta run makes from geometry (``trace.meta_outputs``) are held to torch's own kernels run
for real on the CPU: every element-wise aten op that takes tensors and numbers, on row-major, broadcast,
expanded, channels-last and permuted operands — same shape, strides and dtype wherever an output is made."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from costmodel.trace.meta_outputs import made_output


def _pointwise_overloads() -> list[Any]:
    """Every element-wise aten overload (not in place), all of ``torch.ops.aten`` loaded first."""
    for name in torch._C._dispatch_get_all_op_names():  # the packets load lazily: load every aten one
        if name.startswith("aten::"):
            getattr(torch.ops.aten, name.removeprefix("aten::").split(".")[0], None)
    found = []
    for name in dir(torch.ops.aten):
        try:
            packet = getattr(torch.ops.aten, name)
            overloads = packet.overloads()
        except Exception:  # noqa: BLE001,S112  # not an op packet
            continue
        for overload in overloads:
            func = getattr(packet, overload)
            if torch.Tag.pointwise in func.tags and not str(func._schema.name).endswith("_"):
                found.append(func)
    return found


def _operands(func: Any, tensors: list[torch.Tensor]) -> list[Any] | None:
    """Positional arguments for ``func``: tensors where it takes tensors (from ``tensors`` in turn), a
    number where it takes one; None where it needs anything else before its defaults."""
    out: list[Any] = []
    pool = iter(tensors)
    for argument in func._schema.arguments:
        if argument.kwarg_only or argument.has_default_value():
            break
        kind = str(argument.type)
        if kind == "Tensor":
            out.append(next(pool, tensors[-1]))
        elif kind in ("Scalar", "float", "number"):
            out.append(0.5)
        elif kind == "int":
            out.append(1)
        else:
            return None
    return out


_LAYOUTS = {
    "row-major": lambda: [torch.rand(2, 3, 4, 5) + 0.5, torch.rand(2, 3, 4, 5) + 0.5],
    "broadcast": lambda: [torch.rand(2, 3, 4, 5) + 0.5, torch.rand(3, 1, 5) + 0.5],
    "expanded": lambda: [torch.rand(2, 3, 4, 5) + 0.5, (torch.rand(2, 1, 4, 5) + 0.5).expand(2, 3, 4, 5)],
    "channels-last": lambda: [(torch.rand(2, 3, 4, 5) + 0.5).contiguous(memory_format=torch.channels_last)] * 2,
    "permuted": lambda: [(torch.rand(2, 5, 4, 3) + 0.5).transpose(1, 3)] * 2,
    "scalar tensor": lambda: [torch.rand(2, 3, 4, 5) + 0.5, torch.tensor(0.5, dtype=torch.float64)],
}


@pytest.mark.parametrize("layout", sorted(_LAYOUTS))
def test_made_element_wise_outputs_match_the_cpu_kernels(layout: str) -> None:
    made_any = 0
    for func in _pointwise_overloads():
        real = _LAYOUTS[layout]()
        args = _operands(func, real)
        if args is None:
            continue
        try:
            expected = func(*args)
        except Exception:  # noqa: BLE001,S112  # an op these operands do not suit
            continue
        meta_args = [a.to("meta") if isinstance(a, torch.Tensor) else a for a in args]
        made = made_output(func, tuple(meta_args), {})
        if made is None:
            continue
        made_any += 1
        assert isinstance(expected, torch.Tensor), func
        got = (tuple(made.shape), made.stride(), made.dtype)
        assert got == (tuple(expected.shape), expected.stride(), expected.dtype), func
    if layout in ("permuted", "channels-last"):
        assert made_any == 0  # their layouts are left to the kernels (some keep channels-last, some do not)
    else:
        assert made_any > 20
