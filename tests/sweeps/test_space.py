"""The design space: axes as written on the command line, the grid's order, a seeded sample."""

from __future__ import annotations

import itertools
import random

import pytest

from costmodel.sweeps.space import SpaceError, candidate_key, parse_axis, space_of


def test_axes_read_literals_lists_and_ranges() -> None:
    assert parse_axis("width=0.5,1.0,2").values == (0.5, 1.0, 2)
    assert parse_axis("depth=[4,8,4],[2, 4, 2]").values == ([4, 8, 4], [2, 4, 2])
    assert parse_axis("R=128:256:64").values == (128, 192, 256)
    assert parse_axis("act=relu,'gelu',True").values == ("relu", "gelu", True)
    assert parse_axis("depth=(3,6,3)").values == ([3, 6, 3],)


@pytest.mark.parametrize(
    "text", ["width", "=1,2", "width=", "width=1,,2", "width=1,1", "R=256:128", "R=1:9:0", "depth=[4,8", "2x=1", "w=0.5:2:0.5"]
)
def test_bad_axes_are_one_line_errors_naming_them(text: str) -> None:
    with pytest.raises(SpaceError) as info:
        parse_axis(text)
    assert "\n" not in str(info.value) and "--grid" in str(info.value)


def test_the_grid_is_every_combination_in_order_last_axis_fastest() -> None:
    space = space_of(["a=1,2,3", "b=x,y", "c=[1],[2]"])
    expected = [dict(zip("abc", combo)) for combo in itertools.product([1, 2, 3], ["x", "y"], [[1], [2]])]
    assert space.size == 12
    assert [values for _, values in space.grid()] == expected
    assert [index for index, _ in space.grid()] == list(range(12))


def test_a_sample_is_distinct_seeded_and_leaves_the_process_rng_alone() -> None:
    space = space_of(["a=0:99", "b=0:99", "c=0:99"])
    state = random.getstate()
    first, again, other = space.sample(50, seed=7), space.sample(50, seed=7), space.sample(50, seed=8)
    assert random.getstate() == state
    assert first == again and first != other
    keys = [candidate_key(v) for _, v in first]
    assert len(set(keys)) == 50
    assert all(values == space.point(index) for index, values in first)
    assert len(space.sample(10**9, seed=1)) == space.size  # more than the grid: all of it


def test_an_axis_given_twice_is_refused() -> None:
    with pytest.raises(SpaceError, match="given twice"):
        space_of(["a=1,2", "a=3"])


def test_candidate_keys_do_not_depend_on_order_or_tuple_vs_list() -> None:
    assert candidate_key({"a": 1, "depth": (4, 8, 4)}) == candidate_key({"depth": [4, 8, 4], "a": 1})
    assert candidate_key({"a": 1}) != candidate_key({"a": 1.5})
