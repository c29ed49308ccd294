"""Budgets a user sets on a model's totals (``--max-flops``, ``--max-mac``, ``--max-params``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from costmodel.errors import CheckFailed
from costmodel.units import human


def check_budgets(model: str, totals: Mapping[str, int], limits: Mapping[str, int | None], mac_unit: str = "elements") -> None:
    """Raise CheckFailed naming every total above its limit (``limits``: flops/mac/params → count or None)."""
    labels = {"flops": "FLOPs (multiply-adds)", "mac": f"MAC (memory access, {mac_unit})", "params": "params"}
    over = [
        f"{labels[key]} {human(totals[key])} ({totals[key]:,}) > --max-{key} {human(limit)}"
        for key, limit in limits.items()
        if limit is not None and totals[key] > limit
    ]
    if over:
        raise CheckFailed(f"{model}: over budget: " + "; ".join(over))


def check_all_budgets(rows: Sequence[tuple[str, Mapping[str, int]]], limits: Mapping[str, int | None]) -> None:
    """``check_budgets`` over several models, one CheckFailed naming every model over a limit."""
    failures = []
    for model, totals in rows:
        try:
            check_budgets(model, totals, limits)
        except CheckFailed as exc:
            failures.append(str(exc))
    if failures:
        raise CheckFailed(" | ".join(failures))
