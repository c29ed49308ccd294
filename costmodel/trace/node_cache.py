"""Memoised shape propagation for fx nodes.

Under ``FakeTensorMode`` an op costs 80–170 µs however often the same op has run before, and a
network repeats itself: the 16 units of a ShuffleNet, the 12 blocks of a ViT run the same nodes on
the same shapes. A node whose outcome is a pure function of its inputs' metadata — a torch.nn layer
(its hyper-parameters and parameter shapes), a torch function, a Tensor method — runs under fake
tensors once per distinct signature; every later node with the same signature replays the recorded
outcome: fresh fake outputs of the recorded geometry and the same aten calls. Anything whose outcome
could depend on more than metadata (a user's function, a tensor carrying a constant value, an
unhashable hyper-parameter) is not memoised and runs every time.

The memo lives for the process, bounded; its key holds the node's full signature and the settings
that change which aten ops run (``process_salt`` default dtype, mkldnn, attention backends). Tests run the corpus
with and without the memo and require identical shapes and aten calls.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor
from torch.fx.immutable_collections import immutable_dict, immutable_list

from costmodel.rules.base import AtenCall
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.pending import PendingTensor

_ATOMS = frozenset({int, str, type(None), torch.dtype, torch.device, torch.memory_format, torch.layout, type(...)})
_TYPED_ATOMS = frozenset({float, bool})  # keyed with their type: 1 == 1.0 == True, yet int * 2.0 promotes
_SEQUENCES = frozenset({tuple, list, torch.Size, immutable_list})  # fx hands lists over as immutable_list
_PURE_MODULES = ("torch", "operator", "_operator", "math", "builtins")
#: a module's own tables, keyed apart (or not at all), and its call slot: ``torch.compile``'s wrapper of the same
#: forward, or the per-instance router a trace installs (``module_routing``: a new closure per module and trace)
_SKIPPED_STATE = ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "_compiled_call_impl")


class _Uncacheable(Exception):
    """A value whose effect on the outcome cannot be read from its metadata."""


@dataclass(frozen=True)
class _NewTensor:
    """An output tensor to create on replay: its geometry (and its contiguity where already known)."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    dtype: torch.dtype
    device: torch.device
    contiguous: bool | None = None


@dataclass(frozen=True)
class _InputTensor:
    """An output that is one of the node's input tensors itself (``getitem`` on a tuple, an in-place op)."""

    index: int


@dataclass
class NodeOutcome:
    """What a node produced: its output structure (tensors as _NewTensor/_InputTensor) and aten
    calls. ``cost`` keeps the node's cost under one version of the rule table (see analyze)."""

    output: Any
    calls: tuple[AtenCall, ...]
    cost: tuple[int, Any] | None = None


#: Outcomes by node signature, shared by every analysis in the process (the signature holds all an
#: outcome depends on; ``_salt`` the process-wide settings that change which aten ops run).
_MEMO: dict[Hashable, NodeOutcome] = {}
_MEMO_LIMIT = 50_000


def process_salt() -> Hashable:
    """The process-wide settings that change which aten ops a node runs (part of every memo key)."""
    return (
        torch.get_default_dtype(),
        torch._C._get_mkldnn_enabled(),
        torch.backends.cuda.flash_sdp_enabled(),
        torch.backends.cuda.mem_efficient_sdp_enabled(),
        torch.backends.cuda.math_sdp_enabled(),
        torch.backends.cuda.cudnn_sdp_enabled(),
        torch.are_deterministic_algorithms_enabled(),
    )


def recall(key: Hashable, memo: dict[Hashable, NodeOutcome] | None = None) -> NodeOutcome | None:
    """The memoised outcome of a node signature, if any (in ``memo``, else the process's memo)."""
    return (_MEMO if memo is None else memo).get(key)


def remember(key: Hashable, outcome: NodeOutcome, memo: dict[Hashable, NodeOutcome] | None = None) -> None:
    """Memoise ``outcome`` in ``memo``, else in the process's memo (emptied when it reaches its size limit)."""
    if memo is not None:
        memo[key] = outcome
        return
    if len(_MEMO) >= _MEMO_LIMIT:
        _MEMO.clear()
    _MEMO[key] = outcome


def forget() -> None:
    """Empty the memo (benchmarks measure a cold start with it)."""
    _MEMO.clear()


class _Freezer:
    """Turns call arguments into a hashable key; tensors become their geometry plus the index of the
    first argument that is the same tensor object (``x + x`` reads one tensor, ``x + y`` two).
    ``symbolic``: sizes may be SymInts (a trace with a ShapeEnv), keyed by their expressions; otherwise
    every size is an int and a shape is its own key."""

    def __init__(self, devices: dict[int, torch.device], symbolic: bool = True) -> None:
        self.tensors: list[Any] = []
        self.devices = devices  # the traced copy's meta tensors: their real devices
        self.symbolic = symbolic

    def _index(self, value: Any) -> int:
        for i, t in enumerate(self.tensors):
            if t is value:
                return i
        self.tensors.append(value)
        return len(self.tensors) - 1

    def _tensor(self, value: Any, device: torch.device) -> Hashable:
        if self.symbolic:
            sizes, strides = tuple(map(_size_key, value.shape)), tuple(map(_size_key, value.stride()))
            offset = _size_key(value.storage_offset())
        else:
            sizes, strides, offset = tuple(value.shape), value.stride(), value.storage_offset()
        return (FakeTensor, self._index(value), sizes, strides, offset, value.dtype, device, value.requires_grad)

    def freeze(self, value: Any) -> Hashable:
        kind = type(value)
        if kind in _ATOMS:
            return value
        if kind is FakeTensor or kind is PendingTensor:
            if value.constant is not None or value.layout is not torch.strided:
                raise _Uncacheable
            return self._tensor(value, value.device)
        if kind in _TYPED_ATOMS:
            return (kind, value)
        if kind in _SEQUENCES:
            if _ATOMS.issuperset(map(type, value)):  # sizes, kernel sizes: each item is its own key
                return (kind, tuple(value))
            return (kind, tuple([self.freeze(v) for v in value]))
        if isinstance(value, torch.Tensor) and id(value) in self.devices:  # a meta tensor of the copy
            return self._tensor(value, self.devices[id(value)])
        if kind is dict or kind is immutable_dict:
            return (dict, tuple([(k, self.freeze(v)) for k, v in value.items()]))
        if kind is slice:
            return (slice, self.freeze(value.start), self.freeze(value.stop), self.freeze(value.step))
        if kind is types.FunctionType or kind is types.BuiltinFunctionType:
            return (kind, id(value))  # an activation passed to a layer: the same function object
        if kind is torch.SymInt:
            return _size_key(value)
        raise _Uncacheable


def _size_key(size: Any) -> Hashable:
    """A size as a key: an int itself; a symbolic size (``torch.SymInt``) its sympy expression — valid
    only within one ShapeEnv, which is why symbolic traces keep a memo of their own."""
    return (torch.SymInt, size.node.expr) if type(size) is torch.SymInt else size


#: The attribute on which the aten walk's leaf-call wrapper keeps the forward it wraps.
WRAPPED_FORWARD = "_costmodel_wrapped_forward"

#: What every nn.Module carries (hook tables, parameter and buffer dicts…): not a hyper-parameter.
_BASE_STATE = frozenset(nn.Module().__dict__) | frozenset(_SKIPPED_STATE)


def _module_state(module: nn.Module, freezer: _Freezer) -> Hashable:
    """A torch.nn layer's behaviour: its class, hyper-parameters (every attribute a bare nn.Module
    lacks), parameter/buffer geometry, sub-layers."""
    items = []
    freeze = freezer.freeze
    for key, value in module.__dict__.items():
        if key in _BASE_STATE:
            continue
        if key == "forward":  # an instance-level forward: the aten walk's wrapper stands for what it wraps
            value = getattr(value, WRAPPED_FORWARD, value)
            if isinstance(value, types.MethodType) and value.__self__ is module:
                continue  # the class's own forward
        if _weak_references(value):
            continue  # (the recurrent layers' ``_flat_weight_refs``) they point at tensors keyed where they live
        items.append((key, value if type(value) in _ATOMS else freeze(value)))
    tensors = [(k, freeze(v)) for k, v in module._parameters.items()]
    tensors += [(k, freeze(v)) for k, v in module._buffers.items() if k not in module._parameters]
    children = tuple([(k, None if m is None else _module_state(m, freezer)) for k, m in module._modules.items()])
    return (type(module), tuple(items), tuple(tensors), children)


def _weak_references(value: Any) -> bool:
    """Whether ``value`` is a weak reference, or a list or tuple of weak references (and Nones)."""
    if type(value) is weakref.ref:
        return True
    return type(value) in (list, tuple) and bool(value) and all(v is None or type(v) is weakref.ref for v in value)


def is_pure_function(target: Any) -> bool:
    """Whether ``target`` is a function of torch, operator, math or builtins (its outcome depends on its arguments alone)."""
    return (getattr(target, "__module__", None) or "").split(".")[0] in _PURE_MODULES


def node_key(
    node: fx.Node,
    target: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    salt: Hashable,
    devices: dict[int, torch.device],
    symbolic: bool = True,
) -> tuple[Hashable, list[Any]] | None:
    """The memo key of one node about to run (``target`` is the module for call_module) and its
    distinct input tensors in key order, or None when the outcome may depend on more than metadata.
    ``symbolic``: sizes may be SymInts (False: every size is an int, keyed as it is).

    call_module: torch.nn's own layers (the tracer keeps only those, plus user rules, as leaves);
    call_function: functions of torch, operator, math and builtins; call_method: Tensor methods.
    """
    freezer = _Freezer(devices, symbolic)
    try:
        if node.op == "call_module":
            if not isinstance(target, nn.Module) or target._forward_hooks or target._forward_pre_hooks:
                return None
            head: Hashable = ("module", _module_state(target, freezer))
        elif node.op == "call_function":
            if not is_pure_function(target):
                return None
            head = ("function", target)
        elif node.op == "call_method":
            if not args or (type(args[0]) not in (FakeTensor, PendingTensor) and id(args[0]) not in devices):
                return None
            head = ("method", target)
        else:
            return None
        key = (head, freezer.freeze(args), freezer.freeze(kwargs), salt)
    except (_Uncacheable, TypeError):  # TypeError: an unhashable target
        return None
    return key, freezer.tensors


def module_call_key(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], salt: Hashable
) -> tuple[Hashable, list[Any]] | None:
    """The memo key of a call of torch.nn layer ``module`` on fake tensors (the same key as its fx node's)
    and its distinct input tensors in key order, or None when the outcome may depend on more than metadata."""
    freezer = _Freezer({})
    try:
        key = (("module", _module_state(module, freezer)), freezer.freeze(args), freezer.freeze(kwargs), salt)
    except (_Uncacheable, TypeError):
        return None
    return key, freezer.tensors


def outcome_of(result: Any, inputs: list[Any], calls: list[AtenCall]) -> NodeOutcome | None:
    """The replayable outcome of a node that returned ``result``, or None when an output cannot be
    described by metadata alone (a constant-valued tensor, a non-atomic Python object)."""
    try:
        return NodeOutcome(_described(result, inputs), tuple(calls))
    except _Uncacheable:
        return None


def _described(value: Any, inputs: list[Any]) -> Any:
    # module-level, as ``_rebuilt``: no closure cycle holding the inputs
    kind = type(value)
    if kind is FakeTensor or kind is PendingTensor:
        for i, t in enumerate(inputs):
            if t is value or (type(t) is PendingTensor and t._fake is value):
                return _InputTensor(i)
        if value.constant is not None or value.layout is not torch.strided or value.requires_grad:
            raise _Uncacheable
        known = value.known_contiguity() if kind is PendingTensor else None
        return _NewTensor(tuple(value.shape), value.stride(), value.storage_offset(), value.dtype, value.device, known)
    if kind in _ATOMS or kind in _TYPED_ATOMS or kind is torch.Size:
        return value
    if kind is tuple or kind is list:
        return kind(_described(v, inputs) for v in value)
    raise _Uncacheable


def replay(outcome: NodeOutcome, inputs: list[Any], mode: LazyFakeMode) -> Any:
    """The node's result rebuilt from ``outcome``: pending tensors of the recorded geometry (built
    only if a later node has to run on them), and the very input tensors where the node returned
    one of its inputs."""
    return _rebuilt(outcome.output, inputs, mode)


def _rebuilt(value: Any, inputs: list[Any], mode: LazyFakeMode) -> Any:
    # a module-level recursion: a nested function calling itself would be a reference cycle (function →
    # cell → function) holding the inputs until the cyclic collector ran
    kind = type(value)
    if kind is _NewTensor:
        return PendingTensor(value.shape, value.stride, value.offset, value.dtype, value.device, mode, value.contiguous)
    if kind is _InputTensor:
        return inputs[value.index]
    if kind is tuple or kind is list:
        return kind(_rebuilt(v, inputs, mode) for v in value)
    return value
