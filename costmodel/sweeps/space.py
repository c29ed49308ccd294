"""The design space of a sweep: named axes of values, their grid (every combination, in order) and a
seeded random sample of it, and a stable key per candidate (for resuming)."""

from __future__ import annotations

import ast
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from costmodel.errors import CostModelError


class SpaceError(CostModelError):
    """A sweep that cannot be set up: an axis, a sample, an objective or an option (one line, naming it)."""


@dataclass(frozen=True)
class Axis:
    """One knob: its name (a keyword of the builder, or a size named in the inputs) and its values."""

    name: str
    values: tuple[Any, ...]


def _literal(text: str, axis: str) -> Any:
    """A value as written: a Python literal (``2``, ``0.5``, ``True``, ``[4, 8, 4]``), else the text itself."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if any(c in text for c in "[](){}"):
            raise SpaceError(f"--grid {axis}: cannot read the value '{text}'") from None
        return text
    return list(value) if isinstance(value, tuple) else value


def _top_level_split(text: str) -> list[str]:
    """Split at commas outside brackets: '[4,8,4],[2,4,2]' → ['[4,8,4]', '[2,4,2]']."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c in "[({"
        depth -= c in "])}"
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _integer_range(name: str, text: str) -> tuple[int, ...] | None:
    """'START:STOP[:STEP]' of integers, both ends included; None when the text is not of that form."""
    pieces = text.split(":")
    if len(pieces) not in (2, 3) or not all(p.strip().lstrip("-").isdigit() for p in pieces):
        return None
    start, stop, step = int(pieces[0]), int(pieces[1]), int(pieces[2]) if len(pieces) == 3 else 1
    if step <= 0 or stop < start:
        raise SpaceError(f"--grid {name}={text}: a range needs START ≤ STOP and a positive STEP")
    return tuple(range(start, stop + 1, step))


def parse_axis(text: str) -> Axis:
    """``NAME=V1,V2,…`` (Python literals; lists in brackets: ``depth=[4,8,4],[2,4,2]``) or
    ``NAME=START:STOP[:STEP]`` (integers, both ends included) → an Axis. Repeated values are refused."""
    name, sep, body = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier() or not body.strip():
        raise SpaceError(f"--grid '{text}': write NAME=V1,V2,… or NAME=START:STOP[:STEP], e.g. width=0.5,1.0")
    values = _integer_range(name, body.strip())
    if values is None and ":" in body and "," not in body and "[" not in body:
        raise SpaceError(f"--grid {name}={body}: a range is START:STOP[:STEP] of integers; list other values: {name}=0.5,1.0")
    if values is None:
        parts = _top_level_split(body)
        if any(not p for p in parts):
            raise SpaceError(f"--grid {name}: an empty value in '{body}'")
        values = tuple(_literal(p, name) for p in parts)
    keys = [json.dumps(v, sort_keys=True) for v in values]
    if len(set(keys)) != len(keys):
        raise SpaceError(f"--grid {name}: a value is repeated in '{body}'")
    return Axis(name, values)


@dataclass(frozen=True)
class SearchSpace:
    """The product of the axes. Candidates are numbered in grid order (the last axis fastest)."""

    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        names = [a.name for a in self.axes]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise SpaceError(f"--grid {repeated[0]} is given twice: list its values in one --grid")
        if not self.axes:
            raise SpaceError("a sweep needs at least one --grid axis")

    @property
    def names(self) -> tuple[str, ...]:
        """The axes' names, in order."""
        return tuple(a.name for a in self.axes)

    @property
    def size(self) -> int:
        """How many candidates the grid holds: the product of the axes' lengths."""
        return math.prod(len(a.values) for a in self.axes)

    def point(self, index: int) -> dict[str, Any]:
        """Candidate ``index`` of the grid (mixed radix, the last axis fastest)."""
        values = {}
        for axis in reversed(self.axes):
            index, digit = divmod(index, len(axis.values))
            values[axis.name] = axis.values[digit]
        return {name: values[name] for name in self.names}

    def grid(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every candidate, (grid index, values), in grid order."""
        for index in range(self.size):
            yield index, self.point(index)

    def sample(self, count: int, seed: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """``count`` distinct candidates drawn uniformly from the grid (all of it when ``count`` ≥ its
        size), with a private ``random.Random(seed)``: the same seed gives the same candidates anywhere,
        and the process's own RNG is left alone. Returned in grid order."""
        if count < 1:
            raise SpaceError(f"--random needs a positive count, got {count}")
        chosen = range(self.size) if count >= self.size else random.Random(seed).sample(range(self.size), count)
        return [(i, self.point(i)) for i in sorted(chosen)]


def candidate_key(values: dict[str, Any]) -> str:
    """A candidate's identity: its values as canonical JSON (the same candidate always has the same key)."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def space_of(grid: Sequence[str | Axis]) -> SearchSpace:
    """A SearchSpace from ``--grid`` texts or Axis values."""
    return SearchSpace(tuple(a if isinstance(a, Axis) else parse_axis(a) for a in grid))
