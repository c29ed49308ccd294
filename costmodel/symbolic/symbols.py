"""Symbolic input sizes: names in place of numbers (``1,3,H,W``), each a symbol of one ``ShapeEnv`` (torch's
symbolic-shape machinery, as ``torch.export`` uses for dynamic dimensions), and the translation of torch's
size expressions into plain sympy over the user's names (floor, ceiling, Mod, Min, Max, Piecewise)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

from costmodel.errors import CostModelError
from costmodel.inputs import MAX_ELEMENTS, ModelInputs, TensorSpec, named_model_inputs, split_input_option, tensor_specs

#: Hint (the size torch decides shape-dependent branches at) of a symbol by its place in an input:
#: a batch dimension, an image side, a token count, anything else.
BATCH_HINT, IMAGE_HINT, SEQUENCE_HINT, OTHER_HINT = 2, 224, 128, 64
_NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


class SymbolicInputError(CostModelError):
    """Symbolic inputs that cannot be read (a bad name, a size that is neither a number nor a name)."""


@dataclass
class SizeSymbols:
    """The symbols of one derivation: the user's names as positive-integer sympy symbols, the hint of
    each, and the ``ShapeEnv`` (with its FakeTensorMode) whose symbols stand for them."""

    names: dict[str, sympy.Symbol]
    hints: dict[str, int]
    env: ShapeEnv
    mode: FakeTensorMode
    sizes: dict[str, torch.SymInt] = field(default_factory=dict)
    #: ShapeEnv symbol → the user's symbol
    user_of: dict[sympy.Symbol, sympy.Symbol] = field(default_factory=dict)
    #: ShapeEnv expression → its plain form (``expressions.as_expr``), filled as the costing goes
    plain_forms: dict[Any, Any] = field(default_factory=dict)

    def hint_values(self) -> dict[sympy.Symbol, int]:
        """Each user symbol at its hint."""
        return {self.names[n]: h for n, h in self.hints.items()}


def new_symbols(order: list[str], hints: dict[str, int]) -> SizeSymbols:
    """A fresh ShapeEnv with one symbol per name (no duck sizing: equal hints never merge two names)."""
    env = ShapeEnv(duck_shape=False)
    mode = FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)
    symbols = SizeSymbols({}, {}, env, mode)
    from torch._dynamo.source import ConstantSource

    for name in order:
        hint = hints[name]
        if hint < 2:
            raise SymbolicInputError(
                f"the hint of {name} must be at least 2 (sizes 0 and 1 are special cases in torch), not {hint}"
            )
        raw = env.create_symbol(hint, ConstantSource(f"costmodel_{name}"), dynamic_dim=DimDynamic.DYNAMIC)
        symbols.sizes[name] = env.create_symintnode(raw, hint=hint)  # type: ignore[assignment]
        symbols.names[name] = sympy.Symbol(name, integer=True, positive=True)
        symbols.hints[name] = hint
        symbols.user_of[raw] = symbols.names[name]  # type: ignore[index]
    return symbols


def parse_symbolic_option(text: str) -> tuple[str | None, tuple[int | str, ...], torch.dtype | None]:
    """One ``--input`` with names allowed: '1,3,H,W', 'input_ids=B,L:int64' → (keyword, sizes, dtype)."""
    try:
        name, parts, dtype = split_input_option(text)
    except ValueError as exc:
        raise SymbolicInputError(str(exc)) from None
    if not parts:
        raise SymbolicInputError(f"'{text}' lists no sizes, e.g. 1,3,H,W")
    sizes: list[int | str] = []
    for part in parts:
        if part.isdigit():
            sizes.append(int(part))
        elif _NAME.match(part):
            sizes.append(part)
        else:
            raise SymbolicInputError(f"'{text}': size '{part}' is neither a positive integer nor a name like H")
    return name, tuple(sizes), dtype


def check_size_name(name: str) -> None:
    """A size name must be an identifier that is not a function of the printed expressions (``floor``…).
    Names sympy itself defines (``N``, ``S``, ``E``) are fine: parse with the formula's symbols as locals."""
    if not _NAME.match(name) or name in _RESERVED:
        raise SymbolicInputError(f"'{name}' cannot name a size (use a plain identifier such as H, W, L or B)")


#: Names the printed expressions use as functions: a size may not take them.
_RESERVED = frozenset({"floor", "ceiling", "Mod", "Min", "Max", "Piecewise", "sqrt", "Eq", "Ne", "oo"})


def _default_hint(position: int, rank: int, dtype: torch.dtype | None) -> int:
    if position == 0 and rank > 1:
        return BATCH_HINT
    if dtype is not None and not dtype.is_floating_point:
        return SEQUENCE_HINT
    if rank == 4 and position >= 2:
        return IMAGE_HINT
    return OTHER_HINT


def symbolic_inputs(
    inputs: Any, hints: dict[str, int] | None = None, specialise: bool = False
) -> tuple[ModelInputs, SizeSymbols]:
    """``inputs`` (shapes whose sizes are ints or names; dicts; ``(args, kwargs)``) as ModelInputs whose
    named sizes are SymInts of one fresh ShapeEnv. A name's hint is ``hints[name]``, else 2 for a batch
    dimension, 224 for an image side, 128 for a token count, 64 otherwise. ``specialise``: every named
    size is its hint instead (the symbols still exist, for a formula that holds at the hints only)."""
    hints = dict(hints or {})
    named = named_model_inputs(inputs)
    order: list[str] = []
    chosen: dict[str, int] = {}
    for spec in tensor_specs(named):
        for position, size in enumerate(spec.shape):
            if isinstance(size, str):
                check_size_name(size)
                if size not in chosen:
                    order.append(size)
                    chosen[size] = hints.pop(size, None) or _default_hint(position, len(spec.shape), spec.dtype)
            elif not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                raise SymbolicInputError(f"input size {size!r} must be a positive integer or a name")
    if hints:
        raise SymbolicInputError(f"a hint for {', '.join(sorted(hints))}, which no input size names")
    if not order:
        raise SymbolicInputError("no input size is a name: write one as a symbol, e.g. --input 1,3,H,W")
    symbols = new_symbols(order, chosen)

    def to_symbolic(value: Any) -> Any:
        if isinstance(value, TensorSpec):
            named = symbols.hints if specialise else symbols.sizes
            sizes = tuple(named[s] if isinstance(s, str) else s for s in value.shape)
            at_hint = 1
            for s in value.shape:
                at_hint *= symbols.hints[s] if isinstance(s, str) else s
            if at_hint > MAX_ELEMENTS:
                raise SymbolicInputError(f"input {list(value.shape)} has {at_hint:.3g} elements at its hints, more than 2**48")
            return TensorSpec(sizes, value.dtype)  # type: ignore[arg-type]
        if isinstance(value, dict):
            return {k: to_symbolic(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return type(value)(to_symbolic(v) for v in value)
        return value

    return ModelInputs(tuple(to_symbolic(a) for a in named.args), to_symbolic(named.kwargs)), symbols


def user_text(text: str, symbols: SizeSymbols) -> str:
    """``text`` (a message or expression torch printed) with ShapeEnv names (``s12``) as the user's."""
    names = {str(raw): str(user) for raw, user in symbols.user_of.items()}
    return re.sub(r"\bs\d+\b", lambda m: names.get(m.group(0), m.group(0)), text)


@contextlib.contextmanager
def conv_layout_unguarded() -> Iterator[None]:
    """Run fake convolutions without the guard torch's fake kernel adds to pick the output's memory
    format (``numel > 20480`` chooses the mkldnn backend on CPU): the guard decides only strides, which
    the meta kernel derives from the input's own layout, and would cut the domain to a band of sizes.
    Inside, the fake kernel treats symbolic sizes as having no hint for that choice only."""
    from torch._subclasses import fake_impls
    from torch.fx.experimental import symbolic_shapes

    original = symbolic_shapes.has_guarding_hint
    wrapped: dict[Any, Any] = {}

    def without_layout_guard(impl: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            symbolic_shapes.has_guarding_hint = _no_hint_when_symbolic  # type: ignore[assignment]
            try:
                return impl(*args, **kwargs)
            finally:
                symbolic_shapes.has_guarding_hint = original

        return run

    def _no_hint_when_symbolic(value: Any) -> bool:
        return not (isinstance(value, torch.SymInt) and value.node.expr.free_symbols) and original(value)

    for op, impl in list(fake_impls.op_implementations_dict.items()):
        if getattr(impl, "__name__", "") == "conv":
            wrapped[op] = impl
            fake_impls.op_implementations_dict[op] = without_layout_guard(impl)
    try:
        yield
    finally:
        fake_impls.op_implementations_dict.update(wrapped)
