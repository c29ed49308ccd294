"""Layer rows in the aten-level walk: each call of a leaf layer (a torch.nn layer, or a module with a
user's module rule) becomes one row holding the ops it ran, as the fx walk's call_module rows do; every
other op is a row of its own. On fake tensors a leaf call is answered, as in the fx walk, by its
closed-form shape rule (``module_shortcuts.direct_call``) or by replaying the outcome of an earlier call
with the same signature (``node_cache``): the aten calls and output geometry are the ones running the
layer would record (tests hold both to the plain run)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.module_shortcuts import direct_call
from costmodel.trace.node_cache import (
    WRAPPED_FORWARD,
    NodeOutcome,
    module_call_key,
    outcome_of,
    process_salt,
    recall,
    remember,
    replay,
)
from costmodel.trace.pending import distinct_tensors, materialised, tensors_in
from costmodel.trace.recorders import OpRecorder, storage_key


@dataclass
class WalkRow:
    """One row of the aten-level walk: the ``calls[start:end]`` it ran; for a layer call (``layer`` set:
    its path, ``""`` for the model itself) the layer's class as ``op`` and the tensors the layer was
    called with and returned, else the one op's own. ``storages``/``out_storages`` identify the tensors
    read and written (dataflow); ``aliases``: every output is a view of an input."""

    start: int
    end: int
    op: str
    owner: str | None
    layer: str | None
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[TensorMeta, ...]
    storages: tuple[int, ...]
    out_storages: tuple[int, ...]
    aliases: bool


@dataclass
class _Span:
    start: int
    path: str
    module: nn.Module
    inputs: list[Any]


class LeafCalls:
    """Tracks the outermost leaf call running now (``enter``/``leave`` from module hooks) and, on fake
    tensors, answers leaf calls without running them where a shape rule or the memo knows the outcome."""

    def __init__(self, recorder: OpRecorder, mode: FakeTensorMode | None, is_leaf: Callable[[nn.Module], bool]) -> None:
        self.recorder = recorder
        self.lazy = LazyFakeMode(mode) if mode is not None else None
        self.is_leaf = is_leaf
        self.spans: list[tuple[_Span, int, list[Any]]] = []
        self._open: _Span | None = None
        self._depth = 0
        self.salt = process_salt()
        # symbolic sizes are keys only within one ShapeEnv: such a walk memoises privately
        self.memo: dict[Hashable, NodeOutcome] | None = {} if mode is not None and mode.shape_env is not None else None

    def enter(self, path: str, module: nn.Module, args: Any, kwargs: Any) -> None:
        """A module starts: the outermost leaf opens a span."""
        if self._open is not None:
            self._depth += 1
        elif self.is_leaf(module):
            self._open = _Span(len(self.recorder.calls), path, module, distinct_tensors((args, kwargs)))

    def leave(self, module: nn.Module, out: Any) -> None:
        """A module ends: the outermost leaf closes its span with its outputs."""
        if self._open is None:
            return
        if self._depth:
            self._depth -= 1
            return
        if self._open.module is module:
            self.spans.append((self._open, len(self.recorder.calls), tensors_in(out)))
            self._open = None

    def install(self, module: nn.Module) -> None:
        """Answer ``module``'s calls by shape rule or memo where they apply (fake tensors only; call it
        before the walk adds its own hooks: a module with a user's hook always runs)."""
        if self.lazy is None or module._forward_hooks or module._forward_pre_hooks:
            return
        original = module.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            return self._call(module, original, args, kwargs)

        setattr(forward, WRAPPED_FORWARD, original)  # the memo key reads the layer's own forward
        module.forward = forward  # type: ignore[method-assign]  # the walk's private copy

    def _call(self, module: nn.Module, original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        recorder = self.recorder
        if recorder.muted or self.lazy is None:
            return original(*args, **kwargs)
        keyed = module_call_key(module, args, kwargs, self.salt)
        if keyed is not None:
            # a key of its own: an fx outcome may stand a view for a new tensor, which the walk's dataflow cannot
            keyed = (("aten walk", keyed[0]), keyed[1])
            outcome = recall(keyed[0], self.memo)
            if outcome is not None:
                self._record(outcome.calls)
                return materialised(replay(outcome, keyed[1], self.lazy))
        start = len(recorder.calls)
        direct = direct_call(module, args, kwargs, self.lazy)
        if direct is not None and direct[1] and all(call.aliases for call in direct[1]):
            direct = None  # a view of the input (Flatten): run, so that the walk's dataflow sees the alias
        if direct is not None:
            self._record(direct[1])
            result = materialised(direct[0])
        else:
            result = original(*args, **kwargs)
        if keyed is not None and not _returns_a_view(result, keyed[1]):
            outcome = outcome_of(result, keyed[1], recorder.calls[start:])
            if outcome is not None:
                remember(keyed[0], outcome, self.memo)
        return result

    def _record(self, calls: tuple[AtenCall, ...] | list[AtenCall]) -> None:
        """Append replayed calls; each ``F.linear`` group gets a fresh number (groups never span rows)."""
        self.recorder.add_all(calls)

    def rows(self, calls: list[AtenCall], owners: list[str | None]) -> list[WalkRow]:
        """Every call in order, the calls of each leaf span grouped into one layer row."""
        rows: list[WalkRow] = []
        at = 0
        for span, end, outputs in self.spans:
            rows.extend(_op_row(calls[i], i, owners[i]) for i in range(at, span.start))
            rows.append(_layer_row(span, end, outputs))
            at = end
        rows.extend(_op_row(calls[i], i, owners[i]) for i in range(at, len(calls)))
        return rows


def _returns_a_view(result: Any, inputs: list[Any]) -> bool:
    """Whether an output shares an input's storage without being that input (a replay would lose the alias)."""
    keys = {storage_key(t) for t in inputs if isinstance(t, torch.Tensor)}
    return any(
        isinstance(o, torch.Tensor) and storage_key(o) in keys and not any(o is t for t in inputs) for o in tensors_in(result)
    )


def _op_row(call: AtenCall, index: int, owner: str | None) -> WalkRow:
    op = call.short
    return WalkRow(index, index + 1, op, owner, None, call.inputs, call.outputs, call.storages, call.out_storages, call.aliases)


def _layer_row(span: _Span, end: int, outputs: list[Any]) -> WalkRow:
    inputs = span.inputs
    aliases = bool(outputs) and all(
        isinstance(o, torch.Tensor) and any(torch._C._is_alias_of(o, i) for i in inputs if isinstance(i, torch.Tensor))  # type: ignore[attr-defined]
        for o in outputs
    )
    return WalkRow(
        span.start,
        end,
        type(span.module).__name__,
        span.path or None,
        span.path,
        tuple(TensorMeta.of(t) for t in inputs),
        tuple(TensorMeta.of(t) for t in outputs),
        tuple(storage_key(t) for t in inputs),
        tuple(storage_key(t) for t in outputs),
        aliases,
    )
