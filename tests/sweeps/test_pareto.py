"""The Pareto front against the definition checked pair by pair, and objectives' directions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.sweeps.evaluate import SweepRow
from costmodel.sweeps.pareto import pareto_front
from costmodel.sweeps.result import mark_front


def brute_force_front(points: list[tuple[int, ...]]) -> list[bool]:
    def beats(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
        return all(x <= y for x, y in zip(a, b)) and a != b

    return [not any(beats(q, p) for q in points) for p in points]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4).flatmap(lambda k: st.lists(st.tuples(*[st.integers(0, 6)] * k), max_size=40)))
def test_front_is_the_set_no_point_dominates(points: list[tuple[int, ...]]) -> None:
    assert pareto_front(points) == brute_force_front(points)


def test_maximised_objectives_and_rows_that_cannot_compete() -> None:
    rows = [
        SweepRow(0, {"w": 1}, flops=100, mac=10),
        SweepRow(1, {"w": 2}, flops=200, mac=15),  # more compute for more traffic: on the max:flops/mac front
        SweepRow(2, {"w": 3}, flops=150, mac=20),  # dominated by row 1
        SweepRow(3, {"w": 4}, flops=10_000, mac=1, uncounted=["x (aten.foo)"]),  # incomplete totals: never on the front
        SweepRow(4, {"w": 5}, status="failed", error="boom"),
    ]
    mark_front(rows, ("max:flops", "mac"))
    assert [r.front for r in rows] == [True, True, False, False, False]
    mark_front(rows, ("flops", "mac"))
    assert [r.front for r in rows] == [True, False, False, False, False]
