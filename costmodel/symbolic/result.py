"""``Formula``: a model's cost as exact expressions of its input sizes — per row and in total — with the
domain they hold on; ``at(H=224)`` is the report ``analyze`` gives at that size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy
import torch

from costmodel.analyze import finish_report
from costmodel.errors import CostModelError
from costmodel.inputs import ModelInputs, TensorSpec
from costmodel.report import Printable, Report, UncountedOp
from costmodel.symbolic.domain import Condition, Domain
from costmodel.symbolic.expressions import NotPlainExpression, SizeValues, as_expr, compact, evaluate, integer_function
from costmodel.symbolic.growth import Growth, NotPolynomial, growth
from costmodel.symbolic.printing import expr_text
from costmodel.symbolic.rows import RowFormula
from costmodel.symbolic.symbols import SizeSymbols, user_text
from costmodel.trace.guards import gc_paused

#: The totals a formula states, in the order tables show them.
METRICS = ("flops", "mac", "params", "activations")


@dataclass
class Formula(Printable):
    """Per-row and total FLOPs (multiply-adds), MAC (elements, or bytes with ``mac_unit="bytes"``),
    params and output elements as sympy expressions of the named input sizes; ``domain`` the conditions
    under which they equal ``analyze`` exactly; ``hints`` the sizes the trace decided branches at."""

    model: str
    inputs: str
    dtype: str
    symbols: dict[str, sympy.Symbol]
    hints: dict[str, int]
    rows: list[RowFormula]
    uncounted: list[UncountedOp]
    model_params: int
    mac_unit: str
    walk: str
    domain: Domain
    notes: list[str] = field(default_factory=list)
    spec: ModelInputs | None = field(default=None, repr=False)
    torch_dtype: torch.dtype = field(default=torch.float32, repr=False)
    _families: dict[str, str] = field(default_factory=dict, repr=False)
    #: the ShapeEnv's symbols of the derivation (the recorded ops' sizes are in its terms)
    size_symbols: SizeSymbols | None = field(default=None, repr=False)
    #: (symbols, expressions, their compiled function): set by the first ``at``, speeding every later one
    _compiled: tuple[list[Any], list[Any], Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        model: str,
        spec: ModelInputs,
        dtype: torch.dtype,
        symbols: SizeSymbols,
        rows: list[RowFormula],
        uncounted: list[UncountedOp],
        model_params: int,
        mac_unit: str,
        walk: str,
        notes: list[str],
        domain: Domain,
    ) -> Formula:
        """The result of one derivation; the inputs described with the user's names (``1x3xHxW``)."""
        user_spec = ModelInputs(
            tuple(_user_spec(a, symbols) for a in spec.args), {k: _user_spec(v, symbols) for k, v in spec.kwargs.items()}
        )
        notes = list(notes)
        if domain.specialised:
            fixed = ", ".join(f"{k} = {v}" for k, v in domain.specialised.items())
            notes.append(
                f"specialised: the trace fixed {fixed} (the model's code, or an op it calls, needs these sizes as"
                " numbers); the formula holds there only"
            )
        return cls(
            model=model,
            inputs=user_spec.describe(dtype),
            dtype=str(dtype).removeprefix("torch."),
            symbols=dict(symbols.names),
            hints=dict(symbols.hints),
            rows=rows,
            uncounted=uncounted,
            model_params=model_params,
            mac_unit=mac_unit,
            walk=walk,
            domain=domain,
            notes=notes,
            spec=user_spec,
            torch_dtype=dtype,
            size_symbols=symbols,
        )

    def specialise_all(self, why: str) -> None:
        """Mark every size as fixed at its hint (a formula derived at the hints because symbolic sizes
        could not run): the domain is those sizes, and a note says why."""
        fixed_at = [Condition(sympy.Eq(self.symbols[n], h), "specialised") for n, h in self.hints.items()]
        self.domain.conditions = fixed_at + [c for c in self.domain.conditions if c.origin == "guard"]
        for name, hint in self.hints.items():
            self.domain.specialised[name] = str(hint)
        fixed = ", ".join(f"{k} = {v}" for k, v in self.hints.items())
        self.notes.insert(0, f"specialised: {why}; the formula holds at {fixed} only")

    @property
    def scale(self) -> int:
        """MAC elements → the formula's MAC unit (the dtype's bytes for 'bytes')."""
        return self.torch_dtype.itemsize if self.mac_unit == "bytes" else 1

    def row_value(self, row: RowFormula, metric: str) -> Any:
        """One row's expression of ``metric`` ('flops', 'mac' in the MAC unit, 'params', 'activations',
        'mac_lower_bound')."""
        if metric == "flops":
            return row.flops
        if metric == "mac":
            return row.mac * self.scale
        if metric == "params":
            return sympy.Integer(row.params)
        if metric == "activations":
            return row.output_elements
        if metric == "mac_lower_bound":
            bound = row.mac_lower_bound
            return None if bound is None else bound * self.scale
        raise CostModelError(f"unknown metric {metric!r} (one of {', '.join(METRICS)}, mac_lower_bound)")

    def total(self, metric: str, gathered: bool = True) -> Any:
        """The model's total of ``metric``: the sum over rows (params: the model's parameter count read
        by counted rows, as the report's total), like terms gathered (``compact``) for reading, or as
        the plain sum (equal at every size; what an evaluation needs, without the gathering's cost)."""
        if gathered or metric not in ("flops", "mac", "activations"):
            total = sympy.Add(*[self.row_value(r, metric) for r in self.rows])
            return compact(total) if gathered else total
        scale = self.scale if metric == "mac" else 1
        return sympy.Add(*[r.plain[metric] for r in self.rows]) * scale

    def totals(self) -> dict[str, Any]:
        """Every total, by metric."""
        return {m: self.total(m) for m in METRICS}

    def family(self, row: RowFormula) -> str:
        """The row's op family (conv, linear, attention…) as ``analyze`` labels it at the hints."""
        if row.name not in self._families:
            self._families[row.name] = row.node_cost(self.hint_values()).family
        return self._families[row.name]

    def hint_values(self) -> dict[sympy.Symbol, int]:
        """Every symbol at its hint."""
        return {self.symbols[n]: h for n, h in self.hints.items()}

    def growth(self, metric: str) -> Growth:
        """Leading-order growth of the total ``metric`` and the rows that dominate it (``growth.growth``)."""
        rows = [(r.name, self.row_value(r, metric)) for r in self.rows]
        return growth(metric, self.total(metric), rows, list(self.symbols.values()))

    def growths(self) -> dict[str, Growth | None]:
        """The growth of FLOPs, MAC and activations (None where the total is not a polynomial of floors)."""
        out: dict[str, Growth | None] = {}
        for metric in ("flops", "mac", "activations"):
            try:
                out[metric] = self.growth(metric)
            except NotPolynomial:
                out[metric] = None
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON: every expression as a string ``sympy.sympify`` reads back (floor, ceiling, Mod, Min, Max,
        Piecewise), the domain, the growth of each total, per-row expressions."""
        layers = []
        for row in self.rows:
            bound = self.row_value(row, "mac_lower_bound")
            layers.append(
                {
                    "name": row.name,
                    "op": row.op,
                    "module": row.module,
                    "family": self.family(row),
                    "flops": expr_text(row.flops),
                    "mac": expr_text(self.row_value(row, "mac")),
                    "params": row.params,
                    "activations": expr_text(row.output_elements),
                    "mac_lower_bound": None if bound is None else expr_text(bound),
                    "output_shape": [expr_text(s) for s in row.outputs[0].shape] if row.outputs else [],
                }
            )
        growths = self.growths()
        return {
            "model": self.model,
            "inputs": self.inputs,
            "dtype": self.dtype,
            "symbols": list(self.symbols),
            "hints": dict(self.hints),
            "walk": self.walk,
            "conventions": {"flops": "multiply-adds", "mac": self.mac_unit, "activations": "elements of each row's output"},
            "domain": {
                "conditions": [{"condition": expr_text(c.expr), "origin": c.origin} for c in self.domain.conditions],
                "specialised": dict(self.domain.specialised),
            },
            "totals": {m: expr_text(self.total(m)) for m in METRICS},
            "growth": {m: None if g is None else g.to_dict() for m, g in growths.items()},
            "layers": layers,
            "uncounted": [{"name": u.name, "op": u.op} for u in self.uncounted],
            "notes": list(self.notes),
        }

    def values(self, sizes: dict[str, int] | None = None, **more: int) -> dict[sympy.Symbol, int]:
        """Sizes by name → by symbol, checked: every symbol given, each a positive integer, inside the domain."""
        given = dict(sizes or {}, **more)
        unknown = sorted(set(given) - set(self.symbols))
        if unknown:
            raise CostModelError(f"{', '.join(unknown)} is not a size of this formula (its sizes: {', '.join(self.symbols)})")
        missing = [n for n in self.symbols if n not in given and n not in self.domain.specialised]
        if missing:
            raise CostModelError(f"give a value for {', '.join(missing)} (e.g. {missing[0]}={self.hints[missing[0]]})")
        values: dict[sympy.Symbol, int] = {}
        for name, value in given.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise CostModelError(f"{name} must be a positive integer, not {value!r}")
            values[self.symbols[name]] = value
        for name, fixed in self.domain.specialised.items():
            if name not in given and sympy.sympify(fixed).is_Integer:
                values[self.symbols[name]] = int(sympy.sympify(fixed))
        self.domain.check(values)
        return values

    def evaluate(self, expr: Any, sizes: dict[str, int] | None = None, **more: int) -> int:
        """An expression of this formula at these sizes (checked against the domain)."""
        return evaluate(expr, self.values(sizes, **more))

    def at(self, sizes: dict[str, int] | None = None, **more: int) -> Report:
        """The report at these sizes: every row and total exactly what ``analyze`` gives at them (the
        same rules evaluated on the same ops); OutsideDomain names the condition a size breaks."""
        values = SizeValues(self.values(sizes, **more))  # each distinct expression substituted once
        compiled = self._compiled
        if compiled is not None and all(s in values for s in compiled[0]):  # every expression, one compiled call
            order, exprs, function = compiled
            values.known.update(zip(exprs, (int(v) for v in function(*(values[s] for s in order)))))
        with gc_paused():  # as analyze: many small objects, no cycles worth collecting meanwhile
            layers = [row.at(values, self.scale) for row in self.rows]
        if compiled is None:
            self._compile(list(values.known))
        spec = self._spec_at(values)
        report = Report(
            model=self.model,
            input_shape=list(spec.first_shape),
            dtype=self.dtype,
            layers=layers,
            uncounted=list(self.uncounted),
            model_params=self.model_params,
            mac_unit=self.mac_unit,
            notes=[n for n in self.notes if not n.startswith("specialised:")],
            inputs=spec.describe(self.torch_dtype),
            walk=self.walk,
        )
        return finish_report(report, False)

    def _compile(self, exprs: list[Any]) -> None:
        """After a first ``at``: the expressions it evaluated compiled into one exact integer function (kept
        only when every one is plain integer arithmetic; else ``at`` keeps substituting)."""
        exprs = [e for e in exprs if isinstance(e, sympy.Basic) and not e.is_Integer]
        if not exprs:  # every figure is a number: nothing to compile, nothing to substitute
            self._compiled = ([], [], lambda: ())
            return
        order = sorted(set().union(*(e.free_symbols for e in exprs)) if exprs else set(), key=str)
        try:
            self._compiled = (order, exprs, integer_function(exprs, order))
        except (NotPlainExpression, TypeError, ValueError):
            self._compiled = None

    def _spec_at(self, values: dict[sympy.Symbol, int]) -> ModelInputs:
        def at(value: Any) -> Any:
            if isinstance(value, TensorSpec):
                sizes = tuple(evaluate(self.symbols[s], values) if isinstance(s, str) else s for s in value.shape)
                return TensorSpec(sizes, value.dtype)
            return value

        spec = self.spec or ModelInputs((), {})
        return ModelInputs(tuple(at(a) for a in spec.args), {k: at(v) for k, v in spec.kwargs.items()})


def _user_spec(value: Any, symbols: SizeSymbols) -> Any:
    """A TensorSpec whose SymInt sizes are written as the user's names (strings)."""
    if not isinstance(value, TensorSpec):
        return value
    sizes: list[Any] = []
    for size in value.shape:
        expr = size if isinstance(size, int) else as_expr(size, symbols)
        sizes.append(int(expr) if isinstance(expr, int) or expr.is_Integer else user_text(str(size), symbols))
    return TensorSpec(tuple(sizes), value.dtype)
