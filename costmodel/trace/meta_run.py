"""A node without a closed-form shape rule, run on meta tensors the way FakeTensorMode would run it.

FakeTensorMode answers most aten ops by running their meta kernel on meta tensors and wrapping the
results as fake tensors on the inputs' device. Building the first FakeTensorMode of a process imports
``torch._dynamo`` (1.5–2 s), and each op under it costs tens of microseconds of Python dispatch. A node
whose operands are all stand-ins (PendingTensors, the copy's meta parameters) or real tensors the forward
made (constants, which FakeTensorMode would take as fakes of their geometry) on one device can run on
meta tensors directly, with the op recorder on top, when every aten op it reaches is one FakeTensorMode
would itself answer by the meta kernel, or by a decomposition whose ops are answered so in turn
(``meta_route``): the same ops are recorded with the same shapes, strides and dtypes. Anything else — a
fake tensor among the operands, a real one handed back as an output, an op FakeTensorMode handles by an
implementation of its own, a factory not on the meta device, a kernel that needs values — stops the run
before the op executes, and the node runs under FakeTensorMode as before. Only torch's own functions, Python operators, Tensor
methods and ``torch.nn`` layers run here, never user code (whose Python side effects must not run twice),
and not the layers whose forward or kernel picks a path by device type (``_DEVICE_DEPENDENT``): on meta
they would take another path than on the real device.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import sys
import time
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import nn
from torch._decomp import decomposition_table, meta_table
from torch._library import simple_registry
from torch._subclasses import fake_impls
from torch._subclasses.fake_tensor import FakeTensorMode, torch_decomp_decompositions

from costmodel.rules.base import AtenCall
from costmodel.trace.fake_tensors import LazyFakeMode, meta_tensor
from costmodel.trace.fx_tracer import is_tensor_method
from costmodel.trace.meta_outputs import made_output
from costmodel.trace.model_errors import OutOfTime
from costmodel.trace.pending import PendingTensor
from costmodel.trace.recorders import CompositeRecorder, OpRecorder, storage_key, to_call

__all__ = ["MetaRefused", "imports_dynamo", "meta_route", "run_on_meta", "runs_on_meta", "takes_meta_route"]

_META = torch.device("meta")

#: torch layers whose forward, or the C++ composite kernel it calls, chooses a path by the tensors' device
#: type (a fused fast path for CPU and CUDA; the recurrent layers project every time step's input at once
#: on CPU): on meta tensors they would record another path than FakeTensorMode on the real device
_DEVICE_DEPENDENT: tuple[type, ...] = (
    nn.RNNBase,
    nn.RNNCellBase,
    nn.MultiheadAttention,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.Transformer,
)
_DEVICE_DEPENDENT_FUNCTIONS = frozenset(
    {torch.nn.functional.multi_head_attention_forward, torch.nn.functional.scaled_dot_product_attention}
)  # (attention's kernel choice: on meta the math kernel, on the CPU the flash kernel, whose output keeps q's layout)


class MetaRefused(Exception):
    """The node cannot run on meta tensors as FakeTensorMode would run it (raised before the op runs)."""


#: ops FakeTensorMode answers by an implementation of its own that, at concrete sizes on plain strided
#: tensors, computes what the meta kernel computes: views by torch's reference, ``select``/``slice`` with
#: bounds checks for unbacked sizes, embedding by its meta function, convolution (on contiguous operands:
#: its own layout choice is for channels-last ones), layer norm, and the copies it lets take operands on
#: several devices (the meta kernel's output on the input's device; the meta run takes CPU operands only):
#: ``copy_`` (``x[:, t] = h``), ``copy``, ``slice_scatter``, ``diagonal_scatter``
_SAME_AS_META = frozenset(
    {
        "aten::view",
        "aten::_unsafe_view",
        "aten::select",
        "aten::slice",
        "aten::embedding",
        "aten::convolution",
        "aten::native_layer_norm",
        "aten::copy_",
        "aten::copy",
        "aten::slice_scatter",
        "aten::diagonal_scatter",
    }
)
#: of those, the ones taken on meta only when every tensor operand is contiguous
_CONTIGUOUS_ONLY = frozenset({"aten::convolution"})


@functools.cache
def meta_route(func: torch._ops.OpOverload) -> str | None:
    """How FakeTensorMode answers ``func`` at concrete sizes, where a meta run can do the same: "meta" — it
    runs the meta kernel (C++, a Python meta registration, or a composite kernel that works on meta) on
    the meta tensors it wraps, or one of its own implementations that computes the same (``_SAME_AS_META``,
    and the factories, which it runs on meta and moves to the device asked for); "decompose" — it runs
    torch._decomp's Python decomposition, whose ops it answers in turn; "composite" — it runs the op's
    CompositeImplicitAutograd kernel the same way; None — anything else (a fake
    kernel of its own, an implementation with other results, a fallback kernel, values needed)."""
    if func in FakeTensorMode.lift_fns or func.namespace != "aten":
        return None
    meta_first = func in meta_table or torch.Tag.view_copy in func.tags or func in FakeTensorMode._cpp_meta_supports_symint
    if not meta_first and func in decomposition_table and torch_decomp_decompositions(func):
        return "decompose"
    if not meta_first and torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), "CompositeImplicitAutograd"):
        return "composite"  # FakeTensorMode runs its composite kernel, whose ops it answers in turn
    if simple_registry.singleton.find(func.name()).fake_impl.kernel is not None:
        return None
    own = [impl for check, impl in fake_impls.op_implementations_checks if check(func)]
    if own == [fake_impls.dispatch_to_op_implementations_dict]:  # registered by name: the function it names
        own = [fake_impls.op_implementations_dict[func]]
    if own and not (
        str(func._schema.name) in _SAME_AS_META
        and str(func._overloadname) in ("default", "int", "Tensor")
        or own == [fake_impls.constructors]
    ):
        return None
    return "meta" if fake_impls.has_meta(func) else None


def takes_meta_route(func: torch._ops.OpOverload) -> bool:
    """Whether a meta run answers ``func`` as FakeTensorMode does (``meta_route`` is not None)."""
    return meta_route(func) is not None


_DYNAMO_DISABLED = torch._disable_dynamo(lambda: None).__code__  # the wrapper's code: it imports torch._dynamo


@functools.cache
def imports_dynamo(func: torch._ops.OpOverload) -> bool:
    """Whether the Python function that answers ``func`` on meta (its meta kernel, or the decomposition
    FakeTensorMode takes) is wrapped in ``torch._disable_dynamo``, whose first call imports torch._dynamo
    (1.5–2 s): the cost the meta run exists to avoid."""
    route = meta_route(func)
    if route == "composite":
        return False  # a C++ kernel: its ops are checked one by one as they run
    kernel = decomposition_table[func] if route == "decompose" else func.py_kernels.get(torch._C.DispatchKey.Meta)
    for _ in range(16):  # the chain of functools.wraps
        if kernel is None:
            return False
        if getattr(kernel, "__code__", None) is _DYNAMO_DISABLED:
            return True
        kernel = getattr(kernel, "__wrapped__", None)
    return False


class _MetaRecorder(OpRecorder):
    """The op recorder, refusing (``MetaRefused``) before it runs any op that FakeTensorMode would not run
    on meta tensors as they are, or that would touch a tensor or device other than meta; an op FakeTensorMode
    decomposes is decomposed here too, its parts checked the same way and not recorded. ``known``: ids of
    the meta tensors whose value FakeTensorMode would carry as a constant — those standing for real
    tensors, and the one-element results of ops reading only such (the run adds them)."""

    def __init__(self, known: set[int], known_storages: set[int]) -> None:
        super().__init__()
        self.known = known
        self.known_storages = known_storages  # the storages of the meta tensors standing for real ones

    def _refuse_writes_into_known_values(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A write into a tensor standing for a real one, or into a view of it (``known[:, 0] = x``): the
        real tensor would keep its old value, where FakeTensorMode drops the constant it carries."""
        if not self.known_storages or not func._schema.is_mutable:
            return
        for index, argument in enumerate(func._schema.arguments):
            value = kwargs.get(argument.name) if index >= len(args) else args[index]
            written = argument.alias_info is not None and argument.alias_info.is_write
            if written and isinstance(value, torch.Tensor) and storage_key(value) in self.known_storages:
                raise MetaRefused(f"{func} writes into a tensor of known value")

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        route = meta_route(func)
        if route is None:
            raise MetaRefused(f"{func} is not answered by its meta kernel")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime("the walk passed its time limit")
        tensors = known = 0
        contiguous_only = str(func._schema.name) in _CONTIGUOUS_ONLY
        for value in pytree.tree_leaves((args, kwargs)):
            if isinstance(value, torch.Tensor):
                if value.device.type != "meta" or type(value) not in (torch.Tensor, nn.Parameter):
                    raise MetaRefused("a tensor not on meta")
                if contiguous_only and not value.is_contiguous():
                    raise MetaRefused(f"{func} on a non-contiguous tensor")
                tensors += 1
                known += id(value) in self.known
            elif isinstance(value, torch.device) and value.type != "meta":
                raise MetaRefused("a device other than meta")
        device = kwargs.get("device")
        if not tensors and (device is None or torch.device(device).type != "meta"):
            raise MetaRefused("a factory on the default device")
        self._refuse_writes_into_known_values(func, args, kwargs)
        out = self._run(func, types, route, args, kwargs)
        if tensors and known == tensors:  # FakeTensorMode computes it on the values: a small result keeps its value
            made = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor) and t.numel() <= 1]
            self.known.update(id(t) for t in made)
            self.known_storages.update(storage_key(t) for t in made)
        return out

    def _run(self, func: Any, types: Any, route: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        made = made_output(func, args, kwargs)  # no Python kernel run: they import sympy on first use
        if made is not None:
            if not self.muted:
                self.add(to_call(str(func._schema.name), args, kwargs, made))
            return made
        if "torch._dynamo" not in sys.modules and imports_dynamo(func):
            raise MetaRefused(f"{func}'s meta kernel would import torch._dynamo")
        if route == "meta":
            return super().__torch_dispatch__(func, types, args, kwargs)
        self.muted += 1  # the decomposition's ops run through this recorder (checked), unrecorded
        try:
            with self:
                out = decomposition_table[func](*args, **kwargs) if route == "decompose" else func.decompose(*args, **kwargs)
        finally:
            self.muted -= 1
        if out is NotImplemented:
            raise MetaRefused(f"{func} has no composite kernel to run")
        if not self.muted:
            self.add(to_call(str(func._schema.name), args, kwargs, out))
        return out


def runs_on_meta(op: str, target: Any) -> bool:
    """Whether a node may try the meta run: torch's own function, a Python operator (on tensors: their
    methods), a Tensor method, or a ``torch.nn`` layer without hooks whose forward does not pick kernels by
    device."""
    if op == "call_method":
        return is_tensor_method(getattr(torch.Tensor, str(target), None))
    if op == "call_function":
        module = getattr(target, "__module__", None) or ""
        own = module in ("torch", "_operator") or module.startswith("torch.") or is_tensor_method(target)
        return own and target not in _DEVICE_DEPENDENT_FUNCTIONS
    if op == "call_module":
        return (
            type(target).__module__.startswith("torch.nn.")
            and not isinstance(target, _DEVICE_DEPENDENT)
            and not (target._forward_hooks or target._forward_pre_hooks)
        )
    return False


def run_on_meta(
    op: str,
    target: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    devices: dict[int, torch.device],
    mode: LazyFakeMode,
    deadline: float | None = None,
) -> tuple[Any, list[AtenCall]] | None:
    """(output, aten calls) of a node run on meta tensors as FakeTensorMode would run it, or None when it
    cannot be (see the module docstring) or its operands are not on the CPU (torch's kernels and
    decompositions branch on CUDA, ``is_cuda``/``device_hint``, where meta takes the CPU side).
    ``args``/``kwargs``: the node's operands — PendingTensors and the copy's meta tensors (their real
    devices in ``devices`` by id); outputs come back as PendingTensors on that device, an output that is
    an operand itself (in place, ``contiguous()``) as that operand.
    ``deadline``: the recorder's (``OutOfTime`` past it, as on fake tensors)."""
    if mode.symbolic or not runs_on_meta(op, target) or torch.are_deterministic_algorithms_enabled():
        return None  # (deterministic algorithms: torch.nn.functional then branches on ``is_cpu``)
    if _writes_a_number(op, target, args):
        return None  # ``x[i] = 2.0``: torch's indexing fills it in on the CPU, copies a tensor of it on meta
    found: dict[int, Any] = {}  # id(meta operand) → the operand it stands for
    seen: set[torch.device] = set()
    # id(PendingTensor or real tensor) → its meta tensor: an operand passed twice is one tensor
    made: dict[int, torch.Tensor] = {}
    real: set[int] = set()  # ids of the meta tensors standing for real ones
    real_storages: set[int] = set()  # and their storages

    def to_meta(value: Any) -> Any:
        if type(value) is PendingTensor:
            if id(value) in made:
                return made[id(value)]
            meta = made[id(value)] = meta_tensor(tuple(value.shape), tuple(value.stride()), value.storage_offset(), value.dtype)
            if value.requires_grad:
                meta.requires_grad_(True)
            seen.add(value.device)
            found[id(meta)] = value
            return meta
        if isinstance(value, torch.Tensor):
            device = devices.get(id(value))
            if device is None and _plain_real(value):  # a constant the forward made (``torch.zeros(…)``)
                if id(value) not in made:
                    meta = made[id(value)] = meta_tensor(
                        tuple(value.shape), value.stride(), int(value.storage_offset()), value.dtype
                    )
                    meta.requires_grad_(value.requires_grad)
                    seen.add(value.device)
                    found[id(meta)] = value
                    real.add(id(meta))
                    real_storages.add(storage_key(meta))
                return made[id(value)]
            if device is None or value.device.type != "meta":
                raise MetaRefused("a fake operand")
            seen.add(device)
            found[id(value)] = value
            return value
        if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):  # (fx's immutable_list too)
            items = [to_meta(v) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):  # (fx's immutable_dict too)
            return {k: to_meta(v) for k, v in value.items()}
        return value

    try:
        meta_args, meta_kwargs = to_meta(args), to_meta(kwargs)
        if op == "call_module":  # the layer's own tensors: the copy's meta ones, on the operands' device
            for t in (*target.parameters(), *target.buffers()):
                to_meta(t)
        if len(seen) != 1:
            return None  # no tensor operand (a factory), or operands on several devices
        (device,) = seen
        if device.type != "cpu":
            return None  # kernels and decompositions branch on CUDA (layouts, buffers): meta takes the CPU side
        meta_recorder = _MetaRecorder(real, real_storages)
        meta_recorder.deadline = deadline
        with meta_recorder, CompositeRecorder(meta_recorder):
            if op == "call_method":
                result = getattr(meta_args[0], str(target))(*meta_args[1:], **meta_kwargs)
            else:
                result = target(*meta_args, **meta_kwargs)
        out = _stand_ins(result, found, real, device, mode)
    except OutOfTime:
        raise
    except Exception:  # noqa: BLE001  # refused, or the kernel needs values: FakeTensorMode decides
        return None
    return out, [_on_device(call, device) for call in meta_recorder.calls]


def _stand_ins(value: Any, found: dict[int, Any], real: set[int], device: torch.device, mode: LazyFakeMode) -> Any:
    """The meta run's output as the propagation holds values: a meta tensor that is an operand → that
    operand (refused for a real one: FakeTensorMode would hand back a fake of it); any other → a
    PendingTensor of its geometry on ``device``."""
    if isinstance(value, torch.Tensor):
        if id(value) in real:
            raise MetaRefused("a real operand or a value computed from real ones returned")
        if id(value) in found:
            return found[id(value)]
        if value.device.type != "meta":
            raise MetaRefused("an output not on meta")
        out = PendingTensor(tuple(value.shape), tuple(value.stride()), int(value.storage_offset()), value.dtype, device, mode)
        out.requires_grad = value.requires_grad
        return out
    if isinstance(value, tuple) and hasattr(value, "_fields") or type(value).__module__ == "torch.return_types":
        return type(value)(tuple(_stand_ins(v, found, real, device, mode) for v in value))
    if type(value) in (tuple, list):
        return type(value)(_stand_ins(v, found, real, device, mode) for v in value)
    if type(value) is dict:
        return {k: _stand_ins(v, found, real, device, mode) for k, v in value.items()}
    if isinstance(value, torch.device) and value.type == "meta":
        raise MetaRefused("a device returned")
    return value


def _writes_a_number(op: str, target: Any, args: tuple[Any, ...]) -> bool:
    """Whether the node is ``x[index] = value`` with a value that is not a tensor."""
    setitem = op == "call_function" and target is operator.setitem or op == "call_method" and target == "__setitem__"
    return setitem and len(args) >= 3 and not isinstance(args[2], (torch.Tensor, PendingTensor))


def _plain_real(value: torch.Tensor) -> bool:
    """Whether ``value`` is a real (not fake, not meta) plain strided tensor, which FakeTensorMode would take
    as a fake tensor of the same geometry on its device."""
    return (
        type(value) in (torch.Tensor, nn.Parameter)
        and value.layout is torch.strided
        and value.device.type != "meta"
        and not value.is_quantized
    )


def _on_device(call: AtenCall, device: torch.device) -> AtenCall:
    """``call`` with each meta device among its arguments replaced by ``device`` (as recorded on fakes)."""
    if not any(isinstance(v, torch.device) for v in pytree.tree_leaves((call.args, call.kwargs))):
        return call

    def swap(value: Any) -> Any:
        return device if isinstance(value, torch.device) and value.type == "meta" else value

    return dataclasses.replace(call, args=pytree.tree_map(swap, call.args), kwargs=pytree.tree_map(swap, call.kwargs))
