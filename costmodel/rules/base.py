"""The cost vocabulary's building blocks: what a rule sees (``AtenCall``), what it returns (``OpCost``),
and the table of rules keyed by operator name.

Every rule is written once, keyed by the operator it costs at the aten level (``aten::convolution``,
``aten::addmm``), the level every PyTorch program reaches; a user's own operator (``mylib::fused``)
or module class registers the same way. Rules are pure functions of shapes and hyper-parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from costmodel.rules.tensor_meta import TensorMeta


@dataclass(frozen=True)
class AtenCall:
    """One operator call as the rules see it.

    ``op`` is the operator's qualified name without overload (``aten::addmm``); ``args``/``kwargs`` are
    the call's arguments with every tensor replaced by its TensorMeta; ``inputs`` are the distinct
    tensors it reads (a tensor passed twice is read once: the paper's cache assumption), ``outputs``
    the tensors it returns; ``aliases`` is True when every output is a view of an input (no data
    moved). ``module`` is set only for a module-level rule registered by a user.
    """

    op: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[TensorMeta, ...]
    aliases: bool = False
    module: nn.Module | None = None
    storages: tuple[int, ...] = field(default=(), repr=False, compare=False)  # input storages (parameter attribution)
    out_storages: tuple[int, ...] = field(default=(), repr=False, compare=False)  # output storages (dataflow)
    group: int = field(default=0, repr=False, compare=False)  # > 0: recorded inside one ``F.linear`` call

    @property
    def short(self) -> str:
        """The name without the ``aten::`` namespace (``addmm``); other namespaces are kept."""
        return self.op.removeprefix("aten::")

    @property
    def output(self) -> TensorMeta:
        """The first output tensor."""
        return self.outputs[0]

    def arg(self, index: int, keyword: str, default: Any = None) -> Any:
        """Positional argument ``index`` or keyword ``keyword``."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(keyword, default)

    def io_elements(self, outputs: int | None = None) -> int:
        """Elements read plus written: every input tensor and the first ``outputs`` outputs (all by default)."""
        outs = self.outputs if outputs is None else self.outputs[:outputs]
        return sum(t.numel for t in self.inputs) + sum(t.numel for t in outs)


@dataclass(frozen=True)
class OpCost:
    """Every metric of one op: FLOPs (multiply-adds), MAC (elements), the proved MAC bound if any, a
    kind for calibration, and for attention the MAC of the unfused math path (the L×S score matrix
    written and read) beside the fused kernel's."""

    flops: int
    mac: int
    mac_lower_bound: float | None = None
    kind: str | None = None
    mac_unfused: int | None = None


Rule = Callable[[AtenCall], OpCost]


@dataclass(frozen=True)
class RuleEntry:
    """A rule, the op family it belongs to (conv, linear, matmul, attention, norm, activation, …) and,
    for zero-cost rules, the reason the op is free."""

    family: str
    rule: Rule
    free_reason: str | None = None


@dataclass
class RuleTable:
    """Rules by operator name (``aten::relu``) and by module class (resolved through the MRO)."""

    ops: dict[str, RuleEntry] = field(default_factory=dict)
    modules: dict[type, RuleEntry] = field(default_factory=dict)
    #: bumped by every change, so that costs memoised under an older table are not reused
    version: int = 0

    def add(self, names: Iterable[str], family: str, rule: Rule, free_reason: str | None = None) -> None:
        """Register ``rule`` for operator names (``relu`` means ``aten::relu``; in-place ``relu_`` is
        derived from ``relu`` on lookup). An operator that already has a rule is an error: one rule per
        operator, whatever the import order (``register(..., override=True)`` replaces one on purpose)."""
        entry = RuleEntry(family, rule, free_reason)
        keys = [name if "::" in name else f"aten::{name}" for name in names]
        taken = [k for k in keys if k in self.ops] + [k for i, k in enumerate(keys) if k in keys[:i]]
        if taken:
            raise ValueError(f"{', '.join(sorted(set(taken)))} already has a cost rule ({family} rule {rule.__name__})")
        for key in keys:
            self.ops[key] = entry
        self.version += 1

    def for_op(self, op: str) -> RuleEntry | None:
        """The entry for ``op``; an in-place or out variant (``aten::relu_``) falls back to its base op."""
        entry = self.ops.get(op)
        if entry is None and op.endswith("_") and not op.endswith("__"):
            entry = self.ops.get(op[:-1])
        return entry

    def for_module(self, module: nn.Module) -> RuleEntry | None:
        """The entry of the nearest registered class in ``type(module).__mro__``, or None."""
        if not self.modules:
            return None
        for cls in type(module).__mro__:
            entry = self.modules.get(cls)
            if entry is not None:
                return entry
        return None


RULES = RuleTable()


def rule(*names: str, family: str, free_reason: str | None = None) -> Callable[[Rule], Rule]:
    """Decorator: register the decorated function as the rule for these aten operator names."""

    def decorate(fn: Rule) -> Rule:
        RULES.add(names, family, fn, free_reason)
        return fn

    return decorate
