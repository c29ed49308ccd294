"""``render``: any result in any format — the one entry point of the renderers. Each result type has one
view (a Document builder); ``table.print_document`` writes the document. Importing this module registers
the printers, so every result prints itself (``print(result)``, ``result.table(fmt, **options)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from costmodel.guidelines.compare import Comparison
from costmodel.guidelines.experiments import GuidelineTables, TableResult
from costmodel.guidelines.lint import LintResult
from costmodel.memory.result import MemoryReport
from costmodel.proofs.results import ClaimResult, Verification
from costmodel.render import result_views as views
from costmodel.render.memory_views import memory_document
from costmodel.render.report_view import report_document
from costmodel.render.sweep_views import sweep_document
from costmodel.render.table import FORMATS, Document, Format, print_document
from costmodel.report import Printable, Report, register_printer
from costmodel.runtime.bench import BenchReport, BenchSuite
from costmodel.sweeps.result import SweepResult

#: One view per result type.
VIEWS: dict[type, Callable[..., Document]] = {
    Report: report_document,
    BenchReport: views.bench_document,
    BenchSuite: views.bench_suite_document,
    LintResult: views.lint_document,
    Verification: views.verification_document,
    ClaimResult: views.claim_document,
    Comparison: views.comparison_document,
    SweepResult: sweep_document,
    MemoryReport: memory_document,
    GuidelineTables: views.guidelines_document,
    TableResult: lambda result, fmt="table", **options: views.guidelines_document(GuidelineTables([result]), fmt, **options),
}


#: Views of results whose modules load sympy: imported when such a result is rendered, so that
#: ``import costmodel`` stays free of sympy (keyed by the result type's module and name).
LAZY_VIEWS = {
    "costmodel.symbolic.result.Formula": "formula_document",
    "costmodel.symbolic.sweep.FormulaSweep": "sweep_document",
}


def document(result: Printable, fmt: Format = "table", **options: Any) -> Document:
    """The Document of ``result`` (options as its view takes them: ``group_by``, ``depth``, ``top``…)."""
    for kind in type(result).__mro__:
        if kind in VIEWS:
            return VIEWS[kind](result, fmt, **options)
        lazy = LAZY_VIEWS.get(f"{kind.__module__}.{kind.__qualname__}")
        if lazy is not None:
            from costmodel.render import formula_views

            view: Callable[..., Document] = getattr(formula_views, lazy)
            return view(result, fmt, **options)
    raise TypeError(f"costmodel cannot render a {type(result).__name__}")


def render(result: Printable, fmt: str = "table", *, exact: bool = False, **options: Any) -> str:
    """``result`` (Report, BenchReport, BenchSuite, LintResult, Verification, ClaimResult, Comparison,
    GuidelineTables) as a terminal table, Markdown, CSV or JSON. Tables write counts in human units
    (``10.5M``) unless ``exact``; CSV and JSON are always exact."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    chosen: Format = fmt  # type: ignore[assignment]
    return print_document(document(result, chosen, **options), chosen, exact)


for _kind in VIEWS:
    register_printer(_kind, render)
register_printer(Printable, render)  # any other result (the lazily viewed ones) prints through ``document``
