"""The Pareto front of candidates under objectives to minimise."""

from __future__ import annotations

from collections.abc import Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` dominates ``b``: no worse in every objective and better in at least one (all minimised)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(points: Sequence[Sequence[float]]) -> list[bool]:
    """For each point, whether no other point dominates it (equal points are all on the front).

    Points are visited in lexicographic order: anything that dominates a point comes before it, and a
    point dominated by anything is dominated by a front member (domination is transitive), so each point
    is checked against the front found so far only — O(n · front) instead of O(n²)."""
    order = sorted(range(len(points)), key=lambda i: tuple(points[i]))
    front: list[int] = []
    on_front = [False] * len(points)
    for i in order:
        if not any(dominates(points[j], points[i]) for j in front):
            front.append(i)
            on_front[i] = True
    return on_front
