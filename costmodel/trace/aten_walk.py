"""The aten-level walk: one forward recorded op by op, for models torch.fx cannot trace.

The model's forward runs once on a copy (``model_copy.copy_model``) under the same op recorder as the fx
path, so every op is costed by the same rule table and the two walks agree wherever both run. It runs
on fake tensors first (no real compute), then on fake tensors that keep the values of the model's
one-element buffers (a stride kept as a tensor), and on real tensors (a private copy of the model) only
when an op needs the values of data (``.item()``, ``nonzero``). The engine (``analyze``) costs the calls; rows are aten
ops named after the module that issued them (``layer1.0.add``), and each call of a leaf layer (a torch.nn
layer, as the fx walk keeps whole) is one row named by its path (``layer1.0.conv1``, ``Conv2d``), answered
by the fx walk's shape rules and memo where they apply (``leaf_calls``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from costmodel.inputs import ModelInputs, empty_tensor, materialise, normalise_inputs
from costmodel.rules.base import RULES, AtenCall
from costmodel.trace.fake_tensors import fake_tensor_map, new_fake_mode, real_tensor_map
from costmodel.trace.fx_tracer import is_leaf
from costmodel.trace.guards import fake_errors_unlogged, process_state_preserved
from costmodel.trace.leaf_calls import LeafCalls, WalkRow
from costmodel.trace.model_copy import copy_model
from costmodel.trace.model_errors import NeedsRealValues, OutOfTime, model_error, needs_values
from costmodel.trace.recorders import WritesShared, dispatch_as_eager, recording, storage_key, to_call


class _NeedsValues(Exception):
    """An op of the fake run needed tensor values: run again on real tensors."""


def _run(
    model: nn.Module,
    spec: ModelInputs,
    dtype: torch.dtype,
    fake: bool,
    fake_mode: FakeTensorMode | None = None,
    deadline: float | None = None,
    shortcuts: bool = True,
    known_values: bool = False,
    share: bool = False,
) -> tuple[list[AtenCall], list[WalkRow], dict[int, nn.Parameter], dict[str, list[nn.Parameter]]]:
    """One forward of a copy of ``model``; returns the recorded ops, the rows they make, the user's
    parameters keyed by the storages of their copies (to attribute parameters to the op that reads them),
    and each leaf layer's own parameters by its path. ``known_values``: a fake copy's one-element buffers
    keep their values (``fake_tensor_map``)."""
    mode = (fake_mode or new_fake_mode()) if fake else None
    shared: list[torch.Tensor] = []
    if mode is not None:
        tensor_map = fake_tensor_map(mode, dtype, known_values)
    else:
        tensor_map = real_tensor_map(dtype, shared if share else None)
    copied = copy_model(model, tensor_map)
    dispatch_as_eager(copied)
    names = {id(m): n for n, m in copied.named_modules(remove_duplicate=False)}
    originals = dict(model.named_parameters(remove_duplicate=False))
    by_storage: dict[int, nn.Parameter] = {}
    for pname, p in copied.named_parameters(remove_duplicate=False):
        by_storage.setdefault(storage_key(p), originals[pname])
    stack: list[str] = []

    def make(s: Any) -> torch.Tensor:
        return empty_tensor(s, dtype)

    with mode if mode is not None else contextlib.nullcontext():
        args = materialise(spec.args, make)
        kwargs = materialise(spec.kwargs, make)
    with recording(mode, deadline) as recorder:
        recorder.guarded = frozenset(storage_key(t) for t in shared) - {0}
        leaves = LeafCalls(recorder, mode if shortcuts else None, is_leaf)

        def enter(module: nn.Module, args: Any, kwargs: Any) -> None:
            stack.append(names.get(id(module), ""))
            recorder.owner = stack[-1] or None
            leaves.enter(stack[-1], module, args, kwargs)
            if RULES.for_module(module) is not None:
                recorder.muted += 1

        def leave(module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
            if RULES.for_module(module) is not None:
                recorder.muted -= 1
                if not recorder.muted:
                    recorder.add(to_call(type(module).__name__, args, kwargs, out, module))
            leaves.leave(module, out)
            stack.pop()
            recorder.owner = stack[-1] if stack and stack[-1] else None

        for module in copied.modules():
            if is_leaf(module) and RULES.for_module(module) is None:
                leaves.install(module)
            module.register_forward_pre_hook(enter, with_kwargs=True)
            module.register_forward_hook(leave, with_kwargs=True)
        try:
            copied(*args, **kwargs)
            if recorder.write_refused:  # the forward caught the refusal and went on: not the run it makes
                raise WritesShared("a write to a shared parameter was refused")
        except (OutOfTime, WritesShared):
            raise
        except Exception as exc:
            if needs_values(exc):
                raise _NeedsValues from exc
            where = (
                f"module '{stack[-1]}' ({type(copied.get_submodule(stack[-1])).__name__})"
                if stack and stack[-1]
                else type(model).__name__
            )
            raise model_error(exc, spec.describe(dtype), where) from exc
    layer_params = {}
    for span, _, _ in leaves.spans:
        named = span.module.named_parameters(prefix=span.path, remove_duplicate=False)
        layer_params[span.path] = [originals[n] for n, _ in named if n in originals]
    return recorder.calls, leaves.rows(recorder.calls, recorder.owners), by_storage, layer_params


@dataclass
class AtenWalk:
    """One forward recorded op by op: the aten calls, the rows they make (a leaf layer's calls are one row,
    every other op a row of its own), the user's parameters keyed by the storage of their copies and each
    leaf layer's own by its path, whether it ran on real tensors (an op needed values), and the inputs."""

    calls: list[AtenCall]
    rows: list[WalkRow]
    params_by_storage: dict[int, nn.Parameter]
    layer_params: dict[str, list[nn.Parameter]]
    real: bool
    inputs: ModelInputs

    def params_read(self, row: WalkRow) -> list[nn.Parameter]:
        """The user's parameters a row reads: a layer's own, or those among the tensors an op reads
        (matched by storage, so through views)."""
        if row.layer is not None:
            return self.layer_params.get(row.layer, [])
        return [self.params_by_storage[k] for k in row.storages if k in self.params_by_storage]


def aten_walk(
    model: nn.Module,
    inputs: Any,
    dtype: torch.dtype = torch.float32,
    fake_mode: FakeTensorMode | None = None,
    deadline: float | None = None,
    *,
    shortcuts: bool = True,
) -> AtenWalk:
    """Record one forward of ``model`` at the aten level (see the module docstring): fake tensors first,
    real ones on a private copy only when an op needs values. Costs nothing: the engine costs the calls.
    ``fake_mode``: the FakeTensorMode to run in (with a ``ShapeEnv``, inputs may have SymInt sizes); a
    run in a given mode never falls back to real tensors (NeedsRealValues instead). ``deadline``: a
    ``time.monotonic()`` past which the next op raises OutOfTime. ``shortcuts=False`` runs every leaf
    layer under FakeTensorMode (no shape rules, no memo: the reference the tests hold them to)."""
    spec = normalise_inputs(inputs)
    real = False
    with process_state_preserved(), fake_errors_unlogged():
        try:
            try:
                calls, rows, by_storage, layer_params = _run(model, spec, dtype, True, fake_mode, deadline, shortcuts)
            except _NeedsValues:  # perhaps values the model holds (a stride kept as a buffer): fake, with those
                calls, rows, by_storage, layer_params = _run(model, spec, dtype, True, fake_mode, deadline, shortcuts, True)
        except _NeedsValues as exc:
            if fake_mode is not None:
                raise NeedsRealValues(f"{type(model).__name__}'s shapes depend on tensor values ({exc.__cause__})") from exc
            real = True
            try:  # the parameters shared, read only: a copy of a large model's weights costs seconds
                calls, rows, by_storage, layer_params = _run(model, spec, dtype, fake=False, share=True)
            except WritesShared:  # the forward writes a parameter: on a private copy of everything
                calls, rows, by_storage, layer_params = _run(model, spec, dtype, fake=False)
    return AtenWalk(calls, rows, by_storage, layer_params, real, spec)
