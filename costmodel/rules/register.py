"""``register``: the public way to give your own operator or module a cost rule."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from torch import nn

from costmodel.rules.base import RULES, Rule, RuleEntry


def op_key(target: Any) -> str:
    """The table key of an operator: ``torch.ops.aten.relu``, ``torch.ops.aten.relu.default`` and
    ``"aten::relu"`` all give ``"aten::relu"``; a bare name means the aten namespace."""
    if isinstance(target, str):
        return target if "::" in target else f"aten::{target}"
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return str(schema.name)
    qualified = getattr(target, "_qualified_op_name", None)
    if qualified is not None:
        return str(qualified)
    raise TypeError(
        f"cannot register a cost rule for {target!r}: give an operator (torch.ops.ns.op), 'ns::op', or an nn.Module class"
    )


def register(target: Any, rule: Rule | None = None, *, family: str = "custom", override: bool = False) -> Any:
    """Register ``rule`` (a function ``AtenCall -> OpCost``) as the cost of ``target``.

    ``target`` is an operator (``torch.ops.mylib.fused``, ``"mylib::fused"``, an aten op to override)
    or an ``nn.Module`` subclass. A module class is kept whole while tracing: each call becomes one
    row costed by ``rule``, whose ``AtenCall`` carries the module (``call.module``), its input tensors
    and its outputs; the ops it runs inside are not costed again. Use as ``register(op, fn)`` or as
    a decorator ``@register(op)``. Returns the rule. Contract: the rule is a pure function of shapes.
    A target that already has a rule (a built-in one, or yours) raises ValueError unless ``override``:
    replacing a rule is said, never silent. ``unregister`` restores the rule replaced; ``rules_overlay``
    scopes rules to one block.
    """

    def add(fn: Rule) -> Rule:
        entry = RuleEntry(family, fn)
        table: dict[Any, RuleEntry] = RULES.modules if _is_module_class(target) else RULES.ops
        key = target if _is_module_class(target) else op_key(target)
        if key in table and not override:
            name = key.__name__ if isinstance(key, type) else key
            raise ValueError(f"{name} already has a cost rule ({table[key].family}); pass override=True to replace it")
        _replaced.setdefault((id(table), key), []).append(table.get(key))
        table[key] = entry
        RULES.version += 1
        return fn

    if rule is None:
        return add
    return add(rule)


def unregister(target: Any) -> None:
    """Remove the latest rule added with ``register`` for an operator or a module class; the rule it
    replaced (a built-in one, say) applies again."""
    table: dict[Any, RuleEntry] = RULES.modules if _is_module_class(target) else RULES.ops
    key = target if _is_module_class(target) else op_key(target)
    stack = _replaced.get((id(table), key))
    previous = stack.pop() if stack else None
    if previous is None:
        table.pop(key, None)
    else:
        table[key] = previous
    RULES.version += 1


@contextlib.contextmanager
def rules_overlay(rules: Mapping[Any, Rule], *, family: str = "custom") -> Iterator[None]:
    """Within the block, each target (operator or module class) is costed by its rule here, replacing
    any rule it had; on exit every replaced rule applies again (the overlay is scoped, not global)."""
    added: list[Any] = []
    try:
        for target, rule in rules.items():
            register(target, rule, family=family, override=True)
            added.append(target)
        yield
    finally:
        for target in reversed(added):
            unregister(target)


#: (table, key) → the entries each ``register`` replaced, so that ``unregister`` restores them
_replaced: dict[tuple[int, Any], list[RuleEntry | None]] = {}


def _is_module_class(target: Any) -> bool:
    return isinstance(target, type) and issubclass(target, nn.Module)
