"""torch.fx tracing of a model's copy: which modules stay whole (``is_leaf``), fx's tracer with O(1)
argument conversion and a cheap unpacking of proxies, and one-line failures naming the construct."""

from __future__ import annotations

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
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.fx as fx
import torch.utils._pytree as pytree
from torch import nn
from torch.fx._lazy_graph_module import _LazyGraphModule as LazyGraphModule
from torch.fx.immutable_collections import immutable_dict

from costmodel.errors import TraceFailure
from costmodel.rules.base import RULES
from costmodel.trace.module_routing import routable, routed
from costmodel.trace.module_walk import module_paths

__all__ = [
    "LeafRoot",
    "ModelTracer",
    "TracerAttribute",
    "TracerProxy",
    "first_line",
    "is_leaf",
    "is_tensor_method",
    "keep_unicode_names",
    "symbolic_trace",
    "user_frame",
    "wrap_leaf",
]


def keep_unicode_names(graph: fx.Graph) -> dict[str, str]:
    """Name each call of a module whose path is not ASCII after the path itself (``свёртка``, ``卷积_0``):
    fx replaces every non-ASCII character by ``_``, which loses the name. Dots become ``_`` as fx does;
    names stay unique. Returns the new name of each renamed node by its old name."""
    used = {node.name for node in graph.nodes}
    renamed: dict[str, str] = {}
    next_suffix: dict[str, int] = {}  # where each base's search resumes: repeats cost O(n), not O(n²)
    for node in graph.nodes:
        if node.op != "call_module" or str(node.target).isascii():
            continue
        base = re.sub(r"\W", "_", str(node.target))
        suffix = next_suffix.get(base, 0)
        candidate = base if suffix == 0 else f"{base}_{suffix}"
        while candidate in used:
            suffix += 1
            candidate = f"{base}_{suffix}"
        next_suffix[base] = suffix + 1
        used.discard(node.name)
        used.add(candidate)
        renamed[node.name] = candidate
        node.name = candidate
    return renamed


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
#: Python types torch takes as dtypes wherever it takes one (graph arguments must be torch dtypes)
_PYTHON_DTYPES: dict[type, torch.dtype] = {int: torch.int64, float: torch.float64, bool: torch.bool, complex: torch.complex128}


#: torch._dynamo's annotations of a tensor for a compiler (a cache's static addresses, dynamic dims): no op runs
_COMPILE_HINTS = ("mark_static_address", "mark_dynamic", "maybe_mark_dynamic", "mark_static", "mark_unbacked")


def _compile_hints_ignored(patcher: Any) -> None:
    """For the trace (``patcher`` reverts it), torch._dynamo's annotations (``_COMPILE_HINTS``) let a traced
    value pass untouched (they take real tensors only: transformers' cache marks its state tensors); done
    only where torch._dynamo is imported already (importing it costs seconds, and code that calls it has)."""
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is None:
        return
    for name in _COMPILE_HINTS:
        original = getattr(dynamo, name, None)
        if callable(original):
            patcher.patch_method(dynamo, name, _passing_traced(original))


def _passing_traced(annotate: Callable[..., Any]) -> Callable[..., Any]:
    """``annotate`` for real tensors; nothing for a traced value (an fx proxy)."""

    @functools.wraps(annotate)
    def hint(t: Any, *args: Any, **kwargs: Any) -> Any:
        return None if isinstance(t, fx.Proxy) else annotate(t, *args, **kwargs)

    return hint


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


@functools.cache
def _renamed_tensor_methods() -> frozenset[Any]:
    """The callable attributes of ``torch.Tensor`` stored under a name other than their own ``__name__``
    (``__pow__`` is a wrapper named ``pow``); ~0.6 ms, once."""
    found = ((name, getattr(torch.Tensor, name)) for name in dir(torch.Tensor))
    return frozenset(f for name, f in found if callable(f) and getattr(f, "__name__", None) != name)


#: the class names a ``torch.Tensor`` attribute's ``__qualname__`` starts with (a renamed one included):
#: other functions (``torch.flatten``, ``F.relu``) are told apart without the table of renamed ones
_TENSOR_CLASSES = ("Tensor.", "TensorBase.", "_TensorBase.")


@functools.cache
def _ignored_functions() -> frozenset[Any]:
    return frozenset(torch.overrides.get_ignored_functions())


def is_tensor_method(function: Any) -> bool:
    """Whether ``function``, as handed to ``__torch_function__``, is a method or property getter of
    ``torch.Tensor``: the answer of ``torch.overrides.is_tensor_method_or_property`` (an attribute of
    ``torch.Tensor`` that ``object`` does not provide and torch does not ignore) without the table of
    every overridable function that its first call builds (~15 ms, paid by every first analysis). Most
    answers take one lookup: the Tensor attribute of the function's own name."""
    name = getattr(function, "__name__", None)
    if name == "__get__":
        return True
    try:
        if not isinstance(name, str):
            return function in _renamed_tensor_methods() and function not in _ignored_functions()
        on_tensor = getattr(torch.Tensor, name, None) is function or (
            getattr(function, "__qualname__", "").startswith(_TENSOR_CLASSES) and function in _renamed_tensor_methods()
        )
        return on_tensor and getattr(object, name, None) is not function and function not in _ignored_functions()
    except TypeError:  # unhashable
        return False


#: the types of torch's functions and Tensor methods: never a script method or higher-order operator (whose
#: ABC makes a first ``isinstance`` of each type cost a tenth of a millisecond)
_PLAIN_CALLABLES = frozenset(
    {
        types.BuiltinFunctionType,
        types.FunctionType,
        types.MethodDescriptorType,
        types.WrapperDescriptorType,
        types.MethodWrapperType,
    }
)


class _DirectTorchFunction:
    """fx's ``Proxy.__torch_function__`` for plain torch functions and Tensor methods, with the method
    test above; script methods and higher-order operators go to fx's own."""

    @classmethod
    def __torch_function__(
        cls, orig_method: Any, types: Any, args: tuple[Any, ...] | None = None, kwargs: dict[str, Any] | None = None
    ) -> Any:
        args, kwargs = args or (), kwargs or {}
        if type(orig_method) not in _PLAIN_CALLABLES and isinstance(
            orig_method, (torch._C.ScriptMethod, torch._ops.HigherOrderOperator)
        ):
            return fx.Proxy.__torch_function__.__func__(cls, orig_method, types, args, kwargs)  # type: ignore[attr-defined]
        tracers = {a.tracer: None for a in pytree.tree_iter((args, kwargs)) if isinstance(a, fx.Proxy)}
        if len(tracers) != 1:
            return fx.Proxy.__torch_function__.__func__(cls, orig_method, types, args, kwargs)  # type: ignore[attr-defined]
        tracer = next(iter(tracers))
        if is_tensor_method(orig_method):
            return tracer.create_proxy("call_method", orig_method.__name__, args, kwargs)
        name = tracer.graph._target_to_str(orig_method.__name__)
        return tracer.create_proxy("call_function", orig_method, args, kwargs, name=name)


class TracerProxy(_DirectTorchFunction, fx.Proxy):
    def __iter__(self) -> Iterator[fx.Proxy]:
        return _iterate(self, sys._getframe(1))

    def __getattr__(self, k: str) -> fx.proxy.Attribute:
        return TracerAttribute(self, k)


class TracerAttribute(_DirectTorchFunction, fx.proxy.Attribute):
    def __iter__(self) -> Iterator[fx.Proxy]:
        return _iterate(self, sys._getframe(1))

    def __getattr__(self, k: str) -> fx.proxy.Attribute:
        return TracerAttribute(self, k)


class ModelTracer(fx.Tracer):
    """fx's tracer with buffers traced as graph inputs (so work on them is costed, never run) and
    leaves decided by ``is_leaf``."""

    proxy_buffer_attributes = True
    #: the proxy classes this tracer makes (an argument of one of them is its node)
    proxy_kinds: frozenset[type] = frozenset({TracerProxy, TracerAttribute})
    #: route module calls and tensor reads per instance of the copy (False: fx patches ``nn.Module``)
    routes_per_instance = True

    def __init__(self, autowrap_math: bool = True) -> None:
        # fx re-patches all of ``math`` on every trace (a third of a small model's analysis time) so
        # that ``math.sqrt(proxy)`` records a node; without it such a call fails, and is retried with it
        modules: Any = (math,) if autowrap_math else ()
        super().__init__(autowrap_modules=modules)
        self._names: dict[int, str] | None = None
        self._stack_snapshot: dict[str, tuple[str, type]] | None = None
        self._returned = False  # the root's forward has returned: create_arg builds the output node

    def trace(self, root: nn.Module | Callable[..., Any], concrete_args: dict[str, Any] | None = None) -> fx.Graph:
        """fx's ``Tracer.trace`` of a module root, with module calls and parameter/buffer reads routed
        through this tracer per instance of the (private) copy (``module_routing``) instead of by patching
        ``nn.Module`` for every class in the process. A function root, a module that cannot be routed,
        or a trace inside another fx trace takes fx's own path."""
        symbolic = fx._symbolic_trace
        if not self.routes_per_instance or not isinstance(root, nn.Module) or symbolic._is_fx_tracing_flag:
            return super().trace(root, concrete_args)
        paths = {module: name for name, module in module_paths(root)}
        if not all(routable(module) for module in paths) or not hasattr(type(root), self.traced_func_name):
            return super().trace(root, concrete_args)
        symbolic._is_fx_tracing_flag = True
        try:
            LazyGraphModule.force_recompile(root)  # type: ignore[arg-type]  # a no-op unless it is one
            self.root = root
            fn = getattr(type(root), self.traced_func_name)
            self.root_module_name = root._get_name()
            self.submodule_paths = paths
            self.graph = fx.Graph(tracer_cls=type(self))
            code = fn.__code__
            self.graph._co_fields = {
                "co_name": code.co_name,
                "co_filename": code.co_filename,
                "co_firstlineno": code.co_firstlineno,
            }
            self.tensor_attrs = _tensor_attributes(root)
            fn_globals = fn.__globals__
            fn, args = self.create_args_for_root(fn, True, concrete_args)
            proxies: dict[str, Any] = {}  # one get_attr node per tensor read
            wrapped = self._autowrap_function_ids
            with symbolic._new_patcher() as patcher:

                def call(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], own: Callable[..., Any]) -> Any:
                    if wrapped:  # fx wraps the listed functions in each forward's globals as it meets them
                        symbolic._autowrap_check(patcher, getattr(getattr(module, "forward", module), "__globals__", {}), wrapped)
                    return self.call_module(module, own, args, kwargs)

                def read(name: str, value: Any) -> Any:
                    return self.getattr(name, value, proxies)

                with routed(paths, call, read):
                    _compile_hints_ignored(patcher)
                    symbolic._patch_wrapped_functions(patcher)
                    symbolic._autowrap_check(patcher, fn_globals, wrapped)
                    for library in self._autowrap_search:
                        symbolic._autowrap_check(patcher, library.__dict__, wrapped)
                    returns = inspect.get_annotations(inspect.unwrap(fn)).get("return", None)
                    self.create_node("output", "output", (self.create_arg(fn(*args)),), {}, type_expr=returns)
            self.submodule_paths = None
        finally:
            symbolic._is_fx_tracing_flag = False
        return self.graph

    def create_args_for_root(self, root_fn: Any, is_module: bool, concrete_args: Any = None) -> tuple[Any, list[Any]]:
        fn, args = super().create_args_for_root(root_fn, is_module, concrete_args)
        return self.marking_return(fn), args

    def marking_return(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` that records, once it has returned, that what follows is the graph's output."""

        @functools.wraps(fn)
        def returning(*args: Any, **kwargs: Any) -> Any:
            out = fn(*args, **kwargs)
            self._returned = True
            return out

        return returning

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf(m)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        """fx's reading of a module's parameter or buffer as a ``get_attr`` proxy (one per tensor), found by
        identity in O(1) (fx scans ``named_parameters``/``named_buffers`` on every read: over half the
        tracing time of a deep model); a tensor not found (a buffer replaced since) takes fx's own scan."""
        if isinstance(attr_val, torch.Tensor):
            name = self._root_names().get(id(attr_val))  # a tensor's id names a parameter or a buffer
            if name is not None:
                if name not in parameter_proxy_cache:
                    parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {})
                return parameter_proxy_cache[name]
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def call_module(self, m: nn.Module, forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """fx's module call: the module pushed on ``module_stack`` under fx's key (``path``, then
        ``path@<n>`` for its n-th repeat call), a ``call_module`` node for a leaf, its forward traced
        otherwise. Without fx's scope bookkeeping, which only feeds ``node_name_to_scope`` (unused here).
        A module that is not part of the model (made inside a forward, or a function a library wrapped
        as a module) has no path to name a node by, so its forward is traced inline."""
        paths = self.submodule_paths
        if paths is None:  # fx's own path pushes on module_stack too: no snapshot survives it
            self._stack_snapshot = None
            try:
                return super().call_module(m, forward, args, kwargs)
            finally:
                self._stack_snapshot = None
        path = paths.get(m)
        if path is None:
            return forward(*args, **kwargs)
        calls = self.num_calls.get(path, 0)
        key = f"{path}@{calls}" if calls else path
        stack = self.module_stack
        stack[key] = (path, type(m))
        self.num_calls[path] = calls + 1
        self._stack_snapshot = None
        try:
            if self.is_leaf_module(m, path):
                return self.create_proxy("call_module", path, args, kwargs)
            return forward(*args, **kwargs)
        finally:
            stack.popitem(last=True)
            self._stack_snapshot = None

    def create_node(
        self,
        kind: str,
        target: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None = None,
        type_expr: Any = None,
    ) -> fx.Node:
        """fx's node creation without its per-node costs that tracing a model on meta tensors does not need:
        the scan of every argument for raw SymInts (a warning only), the scope table, and a fresh copy of
        ``module_stack`` per node (nodes created inside one module call share one snapshot: read-only).
        Where fx would record more (preserved node meta, stack traces, mutation checks, node hooks),
        fx's own path runs."""
        graph = self.graph
        if (
            self.record_stack_traces
            or self.check_mutable_operations
            or fx.traceback.has_preserved_node_meta()
            or graph.owning_module is not None
        ):
            return super().create_node(kind, target, args, kwargs, name, type_expr)
        candidate = name if name is not None else _node_base_name(graph, target)
        namespace = graph._graph_namespace
        node_name = namespace.create_name(candidate, None)
        node = fx.Node(graph, node_name, kind, target, args, kwargs or immutable_dict(), type_expr)
        namespace.associate_name_with_obj(node_name, node)
        graph._insert(node)
        graph._find_nodes_lookup_table.insert(node)
        graph._len += 1
        if self.module_stack:
            if self._stack_snapshot is None:
                self._stack_snapshot = self.module_stack.copy()  # an OrderedDict, as fx's copy.copy makes
            node.meta["nn_module_stack"] = self._stack_snapshot
        return node

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return TracerProxy(node, self)

    def create_arg(self, a: Any) -> Any:
        """fx's conversion of a call argument, with O(1) paths for the common cases: constants,
        proxies, flat containers, and tensors or modules of the root (fx itself scans
        ``named_parameters``/``named_modules`` for each, quadratic on large models)."""
        kind = type(a)
        if kind in _ATOMS:
            return a
        if kind is type and a in _PYTHON_DTYPES:  # ``torch.tensor(0, dtype=int)``: torch reads it as int64
            return _PYTHON_DTYPES[a]
        if kind in self.proxy_kinds:
            return a.node
        if kind is slice:
            return slice(self.create_arg(a.start), self.create_arg(a.stop), self.create_arg(a.step))
        if kind is tuple or kind is list:
            return kind(self.create_arg(item) for item in a)
        if kind is dict and all(type(k) is str for k in a):
            return {k: self.create_arg(v) for k, v in a.items()}
        if isinstance(a, (torch.Tensor, nn.Module)):
            name = self._root_names().get(id(a))
            if name is not None:
                return self.create_node("get_attr", name, (), {})
        try:
            return super().create_arg(a)
        except NotImplementedError:
            if not self._returned:
                raise
            # an object fx cannot put in a graph, returned by the model (a key/value cache in a Hugging
            # Face output): the output keeps the traced values it holds, which stay live as the cache does
            return self.create_arg(tuple(_proxies_within(a)))

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


def _tensor_attributes(root: nn.Module) -> dict[Any, str]:
    """fx's ``tensor_attrs``: each tensor (or script object, tree spec) held as a plain attribute of a
    module of ``root`` → its qualified name (the last path wins, as in fx's recursive collection)."""
    kinds = fx._symbolic_trace._constant_attribute_types
    found: dict[Any, str] = {}
    for path, module in module_paths(root, remove_duplicate=False):
        prefix = path + "." if path else ""
        for key, value in module.__dict__.items():
            if isinstance(value, kinds):
                found[value] = prefix + key
    return found


def _proxies_within(value: Any, depth: int = 6) -> Iterator[fx.Proxy]:
    """The proxies an object holds in its attributes, lists, tuples and dicts (each object once, to
    ``depth`` levels), in attribute order."""
    seen: set[int] = set()

    def walk(v: Any, level: int) -> Iterator[fx.Proxy]:
        if isinstance(v, fx.Proxy):
            yield v
            return
        if level > depth or id(v) in seen or isinstance(v, (str, bytes, int, float, bool, type, nn.Module, torch.Tensor)):
            return
        seen.add(id(v))
        if isinstance(v, dict):
            items: Any = v.values()
        elif isinstance(v, (list, tuple, set, frozenset)):
            items = v
        else:
            items = getattr(v, "__dict__", {}).values()
        for item in items:
            yield from walk(item, level + 1)

    return walk(value, 0)


_BASE_NAMES: dict[Any, str] = {}


def _node_base_name(graph: fx.Graph, target: Any) -> str:
    """fx's default name for a node of ``target`` (``Graph._target_to_str``: snake case, magic-method
    dunders dropped), remembered per target."""
    try:
        return _BASE_NAMES[target]
    except KeyError:
        if len(_BASE_NAMES) >= 4096:  # targets include module paths: bounded across many models
            _BASE_NAMES.clear()
        name = _BASE_NAMES[target] = graph._target_to_str(target)
        return name
    except TypeError:  # an unhashable target
        return graph._target_to_str(target)


class LeafRoot(nn.Module):
    """Holds a model that is itself a leaf (a bare Conv2d, say), so that it shows up as a call node."""

    def __init__(self, name: str, module: nn.Module) -> None:
        super().__init__()
        self.add_module(name, module)
        self._leaf_name = name


def wrap_leaf(module: nn.Module) -> nn.Module:
    """A ``LeafRoot`` around ``module`` whose forward has the module's own parameter names and defaults
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
    cls = type("LeafRoot", (LeafRoot,), {"forward": namespace["forward"]})
    return cls(name, module)


def symbolic_trace(root: nn.Module, name: str, concrete: dict[str, Any]) -> fx.Graph:
    """torch.fx symbolic trace, turning any failure into a one-line TraceFailure naming the construct.
    A first trace leaves ``math`` unwrapped (fx's autowrap re-patches every forward's globals at each call);
    where it fails on a proxy handed to Python (``math.sqrt(n)`` says "must be real number, not Proxy"), a
    second trace wraps ``math``. Any other failure (the transformers wrappers' ``**kwargs`` handling) is
    the same in both: raised at once."""
    try:
        return ModelTracer(autowrap_math=False).trace(root, concrete_args=concrete or None)
    except Exception as exc:  # noqa: BLE001  # math on a proxy perhaps: the full trace below says what fails
        if not _names_a_proxy(exc):
            raise _trace_failure(exc, name) from exc
    try:
        return ModelTracer().trace(root, concrete_args=concrete or None)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError… depending on the construct
        raise _trace_failure(exc, name) from exc


def _names_a_proxy(exc: BaseException) -> bool:
    """Whether ``exc`` or an exception it chains says "Proxy": Python code (``math``, ``int``, iteration) was
    handed a traced value."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "Proxy" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _trace_failure(exc: Exception, name: str) -> TraceFailure:
    """The one-line TraceFailure of a failed fx trace: the reason and the user's line it failed at."""
    where = user_frame(traceback.extract_tb(exc.__traceback__))
    reason = first_line(exc)
    if "control flow" in reason or "iterate" in reason or "bool" in reason:
        reason = "data-dependent Python control flow on a traced tensor (" + reason + ")"
    return TraceFailure(f"torch.fx cannot trace {name}: {reason} at {where}")

