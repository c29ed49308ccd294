"""A row of a formula: the ops one layer ran, each costed by the rule table over symbolic sizes, kept as
exact expressions; evaluated at a size it becomes the very row ``analyze`` reports there."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import sympy
import torch

from costmodel.analyze import layer_row
from costmodel.report import LayerCost
from costmodel.rules.base import RULES, AtenCall, OpCost
from costmodel.rules.closed_forms import RootBound
from costmodel.rules.costing import CostedCall, NodeCost, sum_costs
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.symbolic.expressions import as_expr, evaluate
from costmodel.symbolic.symbols import SizeSymbols

Values = dict[sympy.Symbol, int]


@dataclass(frozen=True)
class CostFormula:
    """An ``OpCost`` with every number an exact sympy expression of the sizes (the bound: None, a number,
    or a ``RootBound``)."""

    flops: Any
    mac: Any
    mac_lower_bound: Any
    kind: str | None
    mac_unfused: Any

    @classmethod
    def of(cls, cost: OpCost, symbols: SizeSymbols) -> CostFormula:
        """The cost a rule computed on symbolic shapes, in plain sympy over the user's symbols."""
        bound = cost.mac_lower_bound
        if isinstance(bound, RootBound):
            bound = RootBound(as_expr(bound.radicand, symbols), as_expr(bound.weight, symbols))
        elif bound is not None:
            bound = as_expr(bound, symbols)
        unfused = None if cost.mac_unfused is None else as_expr(cost.mac_unfused, symbols)
        return cls(as_expr(cost.flops, symbols), as_expr(cost.mac, symbols), bound, cost.kind, unfused)

    def at(self, values: Values) -> OpCost:
        """The OpCost at these sizes, exactly as the rule computes it there."""
        bound = self.mac_lower_bound
        if isinstance(bound, RootBound):
            bound = bound.at(values)
        elif bound is not None:
            bound = float(bound.xreplace(values))
        unfused = None if self.mac_unfused is None else evaluate(self.mac_unfused, values)
        return OpCost(evaluate(self.flops, values), evaluate(self.mac, values), bound, self.kind, unfused)

    def bound_expr(self) -> Any:
        """The bound as one expression (None without one)."""
        bound = self.mac_lower_bound
        return bound.expr() if isinstance(bound, RootBound) else bound


@dataclass(frozen=True)
class OpFormula:
    """One recorded op of a row: the call (for its name and arity), its family, its cost formula (None:
    no rule knows it), the reason it is free, and a bias add's own kernel work (``CostedCall.real``)."""

    call: AtenCall
    family: str
    cost: CostFormula | None
    reason: str | None
    real: CostFormula | None

    @classmethod
    def of(cls, costed: CostedCall, symbols: SizeSymbols) -> OpFormula:
        """The formula of one costed op (a bound the rule gave as a float, on sizes that are all numbers,
        is taken again in its exact two-part form, so that it can be certified)."""
        cost = None if costed.cost is None else CostFormula.of(costed.cost, symbols)
        if cost is not None and isinstance(cost.mac_lower_bound, sympy.Float):
            exact = _exact_bound(costed.call)
            if exact is not None:
                cost = CostFormula(cost.flops, cost.mac, exact, cost.kind, cost.mac_unfused)
        real = None if costed.real is None else CostFormula.of(costed.real, symbols)
        return cls(costed.call, costed.family, cost, costed.reason, real)

    def at(self, values: Values) -> CostedCall:
        """The costed op at these sizes."""
        cost = None if self.cost is None else self.cost.at(values)
        real = None if self.real is None else self.real.at(values)
        return CostedCall(self.call, self.family, cost, self.reason, real)


def _exact_bound(call: AtenCall) -> RootBound | None:
    """The rule's bound of ``call`` as a RootBound: the rule run again with every size a sympy Integer
    (the closed forms then keep 2·√radicand + weight in two exact parts); None if it gives no such bound."""

    def exact(value: Any) -> Any:
        if isinstance(value, TensorMeta):
            return TensorMeta(tuple(sympy.Integer(s) for s in value.shape), value.dtype, value.contiguous)
        if isinstance(value, (tuple, list)):
            return type(value)(exact(v) for v in value)
        if isinstance(value, dict):
            return {k: exact(v) for k, v in value.items()}
        return value

    entry = RULES.for_op(call.op) if call.module is None else None
    if entry is None:
        return None
    again = replace(
        call, args=exact(call.args), kwargs=exact(call.kwargs), inputs=exact(call.inputs), outputs=exact(call.outputs)
    )
    try:
        bound = entry.rule(again).mac_lower_bound
    except (TypeError, ValueError):
        return None
    return bound if isinstance(bound, RootBound) else None


@dataclass(frozen=True)
class ShapeFormula:
    """A tensor's shape as expressions, its dtype and contiguity (decided at the hints)."""

    shape: tuple[Any, ...]
    dtype: torch.dtype
    contiguous: bool

    @classmethod
    def of(cls, meta: TensorMeta, symbols: SizeSymbols) -> ShapeFormula:
        """The shape of a tensor the trace described."""
        return cls(tuple(as_expr(s, symbols) for s in meta.shape), meta.dtype, meta.contiguous)

    def at(self, values: Values) -> TensorMeta:
        """The TensorMeta at these sizes."""
        return TensorMeta(tuple(evaluate(s, values) for s in self.shape), self.dtype, self.contiguous)

    @property
    def numel(self) -> Any:
        """Elements, as an expression."""
        return sympy.Mul(*self.shape) if self.shape else sympy.Integer(1)


@dataclass
class RowFormula:
    """One report row as formulas: name and labels as ``analyze`` gives them, the ops it ran, its inputs
    and outputs, and the parameters it reads first (a number: parameters do not depend on input sizes).
    Its sums (FLOPs, MAC, output elements, the MAC bound) are worked out once, on first use."""

    name: str
    op: str
    module: str | None
    inputs: list[ShapeFormula]
    outputs: list[ShapeFormula]
    ops: list[OpFormula]
    params: int
    output_is_tensor: bool
    module_call: bool = False
    node: str = ""

    @functools.cached_property
    def plain(self) -> dict[str, Any]:
        """'flops', 'mac' and 'activations' as plain sums of the ops' expressions: equal to ``flops``,
        ``mac`` and ``output_elements`` at every size, without factoring them for reading (what an
        evaluation over many sizes needs)."""
        costs = [o.cost for o in self.ops if o.cost is not None]
        return {
            "flops": sympy.Add(*[c.flops for c in costs]),
            "mac": sympy.Add(*[c.mac for c in costs]),
            "activations": self.outputs[0].numel if self.outputs else sympy.Integer(0),
        }

    @functools.cached_property
    def flops(self) -> Any:
        """FLOPs (multiply-adds) of the row: the sum of its ops'."""
        return sympy.Add(*[sympy.factor_terms(o.cost.flops) for o in self.ops if o.cost is not None])

    @functools.cached_property
    def mac(self) -> Any:
        """MAC in elements: the sum of its ops'."""
        return sympy.Add(*[sympy.factor_terms(o.cost.mac) for o in self.ops if o.cost is not None])

    @functools.cached_property
    def output_elements(self) -> Any:
        """Elements of the row's first output (what ``output_shape`` describes); 0 without one."""
        return sympy.factor_terms(self.outputs[0].numel) if self.outputs else sympy.Integer(0)

    @functools.cached_property
    def mac_lower_bound(self) -> Any:
        """The row's proved MAC bound (elements) as an expression: the sum of its ops' bounds when every
        op that moves data has one, else None (as ``costing.sum_costs``)."""
        total: Any = sympy.Integer(0)
        for op in self.ops:
            if op.cost is None:
                return None
            bound = op.cost.bound_expr()
            if bound is None:
                if op.cost.mac != 0:
                    return None
                continue
            total += bound
        return None if total == 0 else total

    @property
    def uncounted(self) -> list[str]:
        """Names of the ops no rule knows."""
        return [o.call.short for o in self.ops if o.cost is None]

    def node_cost(self, values: Values) -> NodeCost:
        """The row's NodeCost at these sizes (``sum_costs`` of its ops there)."""
        return sum_costs([o.at(values) for o in self.ops], self.output_is_tensor)

    def at(self, values: Values, scale: int) -> LayerCost:
        """The report row at these sizes, built as ``analyze`` builds it."""
        inputs = [s.at(values) for s in self.inputs]
        outputs = [s.at(values) for s in self.outputs]
        return layer_row(
            self.name,
            self.op,
            self.module,
            inputs,
            outputs,
            self.node_cost(values),
            self.params,
            scale,
            self.module_call,
            self.node,
        )
