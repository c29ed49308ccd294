"""Trace a model with torch.fx and record, for every node, the aten ops it runs on fake tensors.

The graph is traced on a fake-tensor copy of the model (``fake.copy_model``), so a forward that
writes ``self.calls += 1`` or ``self.ema.mul_(0.9)`` writes the copy, and constants fx attaches land
on the copy; then the graph runs once under ``FakeTensorMode`` with an op recorder: each node gets
``meta['val']`` (fake outputs) and its list of ``AtenCall``s. No real compute, nothing of the
user's model written, process state (RNG, grad mode, default dtype, threads) restored.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import inspect
import linecache
import math
import os
import re
import sys
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from costmodel.errors import ShapeMismatch, TraceFailure
from costmodel.inputs import ModelInputs, bind_placeholders, materialise, normalise_inputs
from costmodel.rules.base import RULES, AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.fake_tensors import FakeTwins, LazyFakeMode, meta_tensor_map
from costmodel.trace.function_shortcuts import direct_function
from costmodel.trace.guards import fake_errors_unlogged, process_state_preserved
from costmodel.trace.model_copy import copy_model
from costmodel.trace.model_errors import NeedsRealValues, OutOfTime, model_error, needs_values
from costmodel.trace.module_shortcuts import direct_call
from costmodel.trace.node_cache import NodeOutcome, node_key, outcome_of, process_salt, recall, remember, replay
from costmodel.trace.pending import PendingTensor, materialised, pending_input, standing_in, tensors_in
from costmodel.trace.recorders import CompositeRecorder, OpRecorder, dispatch_as_eager, to_call

__all__ = ["TensorMeta", "TracedModel", "NeedsRealValues", "eval_mode_preserved", "trace_model", "tensors_in", "is_leaf"]


@dataclass
class TracedModel:
    """The fx graph of a model with fake outputs on every node and the aten ops each node ran.

    ``model`` is the user's model (untouched); ``root`` the fake copy the graph was traced on.
    """

    model: nn.Module
    root: nn.Module
    graph: fx.Graph
    inputs: ModelInputs
    dtype: torch.dtype
    node_calls: dict[str, list[AtenCall]] = field(default_factory=dict)
    #: nodes sharing one outcome object ran identical aten calls (their costs are computed once)
    node_outcomes: dict[str, NodeOutcome] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the first tensor input."""
        return tuple(self.inputs.first_shape)

    @property
    def is_wrapped_leaf(self) -> bool:
        """Whether the model is a single leaf layer, traced inside a wrapper."""
        return isinstance(self.root, _Root)

    def real_root(self) -> nn.Module:
        """The module the graph's targets resolve in, holding the user's real tensors: the model
        itself, or a wrapper around it when the model is a single leaf layer."""
        return wrap_leaf(self.model) if isinstance(self.root, _Root) else self.model

    def call_nodes(self) -> list[fx.Node]:
        """The nodes that compute something: call_module, call_function and call_method."""
        return [n for n in self.graph.nodes if n.op.startswith("call_")]


def _keep_unicode_names(graph: fx.Graph) -> None:
    """Name each call of a module whose path is not ASCII after the path itself (``свёртка``, ``卷积_0``):
    fx replaces every non-ASCII character by ``_``, which loses the name. Dots become ``_`` as fx does;
    names stay unique."""
    used = {node.name for node in graph.nodes}
    for node in graph.nodes:
        if node.op != "call_module" or str(node.target).isascii():
            continue
        base = re.sub(r"\W", "_", str(node.target))
        candidate, suffix = base, 0
        while candidate in used:
            suffix += 1
            candidate = f"{base}_{suffix}"
        used.discard(node.name)
        used.add(candidate)
        node.name = candidate


def _drop_nodes_after_output(graph: fx.Graph, *per_node: dict[str, Any]) -> None:
    """Erase nodes that follow the output node: no run of the graph ever reaches them. They appear when
    a forward stores a traced value on the module (``self.count += 1`` on a buffer) and a later run of the
    graph reads it back and records onto the graph."""
    after = False
    dead: list[fx.Node] = []
    for node in graph.nodes:
        if after:
            dead.append(node)
        after = after or node.op == "output"
    for node in reversed(dead):
        graph.erase_node(node)
        for table in per_node:
            table.pop(node.name, None)


@contextlib.contextmanager
def eval_mode_preserved(model: nn.Module) -> Iterator[None]:
    """Put every module in eval mode, then restore each module's own training flag on exit."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, was_training in flags:
            module.training = was_training


def user_frame(tb: traceback.StackSummary) -> str:
    """The innermost traceback frame outside torch and this package, as 'file:line: `source`'."""
    torch_dir = os.path.dirname(torch.__file__)
    own_dir = os.path.dirname(__file__)
    for frame in reversed(tb):
        if frame.filename.startswith((torch_dir, own_dir)) or frame.filename.startswith("<"):
            continue
        source = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
        return f"{os.path.basename(frame.filename)}:{frame.lineno}: `{source}`"
    return "an unknown location"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def is_leaf(module: nn.Module) -> bool:
    """Kept whole while tracing: a module with a registered module rule, or whose forward is torch.nn's
    own (an ``nn.Conv2d``, a subclass that does not override forward, ``nn.MultiheadAttention``)."""
    if RULES.for_module(module) is not None:
        return True
    if isinstance(module, _CONTAINERS):
        return False
    for cls in type(module).__mro__:
        if "forward" in cls.__dict__:
            return cls.__module__.startswith("torch.nn.")
    return False


_ATOMS = frozenset({int, float, bool, str, type(None), torch.dtype, torch.device, torch.memory_format, torch.layout})


_UNPACK_SEQUENCE = dis.opmap["UNPACK_SEQUENCE"]
_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]


def _iterate(proxy: fx.Proxy, frame: types.FrameType) -> Iterator[fx.Proxy]:
    """fx's iteration of a proxy (``a, b = x.size()`` unpacks into getitem nodes), reading only the
    caller's current instruction instead of disassembling its whole function (fx does that on every
    unpack: half the tracing time of a ShuffleNet)."""
    code, at = frame.f_code.co_code, frame.f_lasti
    if code[at] == _UNPACK_SEQUENCE and (at < 2 or code[at - 2] != _EXTENDED_ARG):
        return (proxy[i] for i in range(code[at + 1]))  # type: ignore[index]
    return proxy.tracer.iter(proxy)


class _Proxy(fx.Proxy):
    def __iter__(self) -> Iterator[fx.Proxy]:
        return _iterate(self, sys._getframe(1))

    def __getattr__(self, k: str) -> fx.proxy.Attribute:
        return _Attribute(self, k)


class _Attribute(fx.proxy.Attribute):
    def __iter__(self) -> Iterator[fx.Proxy]:
        return _iterate(self, sys._getframe(1))

    def __getattr__(self, k: str) -> fx.proxy.Attribute:
        return _Attribute(self, k)


class _Tracer(fx.Tracer):
    """fx's tracer with buffers traced as graph inputs (so work on them is costed, never run) and
    leaves decided by ``is_leaf``."""

    proxy_buffer_attributes = True

    def __init__(self, autowrap_math: bool = True) -> None:
        # fx re-patches all of ``math`` on every trace (a third of a small model's analysis time) so
        # that ``math.sqrt(proxy)`` records a node; without it such a call fails, and is retried with it
        modules: Any = (math,) if autowrap_math else ()
        super().__init__(autowrap_modules=modules)
        self._names: dict[int, str] | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf(m)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _Proxy(node, self)

    def create_arg(self, a: Any) -> Any:
        """fx's conversion of a call argument, with O(1) paths for the common cases: constants,
        proxies, flat containers, and tensors or modules of the root (fx itself scans
        ``named_parameters``/``named_modules`` for each, quadratic on large models)."""
        kind = type(a)
        if kind in _ATOMS:
            return a
        if kind is _Proxy or kind is _Attribute:
            return a.node
        if kind is tuple or kind is list:
            return kind(self.create_arg(item) for item in a)
        if isinstance(a, (torch.Tensor, nn.Module)):
            name = self._root_names().get(id(a))
            if name is not None:
                return self.create_node("get_attr", name, (), {})
        return super().create_arg(a)

    def _root_names(self) -> dict[int, str]:
        """id → qualified name of every parameter, buffer and module of the root (first name wins,
        as in fx's own scans)."""
        if self._names is None:
            names: dict[int, str] = {}
            for items in (self.root.named_modules(), self.root.named_buffers(), self.root.named_parameters()):
                for name, obj in items:
                    names[id(obj)] = name
            self._names = names
        return self._names


class _Root(nn.Module):
    """Holds a model that is itself a leaf (a bare Conv2d, say), so that it shows up as a call node."""

    def __init__(self, name: str, module: nn.Module) -> None:
        super().__init__()
        self.add_module(name, module)
        self._leaf_name = name


def wrap_leaf(module: nn.Module) -> nn.Module:
    """A ``_Root`` around ``module`` whose forward has the module's own parameter names and defaults
    (fx makes one placeholder per parameter, so keyword inputs still bind)."""
    name = type(module).__name__.lower()
    params = [
        p for p in inspect.signature(module.forward).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    defaults = {f"_d{i}": p.default for i, p in enumerate(params) if p.default is not inspect.Parameter.empty}
    sig = ", ".join(p.name + (f"=_d{i}" if f"_d{i}" in defaults else "") for i, p in enumerate(params))
    call = ", ".join(p.name for p in params)
    namespace: dict[str, Any] = dict(defaults)
    exec(f"def forward(self, {sig}):\n    return getattr(self, self._leaf_name)({call})", namespace)  # noqa: S102
    cls = type("_Root", (_Root,), {"forward": namespace["forward"]})
    return cls(name, module)


def symbolic_trace(root: nn.Module, name: str, concrete: dict[str, Any]) -> fx.Graph:
    """torch.fx symbolic trace, turning any failure into a one-line TraceFailure naming the construct."""
    try:
        return _Tracer(autowrap_math=False).trace(root, concrete_args=concrete or None)
    except Exception:  # noqa: S110  # perhaps math on a proxy: the full trace below says what fails
        pass
    try:
        return _Tracer().trace(root, concrete_args=concrete or None)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError… depending on the construct
        where = user_frame(traceback.extract_tb(exc.__traceback__))
        reason = first_line(exc)
        if "control flow" in reason or "iterate" in reason or "bool" in reason:
            reason = "data-dependent Python control flow on a traced tensor (" + reason + ")"
        raise TraceFailure(f"torch.fx cannot trace {name}: {reason} at {where}") from exc


def _unsupplied_defaults(model: nn.Module, inputs: ModelInputs) -> dict[str, Any]:
    """Forward parameters the caller did not supply, at their defaults (traced as constants, so that
    ``if mask is None`` takes the branch a real call would)."""
    try:
        params = inspect.signature(model.forward).parameters
        supplied = inspect.signature(model.forward).bind_partial(*inputs.args, **inputs.kwargs).arguments
    except (TypeError, ValueError):
        return {}
    return {
        name: p.default
        for name, p in params.items()
        if name not in supplied and p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD
    }


class _FakeProp(fx.Interpreter):
    """Runs the graph on fake tensors, storing each node's outputs and the aten ops it ran."""

    def __init__(
        self, root: nn.Module, graph: fx.Graph, recorder: OpRecorder, describe: str, twins: FakeTwins, shortcuts: bool = True
    ) -> None:
        super().__init__(root, graph=graph)
        self.shortcuts = shortcuts
        self.recorder = recorder
        self.twins = twins
        self.mode = twins.mode
        self.describe = describe
        self.node_calls: dict[str, list[AtenCall]] = {}
        self.salt = process_salt()
        self.node_outcomes: dict[str, NodeOutcome] = {}
        self.stand_ins: dict[int, PendingTensor] = {}  # by id of the copy's meta tensor (kept alive by twins.keep)
        # symbolic sizes are keys only within this trace's ShapeEnv: such a trace memoises privately
        self.memo: dict[Any, NodeOutcome] | None = {} if twins.mode.symbolic else None

    def run_node(self, n: fx.Node) -> Any:
        start = len(self.recorder.calls)
        try:
            result = self._run(n)
        except (NeedsRealValues, OutOfTime):
            raise
        except Exception as exc:
            if needs_values(exc):
                raise NeedsRealValues(f"layer '{n.name}' needs tensor values for its shapes ({first_line(exc)})") from exc
            layer = f"layer '{n.name}'"
            if n.op == "call_module":  # the module's path, as named_modules spells it
                layer = f"layer '{n.target}' ({type(self.fetch_attr(str(n.target))).__name__})"
            raise model_error(exc, self.describe, layer) from exc
        n.meta["val"] = result
        if n.op.startswith("call_"):
            self.node_calls[n.name] = self.recorder.calls[start:]
        return result

    def _run(self, n: fx.Node) -> Any:
        if n.op == "call_module":
            module = self.fetch_attr(str(n.target))
            if RULES.for_module(module) is not None:  # a user's module rule: one call, its insides muted
                args, kwargs = self._fake_args(self.fetch_args_kwargs_from_env(n), module)
                with self._faking():
                    self.recorder.muted += 1
                    try:
                        out = module(*args, **kwargs)
                    finally:
                        self.recorder.muted -= 1
                self.recorder.add(to_call(type(module).__name__, args, kwargs, out, module))
                return out
            return self._memoised(n, module)
        if n.op in ("call_function", "call_method"):
            return self._memoised(n, n.target)
        return super().run_node(n)

    def _memoised(self, n: fx.Node, target: Any) -> Any:
        """Replay the outcome of an earlier node with the same signature, or compute it and remember."""
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        keyed = node_key(n, target, args, kwargs, self.salt, self.twins.devices) if self.shortcuts else None
        if keyed is not None:
            outcome = recall(keyed[0], self.memo)
            if outcome is not None:
                self.recorder.calls.extend(outcome.calls)
                self.recorder.owners.extend([self.recorder.owner] * len(outcome.calls))
                self.node_outcomes[n.name] = outcome
                return replay(outcome, keyed[1], self.mode)
        start = len(self.recorder.calls)
        result = self._compute(n, target, args, kwargs)
        if keyed is not None:
            outcome = outcome_of(result, keyed[1], self.recorder.calls[start:])
            if outcome is not None:
                remember(keyed[0], outcome, self.memo)
                self.node_outcomes[n.name] = outcome
        return result

    def _compute(self, n: fx.Node, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A closed-form shape rule where one applies, else the node run on fake tensors; composites
        (attention) are recorded as one op. The composite recorder is entered here only: as a
        TorchFunctionMode it would tax every torch call of the interpreter and of the replays too."""
        if self.shortcuts and n.op == "call_module" and not target._forward_hooks and not target._forward_pre_hooks:
            direct = direct_call(target, args, kwargs, self.mode)
            if direct is not None:
                for call in direct[1]:
                    self.recorder.add(call)
                return direct[0]
        if self.shortcuts and n.op in ("call_function", "call_method"):
            direct = direct_function(n.op, target, self._standing_in(args), self._standing_in(kwargs), self.mode)
            if direct is not None:
                for call in direct[1]:
                    self.recorder.add(call)
                return direct[0]
        args, kwargs = self._fake_args((args, kwargs), target if n.op == "call_module" else None)
        with self._faking(), CompositeRecorder(self.recorder):
            if n.op == "call_method":
                self_obj, *rest = args
                return getattr(self_obj, str(target))(*rest, **kwargs)
            return target(*args, **kwargs)

    def _standing_in(self, value: Any) -> Any:
        """``value`` with the copy's meta tensors (parameters and buffers the graph reads) replaced by
        PendingTensors on their real devices (one per tensor), so that shape rules take them; nested
        tuples, lists and dicts are rebuilt only where they hold one."""
        if isinstance(value, torch.Tensor):
            if not self.twins.owns(value):
                return value
            found = self.stand_ins.get(id(value))
            if found is None:
                found = standing_in(value, self.twins.devices[id(value)], self.mode, functools.partial(self.twins.of, value))
                self.stand_ins[id(value)] = found
            return found
        if type(value) is tuple or type(value) is list:
            items = [self._standing_in(v) for v in value]
            return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
        if type(value) is dict:
            entries = {k: self._standing_in(v) for k, v in value.items()}
            return value if all(entries[k] is v for k, v in value.items()) else entries
        return value

    def _fake_args(self, args_kwargs: tuple[Any, Any], module: nn.Module | None) -> tuple[Any, Any]:
        """Arguments ready to run under FakeTensorMode: pending tensors built, the copy's meta tensors
        (parameters fetched by get_attr) replaced by their fake twins, and so are the module's own."""
        if module is not None:
            self.twins.swap_into(module)

        def twin(t: torch.Tensor) -> torch.Tensor | None:
            return self.twins.of(t) if self.twins.owns(t) else None

        args, kwargs = args_kwargs
        return materialised(args, twin), materialised(kwargs, twin)

    @contextlib.contextmanager
    def _faking(self) -> Iterator[None]:
        """FakeTensorMode with the op recorder inside it, entered only around a node that must run."""
        with self.mode.get(), self.recorder:
            yield


def trace_model(
    model: nn.Module,
    inputs: Any = (1, 3, 224, 224),
    dtype: torch.dtype = torch.float32,
    name: str = "the model",
    *,
    shortcuts: bool = True,
    fake_mode: FakeTensorMode | None = None,
    deadline: float | None = None,
) -> TracedModel:
    """Trace ``model`` with torch.fx on a fake copy and run the graph on fake ``inputs``.

    Contract: every node has ``meta['val']`` and every call node its recorded aten ops; the user's
    model (parameters, buffers, attributes, training flags, hooks) and the process state are exactly
    as they were. A model that is itself a leaf (a bare ``nn.Conv2d``) is wrapped so that it appears
    as one call node named after its class. Raises TraceFailure (NeedsRealValues when shapes depend
    on values) or ShapeMismatch. Leaves are decided by ``is_leaf``. ``shortcuts=False`` runs every node
    under FakeTensorMode, without closed-form shape rules or the node memo (the reference the tests hold
    the shortcuts to). ``fake_mode``: the FakeTensorMode to run in (one with a ``ShapeEnv`` and inputs whose
    sizes are SymInts gives every shape as an expression; such a trace memoises nodes privately, keyed by
    those expressions). ``deadline``: a ``time.monotonic()`` past which the next op raises OutOfTime.
    """
    spec = normalise_inputs(inputs)
    mode = LazyFakeMode(fake_mode)
    devices: dict[int, torch.device] = {}
    keep: list[torch.Tensor] = []

    def make(s: Any) -> Any:
        return pending_input(s, dtype, mode)

    with process_state_preserved():
        root = copy_model(model, meta_tensor_map(dtype, devices, keep))
        dispatch_as_eager(root)
        if is_leaf(root):
            root = wrap_leaf(root)
        concrete = _unsupplied_defaults(root, spec)
        graph = symbolic_trace(root, name, concrete)
        _keep_unicode_names(graph)
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        defaults = [n.args[0] if n.args else concrete.get(str(n.target).lstrip("*")) for n in placeholders]
        fake_args = ModelInputs(materialise(spec.args, make), materialise(spec.kwargs, make))
        values = bind_placeholders(root, [str(n.target) for n in placeholders], fake_args, defaults)
        recorder = OpRecorder()
        recorder.deadline = deadline
        prop = _FakeProp(root, graph, recorder, spec.describe(dtype), FakeTwins(mode, devices, keep), shortcuts)
        try:
            with torch.no_grad(), fake_errors_unlogged():
                prop.run(*values)
        except ShapeMismatch as exc:  # fx appends a multi-line graph excerpt; keep our one line
            raise ShapeMismatch(str(exc).splitlines()[0]) from exc.__cause__
        _drop_nodes_after_output(graph, prop.node_calls, prop.node_outcomes)
    return TracedModel(
        model=model,
        root=root,
        graph=graph,
        inputs=spec,
        dtype=dtype,
        node_calls=prop.node_calls,
        node_outcomes=prop.node_outcomes,
    )
