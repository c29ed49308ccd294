"""Every conv/linear row of a formula against its proved MAC bound at every size of the domain, by a
certificate over the row's own expressions: MAC − bound = (√a − √b)² + c, with a and b the numbers of
elements of a tensor the op reads and one it writes (a·b = the bound's radicand, checked as a polynomial
identity), and c what is left — a sum of other tensors' elements and a non-negative constant. Tensor
sizes are never negative, so the row is on or above its bound wherever the formula holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sympy

from costmodel.proofs.results import Verification
from costmodel.rules.closed_forms import RootBound
from costmodel.symbolic.printing import expr_text
from costmodel.symbolic.result import Formula
from costmodel.symbolic.rows import OpFormula, RowFormula, ShapeFormula
from costmodel.symbolic.symbols import SizeSymbols


@dataclass(frozen=True)
class SizeCheck:
    """One row's bound over all sizes: 'proved' with its certificate, or 'unknown' with the reason."""

    name: str
    op: str
    mac: str
    mac_lower_bound: str
    verdict: str
    certificate: str

    @property
    def holds(self) -> bool:
        """Whether the bound is proved for every size of the domain."""
        return self.verdict == "proved"

    def to_dict(self) -> dict[str, Any]:
        """The JSON row."""
        return asdict(self)


def _numel(meta: Any, symbols: SizeSymbols) -> Any:
    return ShapeFormula.of(meta, symbols).numel


def _certificate(op: OpFormula, bound: RootBound, symbols: SizeSymbols) -> str | None:
    """'(√a − √b)² + c' for one op, or None when no pair of its tensors makes one."""
    assert op.cost is not None
    reads = [_numel(m, symbols) for m in op.call.inputs]
    writes = [_numel(m, symbols) for m in op.call.outputs]
    radicand = sympy.expand(bound.radicand)
    rest = sympy.expand(op.cost.mac - bound.weight)
    for i, a in enumerate(reads):
        for b in writes:
            if sympy.expand(a * b - radicand) != 0:
                continue
            left = sympy.expand(rest - sympy.expand(a) - sympy.expand(b))
            others = [r for j, r in enumerate(reads) if j != i]
            for extra in ([], others):  # what is left: a constant, or the other inputs' elements and a constant
                constant = sympy.expand(left - sympy.expand(sum(extra)))
                if constant.is_number and constant >= 0:
                    square = f"(√({expr_text(sympy.factor_terms(a))}) − √({expr_text(sympy.factor_terms(b))}))²"
                    terms = [square] + [expr_text(sympy.factor_terms(e)) for e in extra] + ([str(constant)] if constant else [])
                    return " + ".join(terms)
    return None


def check_row(formula: Formula, row: RowFormula) -> SizeCheck:
    """The certificate of one row (the sum of its ops'), or 'unknown' naming the op that has none."""
    pieces = []
    for op in row.ops:
        if op.cost is None:
            return _unknown(formula, row, f"{op.call.short} is uncounted")
        bound = op.cost.mac_lower_bound
        if bound is None:
            if op.cost.mac != 0:
                return _unknown(formula, row, f"{op.call.short} moves data and has no bound")
            continue
        if not isinstance(bound, RootBound):
            if sympy.expand(op.cost.mac - bound).is_number and sympy.expand(op.cost.mac - bound) >= 0:
                pieces.append(f"{op.call.short}: MAC − bound = {expr_text(sympy.expand(op.cost.mac - bound))}")
                continue
            return _unknown(formula, row, f"{op.call.short}'s bound is not of the proved form")
        certificate = _certificate(op, bound, formula.size_symbols) if formula.size_symbols is not None else None
        if certificate is None:
            return _unknown(formula, row, f"no certificate for {op.call.short}")
        pieces.append(f"{op.call.short}: MAC − bound = {certificate}")
    bound_expr = formula.row_value(row, "mac_lower_bound")
    return SizeCheck(
        row.name, row.op, expr_text(formula.row_value(row, "mac")), expr_text(bound_expr), "proved", "; ".join(pieces)
    )


def _unknown(formula: Formula, row: RowFormula, why: str) -> SizeCheck:
    bound = formula.row_value(row, "mac_lower_bound")
    return SizeCheck(row.name, row.op, expr_text(formula.row_value(row, "mac")), expr_text(bound), "unknown", why)


def check_all_sizes(formula: Formula, families: tuple[str, ...] = ("conv", "linear")) -> list[SizeCheck]:
    """Every conv/linear row with a proved bound, checked for all sizes of ``formula``'s domain."""
    return [
        check_row(formula, row) for row in formula.rows if formula.family(row) in families and row.mac_lower_bound is not None
    ]


def verification_over_sizes(formula: Formula) -> Verification:
    """The theorems and every conv/linear row of ``formula`` checked for all sizes of its domain."""
    from costmodel.proofs.verify import all_theorems

    return Verification(
        all_theorems(),
        None,
        [f"{u.name} ({u.op})" for u in formula.uncounted],
        check_all_sizes(formula),
        [expr_text(c.expr) for c in formula.domain.conditions],
        formula.inputs,
    )
