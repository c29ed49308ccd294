"""Trace a model with torch.fx and record, for every node, the aten ops it runs on fake tensors.

The graph is traced on a fake-tensor copy of the model (``fake.copy_model``), so a forward that
writes ``self.calls += 1`` or ``self.ema.mul_(0.9)`` writes the copy, and constants fx attaches land
on the copy; then the graph runs once under ``FakeTensorMode`` with an op recorder: each node gets
``meta['val']`` (fake outputs) and its list of ``AtenCall``s. No real compute, nothing of the
user's model written, process state (RNG, grad mode, default dtype, threads) restored.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from costmodel.errors import ShapeMismatch, TraceFailure
from costmodel.inputs import ModelInputs, bind_placeholders, empty_tensor, materialise, normalise_inputs
from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.fake_propagation import KNOWN_LIMIT, FakePropagation
from costmodel.trace.fake_tensors import FakeTwins, KnownValues, LazyFakeMode, meta_tensor_map
from costmodel.trace.fx_tracer import LeafRoot, is_leaf, keep_unicode_names, symbolic_trace, wrap_leaf
from costmodel.trace.guards import fake_errors_unlogged, process_state_preserved
from costmodel.trace.model_copy import copy_model
from costmodel.trace.model_errors import NeedsRealValues
from costmodel.trace.node_cache import NodeOutcome
from costmodel.trace.pending import pending_input, tensors_in
from costmodel.trace.recorders import OpRecorder, dispatch_as_eager
from costmodel.trace.shaped_tracer import shaped_trace
from costmodel.trace.trace_constants import written_trace_constant

__all__ = [
    "TensorMeta", "TracedModel", "NeedsRealValues", "eval_mode_preserved", "trace_model", "tensors_in", "is_leaf",
    "is_known_input",
]  # fmt: skip


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
    known_inputs: bool = False  # integer inputs were real zeros (``trace_model``'s ``known_inputs``)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the first tensor input."""
        return tuple(self.inputs.first_shape)

    @property
    def is_wrapped_leaf(self) -> bool:
        """Whether the model is a single leaf layer, traced inside a wrapper."""
        return isinstance(self.root, LeafRoot)

    def real_root(self) -> nn.Module:
        """The module the graph's targets resolve in, holding the user's real tensors: the model
        itself, or a wrapper around it when the model is a single leaf layer."""
        return wrap_leaf(self.model) if isinstance(self.root, LeafRoot) else self.model

    def call_nodes(self) -> list[fx.Node]:
        """The nodes that compute something: call_module, call_function and call_method."""
        return [n for n in self.graph.nodes if n.op.startswith("call_")]


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


def _unsupplied_defaults(model: nn.Module, inputs: ModelInputs) -> dict[str, Any]:
    """Forward parameters the caller did not supply, at their defaults (traced as constants, so that
    ``if mask is None`` takes the branch a real call would)."""
    try:
        signature = inspect.signature(model.forward)
        params = signature.parameters
        supplied = signature.bind_partial(*inputs.args, **inputs.kwargs).arguments
    except (TypeError, ValueError):
        return {}
    return {
        name: p.default
        for name, p in params.items()
        if name not in supplied and p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD
    }


def trace_model(
    model: nn.Module,
    inputs: Any = (1, 3, 224, 224),
    dtype: torch.dtype = torch.float32,
    name: str = "the model",
    *,
    shortcuts: bool = True,
    fake_mode: FakeTensorMode | None = None,
    deadline: float | None = None,
    known_inputs: bool = False,
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
    ``known_inputs``: integer and bool inputs (token ids, masks) of at most ``KNOWN_LIMIT`` elements are
    real zeros — the values the aten walk's real forward gives them — whose values flow through the ops
    computed from them alone (lengths, masks, ``.item()``), so that shapes that depend on them are known.
    """
    spec = normalise_inputs(inputs)
    mode = LazyFakeMode(fake_mode)
    devices: dict[int, torch.device] = {}
    keep: list[torch.Tensor] = []
    constants = KnownValues(dtype)

    def make(s: Any) -> Any:
        if known_inputs and not mode.symbolic and is_known_input(s):
            return empty_tensor(s, dtype)
        return pending_input(s, dtype, mode)

    def fresh_root() -> nn.Module:
        root = copy_model(model, meta_tensor_map(dtype, devices, keep, constants))
        dispatch_as_eager(root)
        return wrap_leaf(root) if is_leaf(root) else root

    def propagation(root: nn.Module, graph: fx.Graph) -> FakePropagation:
        recorder = OpRecorder()
        recorder.deadline = deadline
        prop = FakePropagation(root, graph, recorder, spec.describe(dtype), FakeTwins(mode, devices, keep, constants), shortcuts)
        prop.constants_may_flow = prop.known_inputs = known_inputs
        if known_inputs:  # factories whose outputs become known: never replay another trace's outcomes
            prop.salt = (prop.salt, "known inputs")
        return prop

    with process_state_preserved():
        root = fresh_root()
        concrete = _unsupplied_defaults(root, spec)
        fake_args = ModelInputs(materialise(spec.args, make), materialise(spec.kwargs, make))

        def traced_with_shapes() -> tuple[fx.Graph, FakePropagation]:
            # on a fresh copy: the failed trace may have left proxies in the first one's attributes
            with torch.no_grad(), fake_errors_unlogged():
                return shaped_trace(fresh_root(), name, fake_args, propagation)

        try:
            graph = symbolic_trace(root, name, concrete)
            written = written_trace_constant(graph)
            if written is not None:  # Python may have read its value before the write: a stale value
                raise TraceFailure(f"torch.fx cannot trace {name}: a traced value is written into {written}")
        except TraceFailure:  # control flow on shapes, or a forward fx cannot call: shapes answered concretely
            graph, prop = traced_with_shapes()
        else:
            placeholders = [n for n in graph.nodes if n.op == "placeholder"]
            defaults = [n.args[0] if n.args else concrete.get(str(n.target).lstrip("*")) for n in placeholders]
            values = bind_placeholders(root, [str(n.target) for n in placeholders], fake_args, defaults)
            prop = propagation(root, graph)
            try:
                with torch.no_grad(), fake_errors_unlogged():
                    prop.run(*values)
            except ShapeMismatch as exc:
                if not isinstance(exc.__cause__, AttributeError):  # fx appends a graph excerpt; keep our one line
                    raise ShapeMismatch(str(exc).splitlines()[0]) from exc.__cause__
                # an attribute a tensor lacks: fx answered ``hasattr(proxy, name)`` True where eager says False
                graph, prop = traced_with_shapes()
        root = prop.module
        _drop_nodes_after_output(graph, prop.node_calls, prop.node_outcomes)
        renamed = keep_unicode_names(graph)
        prop.node_calls = {renamed.get(k, k): v for k, v in prop.node_calls.items()}
        prop.node_outcomes = {renamed.get(k, k): v for k, v in prop.node_outcomes.items()}
    return TracedModel(
        model=model,
        root=root,
        graph=graph,
        inputs=spec,
        dtype=dtype,
        node_calls=prop.node_calls,
        node_outcomes=prop.node_outcomes,
        known_inputs=known_inputs and any(is_known_input(t) for _, t in spec.specs()),
    )


def is_known_input(spec: Any) -> bool:
    """Whether input ``spec`` (a ``TensorSpec``) is one ``known_inputs`` makes real: an integer or bool dtype,
    at most ``KNOWN_LIMIT`` elements."""
    dtype = getattr(spec, "dtype", None)
    if dtype is None or dtype.is_floating_point or dtype.is_complex:
        return False
    return all(type(n) is int for n in spec.shape) and math.prod(spec.shape) <= KNOWN_LIMIT
