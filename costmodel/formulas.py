"""The closed forms, once, as sympy expressions; numeric handlers evaluate these same expressions.

Symbols (all positive): batch ``N``; input spatial size ``h``×``w``; output spatial size ``ho``×``wo``;
channels ``c1`` in, ``c2`` out; kernel ``kh``×``kw``; groups ``g``; ``bias`` is 1 with a bias, else 0.
A linear layer is the 1x1 case on a 1×1 map with ``N`` = number of rows. Convolutions with one or three
spatial dims fold into the same forms (1-D: ``w`` = ``wo`` = ``kw`` = 1; 3-D: depth folds into ``h``).

The bound is the paper's Eq. (1) generalised (see ../shared/CONVENTIONS.md): with A_in = N·h·w,
A_out = N·ho·wo and K = kh·kw, the activation traffic A_in·c1 + A_out·c2 ≥ 2·√(A_in·A_out·c1·c2) by
AM-GM and the weight traffic is B/A_out, so MAC ≥ 2·√(g·A_in·B/K) + B/A_out, equal iff A_in·c1 = A_out·c2.
``costmodel.verify`` proves these statements with sympy from the expressions below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, NamedTuple

import sympy as sp

N, h, w, ho, wo, c1, c2, kh, kw, g = sp.symbols("N h w ho wo c1 c2 kh kw g", positive=True)
bias = sp.Symbol("bias", nonnegative=True)

CONV_SYMBOLS: tuple[sp.Symbol, ...] = (N, h, w, ho, wo, c1, c2, kh, kw, g, bias)

#: FLOPs (multiply-adds) of a convolution: every output element takes (c1/g)·kh·kw multiply-adds.
CONV_FLOPS = N * ho * wo * c2 * (c1 / g) * kh * kw
#: Learnable parameters: the kernel (c2 × c1/g × kh × kw) plus one bias per output channel.
CONV_PARAMS = c2 * (c1 / g) * kh * kw + bias * c2
#: MAC in elements: read the input, write the output, read the weights (and bias).
CONV_MAC = N * h * w * c1 + N * ho * wo * c2 + CONV_PARAMS
#: The proved lower bound on CONV_MAC as a function of B = CONV_FLOPS (bias excluded; it only adds).
B = sp.Symbol("B", positive=True)
A_in, A_out, K = N * h * w, N * ho * wo, kh * kw
CONV_MAC_BOUND_OF_B = 2 * sp.sqrt(g * A_in * B / K) + B / A_out
#: The bound in the layer's own symbols, split as 2·√(radicand) + weight term so that numbers can be
#: evaluated exactly (the radicand is a perfect square exactly when the bound can be tight).
CONV_BOUND_RADICAND = sp.simplify((g * A_in * B / K).subs(B, CONV_FLOPS))  # = A_in·c1 · A_out·c2
CONV_BOUND_WEIGHT_TERM = sp.simplify((B / A_out).subs(B, CONV_FLOPS))  # = kh·kw·c1·c2/g
CONV_MAC_BOUND = 2 * sp.sqrt(CONV_BOUND_RADICAND) + CONV_BOUND_WEIGHT_TERM
#: Equality condition of the bound (without bias): the activation terms are equal.
CONV_EQUALITY = sp.Eq(A_in * c1, A_out * c2)


class ConvCost(NamedTuple):
    """Numbers for one convolution (or linear) layer, evaluated from the sympy closed forms."""

    flops: int
    params: int
    mac: int
    mac_lower_bound: float


def _compile(expr: sp.Expr) -> Callable[..., Any]:
    return sp.lambdify(CONV_SYMBOLS, expr, modules="math")  # type: ignore[no-any-return]


_FLOPS_FN = _compile(CONV_FLOPS)
_PARAMS_FN = _compile(CONV_PARAMS)
_MAC_FN = _compile(CONV_MAC)
_RADICAND_FN = _compile(CONV_BOUND_RADICAND)
_WEIGHT_TERM_FN = _compile(CONV_BOUND_WEIGHT_TERM)


def _two_sqrt(value: Fraction) -> Fraction | float:
    """2·√value, exact when value is the square of a rational (as at the bound's equality point)."""
    num, den = value.numerator, value.denominator
    rn, rd = math.isqrt(num), math.isqrt(den)
    if rn * rn == num and rd * rd == den:
        return 2 * Fraction(rn, rd)
    return 2 * math.sqrt(value)


def _exact_int(value: Any, what: str) -> int:
    frac = Fraction(value)
    if frac.denominator != 1:
        raise ValueError(f"{what} is not an integer ({frac}): channels not divisible by groups?")
    return int(frac)


def conv_cost(
    n: int,
    h_in: int,
    w_in: int,
    h_out: int,
    w_out: int,
    c_in: int,
    c_out: int,
    k_h: int,
    k_w: int,
    groups: int,
    has_bias: bool,
) -> ConvCost:
    """FLOPs = N·ho·wo·c2·(c1/g)·kh·kw; params = c2·(c1/g)·kh·kw (+c2);
    MAC = N·h·w·c1 + N·ho·wo·c2 + params; bound = 2·√(g·A_in·B/K) + B/A_out.

    Evaluated from the sympy expressions with ``g`` as an exact fraction, so integer results are exact
    and the bound equals MAC exactly (not to within rounding) when the equality condition holds.
    """
    args = (n, h_in, w_in, h_out, w_out, c_in, c_out, k_h, k_w, Fraction(groups), int(has_bias))
    no_bias = args[:-1] + (0,)
    return ConvCost(
        flops=_exact_int(_FLOPS_FN(*args), "FLOPs"),
        params=_exact_int(_PARAMS_FN(*args), "params"),
        mac=_exact_int(_MAC_FN(*args), "MAC"),
        mac_lower_bound=float(_two_sqrt(Fraction(_RADICAND_FN(*no_bias))) + Fraction(_WEIGHT_TERM_FN(*no_bias))),
    )


def linear_cost(rows: int, in_features: int, out_features: int, has_bias: bool) -> ConvCost:
    """A linear layer as a 1x1 convolution on a 1×1 map with N = rows:
    FLOPs = N·in·out, MAC = N·in + N·out + in·out (+out), bound = 2·√(N·B) + B/N."""
    return conv_cost(rows, 1, 1, 1, 1, in_features, out_features, 1, 1, 1, has_bias)
