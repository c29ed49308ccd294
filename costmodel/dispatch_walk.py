"""The aten-level walk: cost one forward op by op, for models torch.fx cannot trace.

The model's forward runs once on a copy (``fake.copy_model``) under the same op recorder as the fx
path, so every op is costed by the same rule table and the two walks agree wherever both run. It runs
on fake tensors first (no real compute) and on real tensors (a private copy of the model) only when
an op needs values (``.item()``, ``nonzero``). Rows are aten ops named after the module that issued
them (``layer1.0.conv1.convolution``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from costmodel.analyze import _finish, check_mac_unit, layer_row
from costmodel.costing import cost_calls, sum_costs
from costmodel.errors import ShapeMismatch
from costmodel.fake import (
    dispatch_as_eager,
    fake_errors_unlogged,
    fake_tensor_map,
    new_fake_mode,
    process_state_preserved,
    real_tensor_map,
    recording,
    storage_key,
    to_call,
)
from costmodel.inputs import ModelInputs, empty_tensor, materialise, normalise_inputs
from costmodel.model_copy import copy_model
from costmodel.model_errors import model_error, needs_values
from costmodel.report import LayerCost, Report, UncountedOp
from costmodel.rules.base import RULES, AtenCall


class _NeedsValues(Exception):
    """An op of the fake run needed tensor values: run again on real tensors."""


def _run(
    model: nn.Module, spec: ModelInputs, dtype: torch.dtype, fake: bool
) -> tuple[list[AtenCall], list[str | None], dict[int, nn.Parameter]]:
    """One forward of a copy of ``model``; returns the recorded ops, their owning module names, and
    the copy's parameters keyed by storage (to attribute parameters to the op that reads them)."""
    mode = new_fake_mode() if fake else None
    tensor_map = fake_tensor_map(mode, dtype) if mode is not None else real_tensor_map(dtype)
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
    with recording(mode) as recorder:

        def enter(module: nn.Module, args: Any, kwargs: Any) -> None:
            stack.append(names.get(id(module), ""))
            recorder.owner = stack[-1] or None
            if RULES.for_module(module) is not None:
                recorder.muted += 1

        def leave(module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
            if RULES.for_module(module) is not None:
                recorder.muted -= 1
                if not recorder.muted:
                    recorder.add(to_call(type(module).__name__, args, kwargs, out, module))
            stack.pop()
            recorder.owner = stack[-1] if stack and stack[-1] else None

        for module in copied.modules():
            module.register_forward_pre_hook(enter, with_kwargs=True)
            module.register_forward_hook(leave, with_kwargs=True)
        try:
            copied(*args, **kwargs)
        except Exception as exc:
            if needs_values(exc):
                raise _NeedsValues from exc
            where = (
                f"module '{stack[-1]}' ({type(copied.get_submodule(stack[-1])).__name__})"
                if stack and stack[-1]
                else type(model).__name__
            )
            raise model_error(exc, spec.describe(dtype), where) from exc
    return recorder.calls, recorder.owners, by_storage


def dispatch_walk(
    model: nn.Module,
    inputs: Any,
    dtype: torch.dtype = torch.float32,
    *,
    name: str = "the model",
    strict: bool = False,
    mac_unit: str = "elements",
) -> Report:
    """Cost one forward of ``model`` op by op at the aten level (see the module docstring).

    The same conventions and rules as ``analyze``: FLOPs are multiply-adds, MAC counts tensor elements
    read and written (0 for views), params are the parameters an op reads, counted once.
    """
    check_mac_unit(mac_unit)
    spec = normalise_inputs(inputs)
    real = False
    with process_state_preserved(), fake_errors_unlogged():
        try:
            calls, owners, by_storage = _run(model, spec, dtype, fake=True)
        except _NeedsValues:
            real = True
            try:
                calls, owners, by_storage = _run(model, spec, dtype, fake=False)
            except ShapeMismatch:
                raise
    scale = torch.empty((), dtype=dtype).element_size() if mac_unit == "bytes" else 1
    seen: set[int] = set()
    counts: dict[str, int] = {}
    layers: list[LayerCost] = []
    uncounted: list[UncountedOp] = []
    for costed, owner in zip(cost_calls(calls), owners):
        call = costed.call
        op = call.short
        base = f"{owner}.{op}" if owner else op
        counts[base] = counts.get(base, 0) + 1
        row_name = base if counts[base] == 1 else f"{base}_{counts[base] - 1}"
        cost = sum_costs([costed], bool(call.outputs))
        uncounted.extend(UncountedOp(row_name, u) for u in cost.uncounted)
        params = 0
        if cost.family != "views":  # a parameter belongs to the first computing op that reads it
            for p in _params_read(call, by_storage):
                if id(p) not in seen:
                    seen.add(id(p))
                    params += p.numel()
        layers.append(layer_row(row_name, op, owner, list(call.inputs), list(call.outputs), cost, params, scale))
    how = "one forward on real tensors (an op needed tensor values)" if real else "one forward on fake tensors"
    report = Report(
        model=name,
        input_shape=spec.first_shape,
        dtype=str(dtype).removeprefix("torch."),
        layers=layers,
        uncounted=uncounted,
        model_params=sum(p.numel() for p in model.parameters()),
        mac_unit=mac_unit,
        notes=[f"aten-level walk: {how}; rows are aten ops named by their module"],
        inputs=spec.describe(dtype),
        walk="aten",
    )
    return _finish(report, strict)


def _params_read(call: AtenCall, by_storage: dict[int, nn.Parameter]) -> list[nn.Parameter]:
    """The user's parameters among the tensors an op read (matched by storage, so through views)."""
    return [by_storage[k] for k in call.storages if k in by_storage]
