"""The handler registry: what an op costs, looked up by module class, function, or method name.

A handler is a pure function of an ``OpCall`` (shapes and hyper-parameters, never tensor values) that
returns every metric at once as an ``OpCost``. Module types resolve through their class hierarchy, so a
subclass of ``nn.Conv2d`` is costed as a Conv2d; functions and method names register as aliases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from costmodel.trace import TensorMeta


@dataclass(frozen=True)
class OpCall:
    """One fx call node, as the cost rules see it.

    ``inputs`` are the tensor arguments in order (args, then kwargs; nested tuples flattened).
    ``state`` are the tensors a module call reads besides its inputs: its parameters and its
    floating-point buffers (e.g. BatchNorm running stats; not the integer batch counter).
    ``aliases_input`` is True when the output is a view of an input (no data moved).
    """

    name: str
    op: str
    module: nn.Module | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[TensorMeta, ...]
    state: tuple[TensorMeta, ...] = ()
    aliases_input: bool = False
    output_is_tensor: bool = True

    @property
    def output(self) -> TensorMeta:
        """The first (usually only) tensor output."""
        return self.outputs[0]

    def arg(self, index: int, keyword: str, default: Any = None) -> Any:
        """Positional argument ``index`` or keyword ``keyword`` of a function/method call."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(keyword, default)

    def io_elements(self) -> int:
        """Elements read plus written: every tensor input, the module's state, every tensor output."""
        return sum(t.numel for t in self.inputs) + sum(t.numel for t in self.state) + sum(t.numel for t in self.outputs)


@dataclass(frozen=True)
class OpCost:
    """Every metric of one op: FLOPs (multiply-adds), MAC (elements), and the proved MAC bound if any."""

    flops: int
    mac: int
    mac_lower_bound: float | None = None
    kind: str | None = None  # finer than the family, for rate lookups: "pointwise", "depthwise", …


Handler = Callable[[OpCall], OpCost]


@dataclass(frozen=True)
class Entry:
    """A registered handler and the op family it belongs to."""

    family: str
    handler: Handler


@dataclass
class Registry:
    """Handlers by module class (resolved through the MRO), by function object and by method name."""

    modules: dict[type, Entry] = field(default_factory=dict)
    functions: dict[Any, Entry] = field(default_factory=dict)
    methods: dict[str, Entry] = field(default_factory=dict)

    def register(
        self,
        family: str,
        *,
        modules: tuple[type, ...] = (),
        functions: tuple[Any, ...] = (),
        methods: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Decorator: register ``handler`` for these module classes, functions and method names."""

        def decorate(handler: Handler) -> Handler:
            entry = Entry(family, handler)
            for cls in modules:
                self.modules[cls] = entry
            for fn in functions:
                self.functions[fn] = entry
            for name in methods:
                self.methods[name] = entry
            return handler

        return decorate

    def for_module(self, module: nn.Module) -> Entry | None:
        """The entry of the nearest registered class in ``type(module).__mro__``, or None."""
        for cls in type(module).__mro__:
            if cls in self.modules:
                return self.modules[cls]
        return None

    def for_function(self, fn: Any) -> Entry | None:
        """The entry registered for this function object, or None."""
        try:
            return self.functions.get(fn)
        except TypeError:  # unhashable target
            return None

    def for_method(self, name: str) -> Entry | None:
        """The entry registered for this tensor method name, or None."""
        return self.methods.get(name)


REGISTRY = Registry()
