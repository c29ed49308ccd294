"""The domain: one-symbol guards merged into proved thresholds (checked against brute force), conditions
implied by the thresholds dropped, specialisation stated, sizes outside refused in one line."""

from __future__ import annotations

import pytest
import sympy
import torch
from torch import nn

from costmodel.rules import OpCost, rules_overlay
from costmodel.symbolic.derive import formula
from costmodel.symbolic.domain import Condition, OutsideDomain, implied_by_floors, merged_thresholds, threshold

H = sympy.Symbol("H", integer=True, positive=True)
W = sympy.Symbol("W", integer=True, positive=True)


def _brute_first(condition: sympy.Basic, lowest: int, top: int = 3000) -> int | None:
    """The least n with the condition true for every n' in [n, top] (brute force)."""
    values = [bool(condition.subs(H, n)) for n in range(lowest, top + 1)]
    first = None
    for i in range(len(values) - 1, -1, -1):
        if not values[i]:
            break
        first = lowest + i
    return first


@pytest.mark.parametrize(
    "condition",
    [
        sympy.Ne(sympy.floor((H - 1) / 32) + 1, 1),  # a stride-32 map larger than 1x1: H >= 33
        sympy.floor((H - 1) / 4) * 3 + 3 > 40,  # monotone, not at its floor
        sympy.Ge(sympy.floor(H / 2 - sympy.Rational(1, 2)) - 2 * sympy.floor(H / 4 - sympy.Rational(1, 4)), 0),  # periodic
        sympy.Ne(sympy.Mod(H, 7), 3) | sympy.false,  # a remainder: not a threshold
        sympy.Gt(sympy.floor(H / 3) * 2 - sympy.floor(H / 2), 5),  # a slope over periods
    ],
)
def test_a_threshold_holds_from_where_it_says_on(condition: sympy.Basic) -> None:
    found = threshold(condition, 2)
    truth = _brute_first(condition, 2)
    if found is None:
        return  # no claim made: the condition stays as it is
    assert truth is not None and found >= truth  # every n >= found satisfies it (sufficient)
    assert all(bool(condition.subs(H, n)) for n in range(found, found + 400))


def test_an_exact_monotone_threshold_is_the_least_valid_size() -> None:
    condition = sympy.Ne(sympy.floor((H - 1) / 32) + 1, 1)
    assert threshold(condition, 2) == 33
    assert not bool(condition.subs(H, 32))


def test_merged_conditions_keep_what_thresholds_cannot_say() -> None:
    conditions = [
        Condition(H >= 2, "range"),
        Condition(W >= 2, "range"),
        Condition(sympy.Ne(sympy.floor((H - 1) / 8) + 1, 1), "guard"),
        Condition(sympy.Eq(sympy.Mod(W, 4), 0), "guard"),
        Condition(sympy.Ne((sympy.floor((H - 1) / 8) + 1) * (sympy.floor((W - 1) / 8) + 1), 1), "guard"),
    ]
    merged = merged_thresholds(conditions, {H: 224, W: 224})
    texts = [str(c.expr) for c in merged]
    assert texts == ["H >= 9", "W >= 2", "Eq(Mod(W, 4), 0)"]  # the product is implied by H >= 9, W >= 2


def test_implied_by_floors_needs_monotone_conditions() -> None:
    assert implied_by_floors((sympy.floor(H / 2) + 1) * (sympy.floor(W / 2) + 1) > 3, {H: 4, W: 2})
    assert not implied_by_floors(sympy.Ne(sympy.Mod(H, 3), 0), {H: 4})


class TakesAnInt(nn.Module):
    """Reads a size as a Python int (as TF-style 'same' padding does): the trace must specialise it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):  # type: ignore[no-untyped-def]
        if int(x.shape[-1]) % 2:
            x = x[..., :-1]
        return self.conv(x)


def test_a_size_read_as_a_number_is_specialised_and_other_sizes_refused() -> None:
    result = formula(TakesAnInt(), (1, 3, "H", "W"), hints={"H": 40, "W": 40})
    assert result.domain.specialised == {"W": "40"}
    assert "H" not in result.domain.specialised
    assert result.at(H=57, W=40).totals["flops"] == 4 * 27 * 55 * 38
    with pytest.raises(OutsideDomain, match=r"^H=57, W=41 is outside the formula's domain: it needs Eq\(W, 40\)"):
        result.at(H=57, W=41)


def test_sizes_must_be_named_and_positive() -> None:
    result = formula(nn.Conv2d(3, 4, 3), (1, 3, "H", "W"))
    with pytest.raises(Exception, match="give a value for W"):
        result.at(H=40)
    with pytest.raises(Exception, match="must be a positive integer"):
        result.at(H=40, W=0)
    with pytest.raises(Exception, match="Q is not a size"):
        result.at(H=40, W=40, Q=3)


class Doubler(nn.Module):
    def forward(self, x):  # type: ignore[no-untyped-def]
        return torch.ops.aten.mul(x, 2)


def test_a_rule_that_cannot_take_symbolic_sizes_fixes_them_and_says_which() -> None:
    def keyed_rule(call):  # type: ignore[no-untyped-def]
        table = {call.output.shape[-1]: 1}  # a dict key must hash: a symbolic size does not
        return OpCost(flops=sum(table) * 2, mac=call.io_elements())

    def counting_rule(call):  # type: ignore[no-untyped-def]
        return OpCost(flops=2 * len(range(call.output.shape[-1])), mac=call.io_elements())  # range() fixes the size

    for rule in (keyed_rule, counting_rule):
        with rules_overlay({"aten::mul": rule}):
            result = formula(Doubler(), (2, "L"), hints={"L": 16})
            assert result.domain.specialised == {"L": "16"}
            assert result.at(L=16).totals["flops"] == 32
            with pytest.raises(OutsideDomain):
                result.at(L=17)
    with rules_overlay({"aten::mul": keyed_rule}):
        notes = formula(Doubler(), (2, "L"), hints={"L": 16}).notes
        assert any("the cost rule of mul cannot take symbolic sizes (TypeError" in n for n in notes), notes


def test_a_trace_past_its_time_limit_fixes_the_sizes_and_says_so() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
    result = formula(model, (1, 3, "H", "W"), time_limit=1e-9)
    assert result.domain.specialised == {"H": "224", "W": "224"}
    assert any("still running after" in note for note in result.notes), result.notes
    assert formula(model, (1, 3, "H", "W")).domain.specialised == {}
