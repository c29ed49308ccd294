"""The results of the proofs, free of sympy so that every command can render them without loading it:
a checked claim, a theorem with its steps, a layer checked against its bound, and a verification."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from costmodel.report import Printable

Verdict = Literal["proved", "refuted", "unknown"]


@dataclass(repr=False)
class ClaimResult(Printable):
    """A checked claim: its text, the substitutions, the verdict, a counterexample (symbol → value, with
    both sides evaluated under ``sides``) and the steps."""

    claim: str
    where: dict[str, str]
    verdict: Verdict
    counterexample: dict[str, int] | None = None
    sides: dict[str, str] | None = None
    steps: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<ClaimResult {self.claim!r}: {self.verdict}>"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: claim, where, verdict, counterexample (or null), steps (the evaluated sides
        of a counterexample are the last step)."""
        data = asdict(self)
        del data["sides"]
        return data


@dataclass
class Theorem:
    """A proved (or failed) statement, with the chain of steps that sympy checked.

    ``statement`` is rendered from the very expressions that are proved; ``note`` is commentary that
    the proof does not cover (and says so)."""

    name: str
    statement: str
    assumptions: list[str]
    steps: list[str] = field(default_factory=list)
    proved: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: name, statement, assumptions, steps, proved, note."""
        return asdict(self)


@dataclass(frozen=True)
class LayerCheck:
    """One conv/linear row checked numerically against its proved bound."""

    name: str
    op: str
    mac: int
    mac_lower_bound: float
    mac_efficiency: float
    holds: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON row: name, mac, mac_lower_bound, mac_efficiency, holds (plus op)."""
        return asdict(self)


@dataclass(repr=False)
class Verification(Printable):
    """The theorems and, with a model, its conv/linear rows against their bounds (furthest first) and the
    ops no rule could cost ('row (op)')."""

    theorems: list[Theorem]
    checks: list[LayerCheck] | None = None
    uncounted: list[str] = field(default_factory=list)
    #: with symbolic inputs: every conv/linear row checked for all sizes of the domain (``all_sizes``)
    all_sizes: list[Any] | None = None
    domain: list[str] = field(default_factory=list)
    inputs: str = ""

    def __repr__(self) -> str:
        proved = sum(t.proved for t in self.theorems)
        rows = "" if self.checks is None else f" · {sum(c.holds for c in self.checks)}/{len(self.checks)} rows on or above bound"
        if self.all_sizes is not None:
            rows += f" · {sum(c.holds for c in self.all_sizes)}/{len(self.all_sizes)} rows proved for all sizes"
        return f"<Verification {proved}/{len(self.theorems)} theorems proved{rows}>"

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """{"theorems": [...], "layers": [...], "uncounted": [...]} (layers and uncounted only with a model;
        the first ``top`` layers when given)."""
        data: dict[str, Any] = {"theorems": [t.to_dict() for t in self.theorems]}
        if self.checks is not None:
            data["layers"] = [c.to_dict() for c in (self.checks if top is None else self.checks[:top])]
            data["uncounted"] = list(self.uncounted)
        if self.all_sizes is not None:
            data["inputs"] = self.inputs
            data["domain"] = list(self.domain)
            data["layers_all_sizes"] = [c.to_dict() for c in (self.all_sizes if top is None else self.all_sizes[:top])]
            data["uncounted"] = list(self.uncounted)
        return data
