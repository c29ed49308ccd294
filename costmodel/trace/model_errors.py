"""What went wrong when the user's model ran on the analysis copy: the real cause, named in one line.

A model error is read once here, so both walks agree: an op that needs tensor values (``.numpy()``,
``.item()``, data-dependent shapes) sends the analysis to real tensors; an operator no loaded library
registers is named as such (not "inputs do not fit"); a model nested deeper than Python's recursion
limit says so; everything else is the inputs not fitting a layer.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch._subclasses.fake_tensor import DataDependentOutputException, DynamicOutputShapeException

from costmodel.errors import CostModelError, TraceFailure
from costmodel.trace.module_walk import module_paths


class NeedsRealValues(TraceFailure):
    """An op's output depends on tensor values (``.item()``, ``nonzero``): shapes need a real run."""


class OutOfTime(TraceFailure):
    """A walk passed the deadline its caller set (a symbolic trace whose size arithmetic grows too large)."""


#: Messages torch raises when fake or meta tensors are asked for their values.
_VALUE_MESSAGES = (
    "is not supported for tensor subclasses",  # .numpy() on a fake tensor
    "Cannot access data pointer of Tensor",
    "Cannot copy out of meta tensor",
    "Tensor.item() cannot be called on meta tensors",
)
#: Messages of fake (meta) kernels stricter than the real CPU kernel: the op runs on real tensors.
_STRICTER_FAKE = re.compile(r"Expected (inputs|mat\w*|tensors?) of (BF16|bfloat16)")
_MISSING_OP = re.compile(r"'_OpNamespace' '(\w+)' object has no attribute '(\w+)'")


class BadModel(CostModelError):
    """The object or model given cannot be analysed as it is (the message says why and what to do)."""


def needs_values(exc: BaseException) -> bool:
    """Whether ``exc`` says an op needs real tensors: it needed values (fake tensors carry only shapes),
    or its fake kernel refuses a dtype the real kernel takes (``_grouped_mm`` wants bf16 on fake tensors,
    not on the CPU)."""
    if isinstance(exc, (DataDependentOutputException, DynamicOutputShapeException)):
        return True
    text = str(exc)
    return any(m in text for m in _VALUE_MESSAGES) or _STRICTER_FAKE.search(text) is not None


def model_error(exc: Exception, inputs: str, where: str) -> CostModelError:
    """The one-line error for ``exc`` raised by the model's code at ``where`` on ``inputs``."""
    from costmodel.errors import ShapeMismatch

    missing = _MISSING_OP.search(str(exc))
    if missing is not None:
        namespace, op = missing.groups()
        return BadModel(
            f"{where} calls the operator {namespace}::{op}, which no library loaded in this process registers "
            f"(import the package that provides it, e.g. {namespace}, before analysing)"
        )
    if isinstance(exc, RecursionError):
        return BadModel(f"{where} nests deeper than the analysis can follow (Python's recursion limit): {exc}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ShapeMismatch(f"inputs {inputs} do not fit {where}: {first}")


def check_model(model: object) -> None:
    """Refuse, in one line, what cannot be analysed as given: not an ``nn.Module`` (a name, None), a
    TorchScript module, or a module with uninitialised (lazy) parameters."""
    if isinstance(model, torch.jit.ScriptModule):
        raise BadModel(
            f"{type(model).__name__} is a TorchScript module (torch.jit.script/trace): "
            "analyse the Python nn.Module it was made from"
        )
    if not isinstance(model, nn.Module):
        hint = f" (for a zoo name or a file, costmodel.load_model({model!r}) builds the module)" if isinstance(model, str) else ""
        raise BadModel(f"expected an nn.Module, got {type(model).__name__}{hint}")
    for path, module in module_paths(model):
        for key, tensor in (*module._parameters.items(), *module._buffers.items()):
            if tensor is not None and nn.parameter.is_lazy(tensor):
                name = f"{path}.{key}" if path else key
                raise BadModel(f"'{name}' is uninitialised (a Lazy module): run one forward on a real input first, then analyse")


def check_dtype(dtype: object) -> None:
    """The analysis dtype must be a floating-point torch dtype (parameters and float inputs are cast to it)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise BadModel(
            f"analysis dtype {dtype} is not a floating-point dtype: use float32, float16, bfloat16 or float64 "
            "(integer inputs such as token ids take TensorSpec(shape, torch.int64))"
        )
