"""``formula``: one trace with symbolic input sizes (torch's ShapeEnv under FakeTensorMode), every op costed
by the same rule table over those sizes — the model's cost as exact expressions, with the conditions
(torch's guards) under which they hold."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from costmodel.analyze import MacUnit, aten_row_names, check_mac_unit, first_reads, op_name, owner_of, params_by_node, row_names
from costmodel.errors import CostModelError, ShapeMismatch, UncountedOpsError
from costmodel.report import UncountedOp
from costmodel.rules.costing import cost_calls
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.symbolic.domain import domain_of
from costmodel.symbolic.expressions import NotPlainExpression
from costmodel.symbolic.result import Formula
from costmodel.symbolic.rows import OpFormula, RowFormula, ShapeFormula
from costmodel.symbolic.symbols import SizeSymbols, SymbolicInputError, conv_layout_unguarded, symbolic_inputs, user_text
from costmodel.trace.aten_walk import AtenWalk, aten_walk
from costmodel.trace.fx_trace import TracedModel, trace_model
from costmodel.trace.guards import gc_paused
from costmodel.trace.leaf_calls import WalkRow
from costmodel.trace.model_errors import OutOfTime, check_dtype, check_model
from costmodel.trace.pending import tensors_in


def formula(
    model: nn.Module,
    inputs: Any,
    dtype: torch.dtype = torch.float32,
    *,
    hints: dict[str, int] | None = None,
    name: str | None = None,
    mac_unit: MacUnit = "elements",
    fallback: bool | None = None,
    time_limit: float | None = 30.0,
) -> Formula:
    """The cost of ``model`` as exact expressions of its input sizes (see ``Formula``).

    ``inputs``: as ``analyze`` takes them, with names in place of sizes: ``(1, 3, "H", "W")``,
    ``{"input_ids": (("B", "L"), torch.int64)}``. ``hints``: the size each name takes while tracing (every
    shape-dependent branch is decided there and recorded as a condition of the domain); defaults: 2 for
    a batch dimension, 224 for an image side, 128 for a token count, 64 otherwise. The walk is
    ``analyze``'s (fx, else the aten walk; ``fallback`` as there), so rows correspond one to one.
    Where an op or the model's code cannot run on symbolic sizes at all, every size is specialised to its
    hint (the domain says so, and a note names the cause); so is a symbolic trace still running after
    ``time_limit`` seconds (window attention's padded, partitioned sizes can grow past what sympy
    simplifies quickly). Raises ShapeMismatch / TraceFailure as ``analyze`` does at the hints.
    """
    check_model(model)
    check_dtype(dtype)
    check_mac_unit(mac_unit)
    model_name = name or type(model).__name__
    with gc_paused():
        deadline = None if time_limit is None else time.monotonic() + time_limit
        try:
            return _derive(model, inputs, dtype, hints, model_name, mac_unit, fallback, False, deadline)
        except CostModelError as exc:
            if isinstance(exc, (UncountedOpsError, SymbolicInputError)):
                raise
            symbolic_failure: Exception = exc
            if isinstance(exc, OutOfTime):
                symbolic_failure = CostModelError(f"the symbolic trace was still running after {time_limit:g} s")
        except Exception as exc:  # noqa: BLE001  # torch's symbolic machinery failed: fixed sizes, with the cause
            symbolic_failure = CostModelError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        try:
            result = _derive(model, inputs, dtype, hints, model_name, mac_unit, fallback, True, None)
        except CostModelError:
            raise symbolic_failure from None  # fails at the hints too: the model's own error
        result.specialise_all(f"symbolic sizes do not run through the model ({symbolic_failure})")
        return result


def _derive(
    model: nn.Module,
    inputs: Any,
    dtype: torch.dtype,
    hints: dict[str, int] | None,
    model_name: str,
    mac_unit: MacUnit,
    fallback: bool | None,
    specialise: bool,
    deadline: float | None,
) -> Formula:
    """One derivation through ``analyze``'s walks (fx first, the aten walk where fx fails)."""
    if fallback is True:
        return _aten_formula(model, inputs, dtype, hints, model_name, mac_unit, [], specialise, deadline)
    spec, symbols = symbolic_inputs(inputs, hints, specialise)
    try:
        with conv_layout_unguarded():
            traced = trace_model(model, spec, dtype, name=model_name, fake_mode=symbols.mode, deadline=deadline)
        rows, uncounted, total_params = _fx_rows(traced, symbols, deadline)
    except CostModelError as exc:
        if fallback is False or isinstance(exc, (UncountedOpsError, SymbolicCostingError, OutOfTime)):
            raise _named(exc, symbols) from exc
        try:
            notes = [_fx_failed(exc, symbols)]
            return _aten_formula(model, inputs, dtype, hints, model_name, mac_unit, notes, specialise, deadline)
        except ShapeMismatch:
            if isinstance(exc, ShapeMismatch):
                raise _named(exc, symbols) from None
            raise
    return Formula.build(model_name, spec, dtype, symbols, rows, uncounted, total_params, mac_unit, "fx", [], domain_of(symbols))


def _fx_failed(exc: Exception, symbols: SizeSymbols) -> str:
    return f"fx path failed ({user_text(str(exc), symbols)}); costed by the aten-level walk instead"


def _named(exc: CostModelError, symbols: SizeSymbols) -> CostModelError:
    """The same error with ShapeEnv symbol names replaced by the user's."""
    return type(exc)(user_text(str(exc), symbols))


def _fx_rows(
    traced: TracedModel, symbols: SizeSymbols, deadline: float | None = None
) -> tuple[list[RowFormula], list[UncountedOp], int]:
    """One RowFormula per call node, as ``analyze.cost_traced`` makes its rows (OutOfTime past ``deadline``)."""
    names = row_names(traced)
    node_params, model_params = params_by_node(traced)
    modules = dict(traced.root.named_modules(remove_duplicate=False))
    seen: set[int] = set()
    shapes: dict[str, list[ShapeFormula]] = {}
    rows: list[RowFormula] = []
    uncounted: list[UncountedOp] = []
    costed_outcomes: dict[int, list[OpFormula]] = {}

    def described(node: Any) -> list[ShapeFormula]:
        if node.name not in shapes:
            # shapes only: a row's contiguity is its ops' business (read from their recorded calls)
            shapes[node.name] = [
                ShapeFormula.of(TensorMeta(tuple(t.shape), t.dtype), symbols) for t in tensors_in(node.meta.get("val"))
            ]
        return shapes[node.name]

    for node in traced.call_nodes():
        if deadline is not None and time.monotonic() > deadline:
            raise OutOfTime("costing the symbolic trace passed its time limit")
        module = modules[str(node.target)] if node.op == "call_module" else None
        outputs = described(node)
        inputs = [s for arg in node.all_input_nodes for s in described(arg)]
        outcome = traced.node_outcomes.get(node.name)  # a replayed node: the same ops, the same formulas
        ops = costed_outcomes.get(id(outcome)) if outcome is not None else None
        if ops is None:
            ops = _op_formulas(traced.node_calls.get(node.name, []), symbols)
            if outcome is not None:
                costed_outcomes[id(outcome)] = ops
        row = RowFormula(
            names[node.name],
            op_name(node, module),
            owner_of(node),
            inputs,
            outputs,
            ops,
            first_reads(node_params.get(node.name, []), seen),
            bool(outputs),
            module is not None,
            node.name,
        )
        uncounted.extend(UncountedOp(row.name, op) for op in row.uncounted)
        rows.append(row)
    return rows, uncounted, model_params


class SymbolicCostingError(CostModelError):
    """A cost rule could not take symbolic sizes (the derivation falls back to fixed sizes, with a note)."""


def _op_formulas(calls: list[Any], symbols: SizeSymbols) -> list[OpFormula]:
    """The ops of one row as formulas; a rule that fails on symbolic sizes is named in a one-line error."""
    try:
        return [OpFormula.of(c, symbols) for c in cost_calls(calls)]
    except NotPlainExpression as exc:
        raise SymbolicCostingError(f"a cost rule gave an expression with no plain form: {exc}") from exc
    except CostModelError:
        raise
    except Exception as exc:  # noqa: BLE001  # any rule, a user's own included, may not take a SymInt
        ops = ", ".join(sorted({c.short for c in calls}))
        raise SymbolicCostingError(f"the cost rule of {ops} cannot take symbolic sizes ({type(exc).__name__}: {exc})") from exc


def _fails(call: Any) -> bool:
    """Whether costing ``call`` alone raises."""
    try:
        cost_calls([call])
    except Exception:  # noqa: BLE001
        return True
    return False


def _full_slice(row: WalkRow, walk: AtenWalk) -> bool:
    """An op row that slices its whole input (start 0, step 1, same shape): eager indexing skips it when
    the sizes are numbers, and records it only because a symbolic bound cannot be compared; left out so
    that rows match ``analyze`` one to one."""
    if row.layer is not None:
        return False
    call = walk.calls[row.start]
    if call.op != "aten::slice" or len(call.inputs) != 1 or not call.outputs:
        return False
    start, step = call.arg(2, "start", 0), call.arg(4, "step", 1)
    return (start in (0, None)) and step == 1 and tuple(map(str, call.inputs[0].shape)) == tuple(map(str, call.output.shape))


def _aten_formula(
    model: nn.Module,
    inputs: Any,
    dtype: torch.dtype,
    hints: dict[str, int] | None,
    model_name: str,
    mac_unit: MacUnit,
    notes: list[str],
    specialise: bool,
    deadline: float | None = None,
) -> Formula:
    """The formula from the aten-level walk (a fresh ShapeEnv): one row per op, as ``cost_aten_walk``."""
    spec, symbols = symbolic_inputs(inputs, hints, specialise)
    try:
        with conv_layout_unguarded():
            walk = aten_walk(model, spec, dtype, fake_mode=symbols.mode, deadline=deadline)
    except CostModelError as exc:
        raise _named(exc, symbols) from exc
    seen: set[int] = set()
    rows: list[RowFormula] = []
    uncounted: list[UncountedOp] = []
    try:
        costed_calls = cost_calls(walk.calls)
    except CostModelError:
        raise
    except Exception as exc:  # noqa: BLE001  # a rule that cannot take a SymInt: fixed sizes instead
        failing = next((c.short for c in walk.calls if _fails(c)), "an op")
        raise SymbolicCostingError(
            f"the cost rule of {failing} cannot take symbolic sizes ({type(exc).__name__}: {exc})"
        ) from exc
    kept = [(name, row) for name, row in zip(aten_row_names(walk, model), walk.rows) if not _full_slice(row, walk)]
    for index, (row_name, row) in enumerate(kept):
        costed = costed_calls[row.start : row.end]
        try:
            ops = [OpFormula.of(c, symbols) for c in costed]
        except NotPlainExpression as exc:
            raise SymbolicCostingError(f"a cost rule gave an expression with no plain form: {exc}") from exc
        # as cost_aten_walk: a layer's parameters are its own; an op's go to the first computing op reading them
        counted = row.layer is not None or any(c.cost is not None and c.family != "views" for c in costed)
        params = first_reads(walk.params_read(row), seen) if counted else 0
        row_formula = RowFormula(
            row_name,
            row.op,
            row.owner,
            [ShapeFormula.of(t, symbols) for t in row.inputs],
            [ShapeFormula.of(t, symbols) for t in row.outputs],
            ops,
            params,
            bool(row.outputs),
            row.layer is not None,
            f"op{index}",
        )
        uncounted.extend(UncountedOp(row_name, u) for u in row_formula.uncounted)
        rows.append(row_formula)
    notes = notes + ["aten-level walk: one forward on fake tensors; rows are torch.nn layers and the aten ops of other code"]
    model_params = sum(p.numel() for p in model.parameters())
    return Formula.build(
        model_name, spec, dtype, symbols, rows, uncounted, model_params, mac_unit, "aten", notes, domain_of(symbols)
    )
