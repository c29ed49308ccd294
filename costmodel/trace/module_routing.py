"""Routing a model copy's module calls and tensor reads to a tracer, one instance at a time.

torch.fx intercepts module calls and parameter reads by patching ``nn.Module.__call__`` and
``nn.Module.__getattr__`` on the class for the length of a trace. Assigning a dunder on a class makes
CPython rewrite the slot of every subclass: with a few hundred ``nn.Module`` subclasses imported
(torch's own, a model library's) the four assignments of one trace cost 0.6–0.8 ms, a third of a small
model's analysis. The copy a trace runs on is ours alone, so the same interception is installed on its
instances instead, where nothing outside the copy can see it:

- a module call goes through ``_compiled_call_impl``, the per-instance slot ``nn.Module.__call__`` checks
  first (``torch.compile`` sets it the same way);
- a parameter or buffer read goes through the module's ``_parameters``/``_buffers`` table, which
  ``nn.Module.__getattr__`` indexes; during the trace each table is a dict whose indexing answers
  through the tracer, as fx's patched ``__getattr__`` would.

Both are taken back when the trace ends, the tables' contents (a forward may register tensors) kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from torch import nn

#: (tensor name, value) → what the forward reads instead (a proxy, or the value itself)
TensorRead = Callable[[str, Any], Any]
#: (module, args, kwargs, the module's own call) → the call's result
ModuleCall = Callable[[nn.Module, tuple[Any, ...], dict[str, Any], Callable[..., Any]], Any]

_TABLES = ("_parameters", "_buffers")
_MISSING = object()


class _ReadThrough(dict):  # type: ignore[type-arg]
    """A module's tensor table whose indexing (``nn.Module.__getattr__``'s read) answers through ``read``;
    everything else (iteration, ``get``, membership, assignment) is a plain dict's."""

    __slots__ = ("read",)

    def __init__(self, items: dict[str, Any], read: TensorRead) -> None:
        super().__init__(items)
        self.read = read

    def __getitem__(self, name: str) -> Any:
        return self.read(name, dict.__getitem__(self, name))


def routable(module: nn.Module) -> bool:
    """Whether ``module``'s calls and reads can be routed per instance: its class keeps ``nn.Module``'s own
    ``__getattr__`` and call slot, and its tensor tables are plain dicts."""
    state = module.__dict__
    kind = type(module)
    return (
        kind.__getattr__ is nn.Module.__getattr__
        and getattr(kind, "_compiled_call_impl", _MISSING) is None
        and all(type(state.get(table)) is dict for table in _TABLES)
    )


@contextlib.contextmanager
def routed(modules: Iterable[nn.Module], call: ModuleCall, read: TensorRead) -> Iterator[None]:
    """Within the block, each of ``modules`` (all ``routable``) is called as ``call(module, args, kwargs,
    own_call)`` and reads its parameters and buffers through ``read(name, value)``; on exit every
    module's call slot and tables are as before, with whatever the block stored in the tables."""
    saved: list[tuple[nn.Module, Any, tuple[dict[str, Any], ...]]] = []
    try:
        for module in modules:
            state = module.__dict__
            tables = tuple(state[table] for table in _TABLES)
            saved.append((module, state.get("_compiled_call_impl", _MISSING), tables))
            state["_compiled_call_impl"] = _router(module, call)
            for name, table in zip(_TABLES, tables):
                state[name] = _ReadThrough(table, read)
        yield
    finally:
        for module, slot, tables in saved:
            state = module.__dict__
            if slot is _MISSING:
                state.pop("_compiled_call_impl", None)
            else:
                state["_compiled_call_impl"] = slot
            for name, table in zip(_TABLES, tables):
                current = state[name]
                if current is not table:
                    table.clear()
                    table.update(dict.items(current))
                    state[name] = table


def _router(module: nn.Module, call: ModuleCall) -> Callable[..., Any]:
    own_call = module._call_impl  # what ``nn.Module.__call__`` runs when no compiled call is set

    def routed_call(*args: Any, **kwargs: Any) -> Any:
        return call(module, args, kwargs, own_call)

    return routed_call
