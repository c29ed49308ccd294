"""Printed expressions read back with sympy to the same values; the compiled integer evaluation (sweeps)
equals sympy's exact substitution; torch's size functions become floor, ceiling and Mod."""

from __future__ import annotations

import json
import random

import numpy as np
import sympy
import torch.utils._sympy.functions as tsf

from costmodel.render.printing import render
from costmodel.symbolic.derive import formula
from costmodel.symbolic.expressions import evaluate, integer_function, plain
from costmodel.symbolic.printing import expr_text
from costmodel.zoo import ZOO
from tests.models import corpus as C
from tests.symbolic.sampling import sizes_inside

H = sympy.Symbol("H", integer=True, positive=True)
W = sympy.Symbol("W", integer=True, positive=True)


def test_torch_size_functions_become_plain_sympy() -> None:
    s = sympy.Symbol("s0", integer=True, positive=True)
    torch_expr = tsf.FloorDiv(s - 1, 4) + tsf.CeilDiv(s, 3) + tsf.ModularIndexing(s, 2, 5) + tsf.PythonMod(s, 7)
    mine = plain(torch_expr, {s: H})
    assert not mine.atoms(tsf.FloorDiv, tsf.CeilDiv, tsf.ModularIndexing, tsf.PythonMod)
    for n in (5, 17, 224, 1001):
        assert evaluate(mine, {H: n}) == (n - 1) // 4 + -(-n // 3) + (n // 2) % 5 + n % 7


def test_json_expressions_parse_back_to_the_reports_values() -> None:
    model = ZOO["shufflenet_v2_x0_5"]()
    result = formula(model, (1, 3, "H", "W"))
    data = json.loads(render(result, "json"))
    symbols = {name: sympy.Symbol(name, integer=True, positive=True) for name in data["symbols"]}
    for point in sizes_inside(result, count=5):
        report = result.at(point)
        values = {symbols[k]: v for k, v in point.items()}
        rows = {r.name: r for r in report.layers}
        for layer in data["layers"]:
            for key in ("flops", "mac"):
                parsed = sympy.sympify(layer[key], locals=symbols)
                assert int(parsed.xreplace(values)) == getattr(rows[layer["name"]], key)
        totals = {k: int(sympy.sympify(v, locals=symbols).xreplace(values)) for k, v in data["totals"].items()}
        assert totals["flops"] == report.totals["flops"] and totals["mac"] == report.totals["mac"]
        assert totals["params"] == report.totals["params"]


def test_a_size_named_like_a_sympy_function_reads_back_with_the_symbols_as_locals() -> None:
    result = formula(C.TinyEfficientNet(), ("N", 3, "H", "H"), hints={"H": 32})
    data = json.loads(render(result, "json"))
    symbols = {name: sympy.Symbol(name, integer=True, positive=True) for name in data["symbols"]}
    total = sympy.sympify(data["totals"]["flops"], locals=symbols)
    assert total.free_symbols == {symbols["N"], symbols["H"]}
    assert int(total.xreplace({symbols["N"]: 3, symbols["H"]: 45})) == result.at(N=3, H=45).totals["flops"]


def test_compiled_integer_evaluation_equals_exact_substitution() -> None:
    rng = random.Random(1)
    pieces = [
        sympy.floor((H - 1) / 32) + 1,
        sympy.ceiling(W / 3),
        sympy.Mod(H * W, 7),
        H * W / 4 + sympy.Rational(3, 4) * H * W,
        sympy.Max(H, 2 * W) - sympy.Min(H, W),
        (sympy.floor(H / 2 - sympy.Rational(1, 2)) + 1) ** 2,
    ]
    exprs = [sum(rng.choice(pieces) * rng.randint(1, 9) for _ in range(4)) for _ in range(12)]
    function = integer_function(exprs, [H, W])
    hs = np.array([rng.randint(1, 5000) for _ in range(200)], dtype=np.int64)
    ws = np.array([rng.randint(1, 5000) for _ in range(200)], dtype=np.int64)
    vectorised = function(hs, ws)
    for expr, column in zip(exprs, vectorised):
        for i in range(0, 200, 17):
            assert int(column[i]) == evaluate(expr, {H: int(hs[i]), W: int(ws[i])}), expr


def test_printed_floors_are_written_over_their_numerator() -> None:
    assert expr_text(sympy.floor(H / 32 - sympy.Rational(1, 32)) + 1) == "floor((H - 1)/32) + 1"
    assert sympy.sympify(expr_text(sympy.ceiling(H / 2)), locals={"H": H}) == sympy.ceiling(H / 2)
