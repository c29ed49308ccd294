"""fx's tracer as costmodel drives it: the direct test for Tensor methods must answer exactly as
torch.overrides does, since it decides whether a traced call is recorded as a method or a function."""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

from costmodel.trace.fx_tracer import is_tensor_method

_NAMESPACES = (torch, F, torch.linalg, torch.special, torch.fft, torch.nn.init, torch._C._nn, torch._C._VariableFunctions)


def _candidates() -> list[object]:
    found: list[object] = []
    for name in dir(torch.Tensor):
        value = getattr(torch.Tensor, name, None)
        if callable(value):
            found.append(value)
        prop = torch.Tensor.__dict__.get(name) or torch._C.TensorBase.__dict__.get(name)
        getter = getattr(prop, "__get__", None)
        if getter is not None and not callable(prop):
            found.append(getter)
    for namespace in _NAMESPACES:
        for name in dir(namespace):
            value = getattr(namespace, name, None)
            if callable(value) and not isinstance(value, (type, types.ModuleType)):
                found.append(value)
    return found


def test_tensor_methods_are_told_apart_as_torch_overrides_tells_them() -> None:
    candidates = _candidates()
    assert len(candidates) > 2000
    disagree = [c for c in candidates if is_tensor_method(c) != torch.overrides.is_tensor_method_or_property(c)]
    assert not disagree, disagree[:10]
    # both kinds occur: methods, property getters and plain functions
    assert is_tensor_method(torch.Tensor.view) and is_tensor_method(torch.Tensor.shape.__get__)
    assert not is_tensor_method(torch.flatten) and not is_tensor_method(F.relu)
