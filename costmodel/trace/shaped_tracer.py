"""torch.fx tracing that answers shape questions with the real answer, for models whose Python control
flow reads shapes (Hugging Face models: ``if num_channels != self.num_channels``, ``int(x.shape[-2])``,
``**kwargs`` forwarded through decorators).

Plain fx gives every ``x.shape`` a proxy, so a branch on it cannot be traced. Here each node is
propagated (``FakePropagation``: closed-form shape rules, the node memo, FakeTensorMode) the moment the
tracer creates it, so every proxy knows its value: ``x.shape``, ``x.size(1)``, ``x.dim()``, ``x.dtype``,
``x.device``, ``len(x)`` and iteration are plain Python values, and the graph holds the sizes as
constants (valid at these input sizes only, as every concrete analysis is; under symbolic sizes the
constants are the SymInts themselves, and each branch taken on them is a guard of the formula's
domain). The forward is called with the inputs as given (positional, keyword, through ``**kwargs``), so
decorators run as in a real call. A branch on tensor values (``if mask.any()``) cannot be decided
without values: it fails, and the engine takes the aten-level walk.
"""

from __future__ import annotations

import inspect
import operator
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.fx as fx
import torch.fx._symbolic_trace as fx_symbolic_trace
from torch import nn
from torch.overrides import TorchFunctionMode

from costmodel.errors import CostModelError, TraceFailure
from costmodel.inputs import ModelInputs, bind_forward, item_name
from costmodel.trace.fake_propagation import FakePropagation
from costmodel.trace.fx_tracer import ModelTracer, TracerAttribute, TracerProxy, first_line, user_frame
from costmodel.trace.model_errors import NeedsRealValues
from costmodel.trace.pending import PendingTensor, tensors_in
from costmodel.trace.shortcut_helpers import holds, is_any_tensor, numel_of

__all__ = ["shaped_trace"]


class _Unknown:
    """No concrete answer: the attribute is traced as a node."""


_UNKNOWN = _Unknown()


def _is_contiguous(t: Any) -> Callable[..., bool]:
    if type(t) is not PendingTensor:
        return t.is_contiguous  # type: ignore[no-any-return]

    def answer(*args: Any, **kwargs: Any) -> bool:
        return t.is_contiguous() if not args and not kwargs else bool(t.materialise().is_contiguous(*args, **kwargs))

    return answer


#: What a tensor tells about itself without any compute: its geometry, type and place.
_FACTS: dict[str, Callable[[Any], Any]] = {
    "shape": lambda t: torch.Size(t.shape),
    "dtype": lambda t: t.dtype,
    "device": lambda t: t.device,
    "ndim": lambda t: len(t.shape),
    "layout": lambda t: t.layout,
    "is_cuda": lambda t: t.device.type == "cuda",
    "requires_grad": lambda t: t.requires_grad,
    "size": lambda t: lambda dim=None: torch.Size(t.shape) if dim is None else t.shape[dim],
    "dim": lambda t: lambda: len(t.shape),
    "ndimension": lambda t: lambda: len(t.shape),
    "numel": lambda t: lambda: numel_of(tuple(t.shape)),
    "nelement": lambda t: lambda: numel_of(tuple(t.shape)),
    "stride": lambda t: lambda dim=None: tuple(t.stride()) if dim is None else t.stride()[dim],
    "is_contiguous": _is_contiguous,
    "is_floating_point": lambda t: lambda: t.dtype.is_floating_point,
    "is_complex": lambda t: lambda: t.dtype.is_complex,
    "element_size": lambda t: lambda: t.dtype.itemsize,
    "get_device": lambda t: lambda: -1 if t.device.type == "cpu" else t.device.index,
}


class _KnownValue:
    """What a proxy of a known value answers in Python: facts of a tensor, the length of a tensor or a
    container, iteration, numbers. Mixed in before fx's proxy classes."""

    node: fx.Node
    tracer: Any  # a ShapedTracer

    def __getattr__(self, k: str) -> Any:
        answer = self.tracer.fact(self.node, k)
        return _ShapedAttribute(self, k) if answer is _UNKNOWN else answer  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.tracer.length(self.node)

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))  # type: ignore[index]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.tracer.create_proxy("call_function", operator.setitem, (self, key, value), {})

    def __int__(self) -> int:
        return int(self.tracer.scalar(self.node))

    def __index__(self) -> int:
        return int(self.tracer.scalar(self.node))

    def __float__(self) -> float:
        return float(self.tracer.scalar(self.node))


class _ShapedProxy(_KnownValue, TracerProxy):
    pass


class _ShapedAttribute(_KnownValue, TracerAttribute):
    pass


class ShapedTracer(ModelTracer):
    """fx's tracer whose every new node is propagated at once (``FakePropagation.run_node``), so that
    proxies answer shape questions concretely; the forward is called with ``inputs`` as given."""

    proxy_kinds = frozenset({_ShapedProxy, _ShapedAttribute, TracerProxy, TracerAttribute})

    def __init__(self, propagation: Callable[[nn.Module, fx.Graph], FakePropagation], inputs: ModelInputs) -> None:
        """``propagation``: makes the propagation over the graph being traced (called on its first node);
        ``inputs``: the forward's arguments, tensors as pending or fake tensors."""
        super().__init__(autowrap_math=False)
        self._propagation = propagation
        self.prop: FakePropagation | None = None
        self._propagating = False
        self._inputs = inputs

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ShapedProxy(node, self)

    def create_node(
        self, kind: str, target: Any, args: Any, kwargs: Any, name: str | None = None, type_expr: Any = None
    ) -> fx.Node:
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        if self.prop is None:
            self.prop = self._propagation(self.root, self.graph)
        if kind != "placeholder":  # placeholders get their value from the caller
            self.prop.env[node] = self._propagate(node)
        return node

    def _propagate(self, node: fx.Node) -> Any:
        """``node`` run as it would run after tracing: fx's patched module calls and attribute reads pass
        straight through (``call_module``, ``getattr``) and its tracing flag is down."""
        assert self.prop is not None
        flag = fx_symbolic_trace._is_fx_tracing_flag
        fx_symbolic_trace._is_fx_tracing_flag = False
        self._propagating = True
        try:
            return self.prop.run_node(node)
        finally:
            self._propagating = False
            fx_symbolic_trace._is_fx_tracing_flag = flag

    def call_module(self, m: nn.Module, forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._propagating:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if self._propagating:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def value(self, node: fx.Node) -> Any:
        """The value propagated for ``node`` (a parameter or buffer as its stand-in on its real device)."""
        assert self.prop is not None
        return self.prop.standing_in_for(self.prop.env[node])

    def fact(self, node: fx.Node, name: str) -> Any:
        """The concrete answer to ``proxy.<name>`` for a tensor (``_FACTS``), AttributeError for a name a
        tensor lacks, else ``_UNKNOWN``."""
        value = self.value(node)
        if not is_any_tensor(value):
            return _UNKNOWN
        read = _FACTS.get(name)
        if read is not None:
            return read(value)
        raw = self.prop.env[node] if self.prop is not None else value  # the buffer itself, not its stand-in
        if not hasattr(torch.Tensor, name) and name not in getattr(raw, "__dict__", {}):
            # ``hasattr(x, "SCB")`` is False in eager (RWKV asks whether a weight is quantised): no node
            raise AttributeError(f"'{type(value).__name__}' object has no attribute '{name}'")
        return _UNKNOWN

    def length(self, node: fx.Node) -> int:
        """``len()`` of the value: a tensor's first size, a container's length."""
        value = self.value(node)
        if is_any_tensor(value):
            if not value.shape:
                raise TypeError("len() of a 0-d tensor")
            return int(value.shape[0])
        if isinstance(value, (tuple, list, dict)):
            return len(value)
        raise fx.proxy.TraceError(f"len() of a traced {type(value).__name__}")

    def scalar(self, node: fx.Node) -> Any:
        """A Python number the graph computed; a tensor's value is data the trace does not have."""
        value = self.value(node)
        if isinstance(value, (int, float, bool)):
            return value
        known = self._known(node)
        if known is not None:
            return known.item()
        raise _ValueNeeded("a tensor's value used as a Python number (data-dependent)")

    def to_bool(self, obj: fx.Proxy) -> bool:
        value = self.value(obj.node)
        if is_any_tensor(value):
            known = self._known(obj.node)
            if known is None:
                raise _ValueNeeded("data-dependent Python control flow on a tensor's values")
            return bool(known)
        return bool(value)

    def _known(self, node: fx.Node) -> torch.Tensor | None:
        """The value of the one-element tensor ``node`` holds, where the trace knows it
        (``FakePropagation.known_value``: read on the node's own value, not a buffer's stand-in), else None."""
        known = self.prop.known_value(self.prop.env[node]) if self.prop is not None else None
        return known if known is not None and known.numel() == 1 else None

    def keys(self, obj: fx.Proxy) -> Any:
        value = self.value(obj.node)
        if isinstance(value, dict):
            return value.keys()
        return super().keys(obj)

    def create_args_for_root(self, root_fn: Any, is_module: bool, concrete_args: Any = None) -> tuple[Any, list[Any]]:
        """The root's forward called with the inputs as given: one placeholder per argument that holds a
        tensor (``*args`` items as ``<name>_<i>``, ``**kwargs`` entries by key), other arguments as constants."""
        bound = bind_forward(self.root, self._inputs, partial=False)
        for name, value in list(bound.arguments.items()):
            kind = bound.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                bound.arguments[name] = tuple(self._placeholder(item_name(name, i), v) for i, v in enumerate(value))
            elif kind is inspect.Parameter.VAR_KEYWORD:
                bound.arguments[name] = {k: self._placeholder(k, v) for k, v in value.items()}
            else:
                bound.arguments[name] = self._placeholder(name, value)

        def forward(root: nn.Module) -> Any:
            return root_fn(root, *bound.args, **bound.kwargs)

        return self.marking_return(forward), [self.root]

    def _placeholder(self, name: str, value: Any) -> Any:
        """A placeholder proxy holding ``value`` when it holds a tensor, else ``value`` itself."""
        if not tensors_in(value):
            return value
        proxy = self.create_proxy("placeholder", name, (), {})
        assert self.prop is not None
        self.prop.env[proxy.node] = value
        proxy.node.meta["val"] = value
        return proxy


#: Functions that make a tensor from Python values alone: traced as nodes even without a traced argument,
#: so that what the forward computes from them (a causal mask, position ids) is traced and costed too.
_FACTORIES = frozenset(
    {
        torch.arange, torch.zeros, torch.ones, torch.full, torch.empty, torch.eye, torch.linspace, torch.logspace,
        torch.rand, torch.randn, torch.randint, torch.randperm, torch.tensor, torch.as_tensor, torch.scalar_tensor,
        torch.tril_indices, torch.triu_indices,
    }
)  # fmt: skip


class _ConstantsTraced(TorchFunctionMode):
    """While tracing (not while a node propagates), tensors that do not come from the inputs are traced
    too: a factory call with no traced argument becomes a node, and so does a call on tensors the model
    holds as plain attributes (a fixed position table) when it returns tensors. Plain fx would compute
    them once at trace time, and a forward's work on them would go uncounted."""

    def __init__(self, tracer: ShapedTracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if not fx_symbolic_trace._is_fx_tracing_flag or _holds_proxy((args, kwargs)):
            return func(*args, **kwargs)
        if func in _FACTORIES:
            return self.tracer.create_proxy("call_function", func, args, kwargs)
        out = func(*args, **kwargs)
        if tensors_in(out) and tensors_in((args, kwargs)):
            return self.tracer.create_proxy("call_function", func, args, kwargs)
        return out


def _holds_proxy(value: Any) -> bool:
    return holds(value, lambda v: isinstance(v, fx.Proxy))


def shaped_trace(
    root: nn.Module, name: str, inputs: ModelInputs, propagation: Callable[[nn.Module, fx.Graph], FakePropagation]
) -> tuple[fx.Graph, FakePropagation]:
    """Trace ``root`` called on ``inputs`` (pending or fake tensors) with ``ShapedTracer``, propagating
    each node as it is made: the graph and the propagation holding every node's value and aten calls.
    A construct that needs tensor values, or that fx cannot record, raises a one-line TraceFailure;
    errors of the model itself (ShapeMismatch, NeedsRealValues) pass through."""
    tracer = ShapedTracer(propagation, inputs)
    try:
        with _ConstantsTraced(tracer), warnings.catch_warnings():
            # under symbolic sizes the graph holds the sizes as SymInts, which fx warns about: the graph
            # is read for its propagated values, never re-run at other sizes
            warnings.filterwarnings("ignore", message="Raw SymInt value", category=UserWarning)
            graph = tracer.trace(root)
    except CostModelError:
        raise
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError… depending on the construct
        where = user_frame(traceback.extract_tb(exc.__traceback__))
        failure = NeedsRealValues if isinstance(exc, _ValueNeeded) else TraceFailure
        raise failure(f"torch.fx cannot trace {name} with concrete shapes: {first_line(exc)} at {where}") from exc
    assert tracer.prop is not None
    return graph, tracer.prop


class _ValueNeeded(fx.proxy.TraceError):
    """Python read a traced tensor's value (``int(t)``, ``if t:``) that the trace does not know."""
