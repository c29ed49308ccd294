"""A finished sweep: every candidate's row, in grid order, with the Pareto front over the objectives."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from costmodel.report import Printable, conventions
from costmodel.sweeps.evaluate import SweepRow
from costmodel.sweeps.pareto import pareto_front
from costmodel.sweeps.space import SpaceError

#: What each objective reads from a row. An objective is minimised; written ``max:NAME`` it is maximised
#: (``max:flops``: FLOPs as capacity, the front then holds the least MAC or latency for the compute).
OBJECTIVES = {"flops": "flops", "mac": "mac", "params": "params", "latency": "predicted_ms"}


def objective_name(objective: str) -> str:
    """The figure an objective reads: ``max:flops`` → ``flops``."""
    return objective.removeprefix("max:")


def check_objectives(objectives: Sequence[str]) -> tuple[str, ...]:
    """The objectives, validated: known names (optionally ``max:``), none twice, at least one."""
    unknown = [o for o in objectives if objective_name(o) not in OBJECTIVES]
    if unknown:
        raise SpaceError(f"unknown objective '{unknown[0]}': choose from {', '.join(OBJECTIVES)} (max:NAME to maximise)")
    names = [objective_name(o) for o in objectives]
    if not objectives or len(set(names)) != len(names):
        raise SpaceError("give one or more distinct objectives")
    return tuple(objectives)


def objective_values(row: SweepRow, objectives: Sequence[str]) -> tuple[float, ...] | None:
    """The row's objective values, negated where maximised (so that all are minimised), or None when it
    cannot compete: failed, incomplete (an uncounted op makes its totals a lower bound) or missing a
    value (no predicted latency)."""
    if not row.ok or row.uncounted:
        return None
    values = [getattr(row, OBJECTIVES[objective_name(o)]) for o in objectives]
    if any(v is None for v in values):
        return None
    return tuple(-float(v) if o.startswith("max:") else float(v) for o, v in zip(objectives, values))


def mark_front(rows: Sequence[SweepRow], objectives: Sequence[str]) -> None:
    """Set ``front`` on every row: True for the non-dominated rows among those that can compete."""
    competing = [(r, v) for r in rows if (v := objective_values(r, objectives)) is not None]
    flags = pareto_front([v for _, v in competing])
    for row in rows:
        row.front = False
    for (row, _), flag in zip(competing, flags):
        row.front = flag


@dataclass(repr=False)
class SweepResult(Printable):
    """Rows of a sweep in grid order (iterable like its rows); ``names`` the axes, ``objectives`` those
    the front minimises, ``resumed`` how many rows came from an earlier run's stream."""

    builder: str
    names: tuple[str, ...]
    inputs: str
    dtype: str
    objectives: tuple[str, ...]
    rows: list[SweepRow]
    resumed: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rows.sort(key=lambda r: r.index)
        mark_front(self.rows, self.objectives)

    def __iter__(self) -> Iterator[SweepRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        counts = f"{len(self.rows)} candidates, {len(self.front)} on the front, {len(self.failed)} failed"
        return f"<SweepResult {self.builder}: {counts}>"

    @property
    def front(self) -> list[SweepRow]:
        """The Pareto-optimal candidates, by the first objective."""
        rows = [r for r in self.rows if r.front]
        return sorted(rows, key=lambda r: objective_values(r, self.objectives) or ())

    @property
    def failed(self) -> list[SweepRow]:
        """Candidates that could not be built or costed."""
        return [r for r in self.rows if not r.ok]

    def to_dict(self) -> dict[str, Any]:
        """{"builder", "axes", "inputs", "dtype", "objectives", "conventions", "candidates": [row…],
        "front": [index…], "failed", "resumed", "notes"}."""
        return {
            "builder": self.builder,
            "axes": list(self.names),
            "inputs": self.inputs,
            "dtype": self.dtype,
            "objectives": list(self.objectives),
            "conventions": {**conventions("multiply-adds", "elements"), "predicted_ms": "calibrated roofline, eager"},
            "candidates": [r.to_dict() for r in self.rows],
            "front": [r.index for r in self.front],
            "failed": len(self.failed),
            "resumed": self.resumed,
            "notes": list(self.notes),
        }
