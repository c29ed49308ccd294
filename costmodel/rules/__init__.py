"""The cost vocabulary: one rule per aten operator (see ``base``); importing this package registers
the project's rules, and ``register`` adds a user's own."""

from costmodel.rules import backward, contractions, free, movement, pointwise, spectral  # noqa: F401
from costmodel.rules.base import RULES, AtenCall, OpCost, Rule, RuleEntry, RuleTable
from costmodel.rules.register import register, rules_overlay, unregister

__all__ = ["RULES", "AtenCall", "OpCost", "Rule", "RuleEntry", "RuleTable", "register", "rules_overlay", "unregister"]
