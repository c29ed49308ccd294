"""Trace a model with torch.fx and put a shape on every node without running the real compute.

Shapes come from meta tensors: every op computes output metadata only, so the cost of tracing does
not grow with the input size, and no activation is ever allocated. The model is
switched to eval mode for the walk and every module's training flag is restored afterwards; parameters
and buffers are never written.
"""

from __future__ import annotations

import contextlib
import copy
import linecache
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from costmodel.errors import ShapeMismatch, TraceFailure
from costmodel.module_kinds import ACTIVATION_MODULES, IDENTITY_MODULES


@dataclass(frozen=True)
class TensorMeta:
    """What the cost rules need to know about a tensor: shape, dtype and memory layout."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    contiguous: bool

    @property
    def numel(self) -> int:
        """Number of elements, the product of the shape (1 for a scalar tensor)."""
        total = 1
        for size in self.shape:
            total *= size
        return total

    @classmethod
    def of(cls, tensor: torch.Tensor) -> TensorMeta:
        """Metadata of a (real or fake) tensor."""
        return cls(tuple(int(s) for s in tensor.shape), tensor.dtype, tensor.is_contiguous())


@dataclass
class TracedModel:
    """The fx graph of ``root`` with ``meta['val']`` on every node: meta tensors or plain values."""

    root: nn.Module
    graph: fx.Graph
    input_shape: tuple[int, ...]
    dtype: torch.dtype

    def call_nodes(self) -> list[fx.Node]:
        """The nodes that compute something: call_module, call_function and call_method."""
        return [n for n in self.graph.nodes if n.op.startswith("call_")]


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


def _user_frame(tb: traceback.StackSummary) -> str:
    """The innermost traceback frame outside torch and this package, as 'file:line: source'."""
    torch_dir = os.path.dirname(torch.__file__)
    own_dir = os.path.dirname(__file__)
    for frame in reversed(tb):
        if frame.filename.startswith((torch_dir, own_dir)) or frame.filename.startswith("<"):
            continue
        source = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
        return f"{os.path.basename(frame.filename)}:{frame.lineno}: `{source}`"
    return "an unknown location"


LeafPredicate = Callable[[nn.Module], bool]


class _Tracer(fx.Tracer):
    """fx's tracer, which also keeps as leaves the modules ``extra_leaf`` accepts (e.g. a Conv2d subclass)."""

    def __init__(self, extra_leaf: LeafPredicate | None) -> None:
        super().__init__()
        self._extra_leaf = extra_leaf

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if self._extra_leaf is not None and not isinstance(m, nn.Sequential) and self._extra_leaf(m):
            return True
        return super().is_leaf_module(m, module_qualified_name)


class _Root(nn.Module):
    """Holds a model that is itself a leaf (a bare Conv2d, say), so that it shows up as a call node."""

    def __init__(self, name: str, module: nn.Module) -> None:
        super().__init__()
        self.add_module(name, module)
        self._leaf_name = name

    def forward(self, x: torch.Tensor) -> Any:
        return getattr(self, self._leaf_name)(x)


def symbolic_trace(model: nn.Module, name: str, extra_leaf: LeafPredicate | None = None) -> fx.Graph:
    """torch.fx symbolic trace, turning any failure into a one-line TraceFailure naming the construct."""
    try:
        return _Tracer(extra_leaf).trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError… depending on the construct
        where = _user_frame(traceback.extract_tb(exc.__traceback__))
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "control flow" in reason or "iterate" in reason or "bool" in reason:
            reason = "data-dependent Python control flow on a traced tensor (" + reason + ")"
        raise TraceFailure(
            f"torch.fx cannot trace {name}: {reason} at {where}"
            " (--fallback / analyze(..., fallback=True) costs it from one real forward instead)"
        ) from exc


def to_meta(tensor: torch.Tensor) -> torch.Tensor:
    """A meta tensor with ``tensor``'s shape, strides and dtype: metadata only, no storage."""
    return torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device="meta")


# Modules whose output has exactly the input's shape, dtype and layout (element-wise maps, eval-mode
# norms and dropout). Running them on meta tensors would only re-derive that, slowly for BatchNorm
# (a Python decomposition), so their shape rule is applied directly.
_SAME_SHAPE_MODULES: tuple[type[nn.Module], ...] = ACTIVATION_MODULES + IDENTITY_MODULES


def _check_input_width(module: nn.Module, args: Sequence[Any]) -> None:
    """Say plainly when a conv or linear layer gets the wrong number of input channels/features."""
    if not args or not isinstance(args[0], torch.Tensor):
        return
    x = args[0]
    if isinstance(module, nn.modules.conv._ConvNd) and not isinstance(module, nn.modules.conv._ConvTransposeNd):
        spatial = len(module.kernel_size)
        channel_dim = 1 if x.dim() == spatial + 2 else 0
        if x.dim() in (spatial + 1, spatial + 2) and x.shape[channel_dim] != module.in_channels:
            raise RuntimeError(
                f"expected {module.in_channels} input channels, got {x.shape[channel_dim]} (tensor shape {list(x.shape)})"
            )
    elif isinstance(module, nn.Linear) and x.dim() >= 1 and x.shape[-1] != module.in_features:
        raise RuntimeError(
            f"expected {module.in_features} input features in the last dim, got {x.shape[-1]} (tensor shape {list(x.shape)})"
        )


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor inside ``value`` (nested tuples, lists and dicts), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in tensors_in(item)]
    return []


def aliases_an_input(node: fx.Node) -> bool:
    """True when every tensor a propagated node holds shares storage with one of its tensor
    arguments: the op was a view, and moved no data."""
    outputs = tensors_in(node.meta.get("val"))
    if not outputs:
        return False
    inputs = [t for arg in node.all_input_nodes for t in tensors_in(arg.meta.get("val"))]
    return all(any(torch._C._is_alias_of(out, inp) for inp in inputs) for out in outputs)  # type: ignore[attr-defined]


class _ShapeProp(fx.Interpreter):
    """Runs the graph on meta tensors, storing each node's result in ``node.meta['val']``.

    Submodules run on shallow copies whose parameters and buffers are meta tensors, so the model's
    own tensors are never touched. An exception is re-raised as ShapeMismatch naming the node.
    """

    def __init__(self, root: nn.Module, graph: fx.Graph, input_shape: Sequence[int]) -> None:
        super().__init__(root, graph=graph)
        self._input_shape = tuple(input_shape)

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception as exc:
            layer = f"layer '{n.name}'"
            if n.op == "call_module":
                layer += f" ({self.fetch_attr(str(n.target))})"
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ShapeMismatch(f"input shape {list(self._input_shape)} does not fit {layer}: {detail}") from exc
        n.meta["val"] = result
        return result

    def get_attr(self, target: Any, args: Any, kwargs: Any) -> Any:
        value = super().get_attr(target, args, kwargs)
        return to_meta(value) if isinstance(value, torch.Tensor) else value

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        module = self.fetch_attr(target)
        if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
            x = args[0]
            if isinstance(module, _SAME_SHAPE_MODULES):
                return torch.empty_like(x)
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module._check_input_dim(x)
                if x.dim() < 2 or x.shape[1] != module.num_features:
                    raise RuntimeError(f"expected input with {module.num_features} channels in dim 1, got shape {list(x.shape)}")
                return torch.empty_like(x)
        _check_input_width(module, args)
        clone = copy.copy(module)
        clone._parameters = {k: None if v is None else to_meta(v) for k, v in module._parameters.items()}  # type: ignore[assignment]
        clone._buffers = {k: None if v is None else to_meta(v) for k, v in module._buffers.items()}
        return clone.forward(*args, **kwargs)


def trace_model(
    model: nn.Module,
    input_shape: Sequence[int],
    dtype: torch.dtype = torch.float32,
    name: str = "the model",
    extra_leaf: LeafPredicate | None = None,
) -> TracedModel:
    """Trace ``model`` with torch.fx and propagate ``input_shape`` through it on meta tensors.

    Contract: returns a TracedModel whose every node has ``meta['val']``; the model's parameters,
    buffers and training flags are exactly as they were. A model that is itself a leaf module (a bare
    ``nn.Conv2d``) is wrapped so that it appears as one call node named after its class. Modules that
    ``extra_leaf`` accepts are kept whole rather than traced through. Raises TraceFailure or ShapeMismatch.
    """
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise ShapeMismatch(f"input shape {list(shape)} must be a non-empty list of positive sizes")
    tracer = _Tracer(extra_leaf)
    if tracer.is_leaf_module(model, ""):
        model = _Root(type(model).__name__.lower(), model)
    with eval_mode_preserved(model):
        graph = symbolic_trace(model, name, extra_leaf)
        required = [n for n in graph.nodes if n.op == "placeholder" and not n.args]  # args: a default
        if len(required) != 1:
            names = ", ".join(n.name for n in required) or "none"
            raise TraceFailure(f"{name}'s forward takes {len(required)} required inputs ({names}); one input tensor is supported")
        try:
            with torch.no_grad():
                _ShapeProp(model, graph, shape).run(torch.empty(shape, dtype=dtype, device="meta"))
        except ShapeMismatch as exc:  # fx appends a multi-line graph excerpt; keep our one line
            raise ShapeMismatch(str(exc).splitlines()[0]) from exc.__cause__
    return TracedModel(root=model, graph=graph, input_shape=shape, dtype=dtype)
