"""A copy of the user's model that shares nothing mutable with it.

Every module reachable from the model — through the module tree, and through plain Python lists, dicts,
tuples, sets, bound methods, ``functools.partial`` objects and ordinary attributes — is copied once
(shared modules stay shared), its parameters, buffers and tensor values replaced through a tensor map
(fake, meta or cloned real tensors), its Python state (containers, attributes, configuration objects)
copied deeply, its hook tables emptied and its hook-installed flags reset, eval mode set; a
``torch.compile`` wrapper is replaced by (the copy of) the module it wraps. A forward that
writes ``self.cache[k] = …``, appends to a list, creates attributes or buffers, or updates batch-norm
statistics writes the copy only.

Objects the copier cannot rebuild (locks, generators, C handles without a copy protocol) are shared as
they are; immutable values (numbers, strings, types, functions, dtypes) are shared by design.
"""

from __future__ import annotations

import copy
import enum
import functools
import sys
import types
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

TensorMap = Callable[[torch.Tensor], torch.Tensor]

_BASE_STATE = frozenset(nn.Module().__dict__)
_HOOK_TABLES = tuple(key for key, value in nn.Module().__dict__.items() if "hooks" in key and isinstance(value, dict))
#: how ``_Copier.module`` treats a key of a module's ``__dict__`` (any other key: a Python value)
_KEY_ROLES = {"_parameters": "tensors", "_buffers": "tensors", "_modules": "modules", "training": "training"}
_KEY_ROLES.update(dict.fromkeys(_HOOK_TABLES, "hooks"))
#: Immutable scalars, by exact type: a list or tuple of only these is copied without a call per item.
_PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes})

_SHARED_TYPES: tuple[type, ...] = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    range,
    type,
    enum.Enum,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.ModuleType,
    types.CodeType,
    torch.dtype,
    torch.device,
    torch.layout,
    torch.memory_format,
    torch.Size,
    torch.finfo,
    torch.iinfo,
)


class _Copier:
    """One copy of one model: ``memo`` maps id(original) → copy, so every object is copied once and
    cycles close; ``originals`` keeps each original alive while the ids are in use."""

    def __init__(self, tensor_map: TensorMap) -> None:
        self.tensor_map = tensor_map
        self.memo: dict[int, Any] = {}
        self.originals: list[Any] = []
        eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # no wrapper can exist before dynamo is imported
        self.compiled_wrapper: type | None = getattr(eval_frame, "OptimizedModule", None)

    def remember(self, original: Any, clone: Any) -> None:
        self.memo[id(original)] = clone
        self.originals.append(original)

    def module(self, module: nn.Module) -> nn.Module:
        """A new module object of the same class (as torch's ``replicate`` does: no reduce protocol)."""
        if id(module) in self.memo:
            return self.memo[id(module)]  # type: ignore[no-any-return]
        original = _compiled_original(module) if self.compiled_wrapper is not None else None
        if original is not None:  # torch.compile's wrapper: its forward closes over the user's module
            unwrapped = self.module(original)
            self.remember(module, unwrapped)
            return unwrapped
        clone = type(module).__new__(type(module))
        self.remember(module, clone)
        state = module.__dict__
        new: dict[str, Any] = {}
        for key, value in state.items():
            role = _KEY_ROLES.get(key)
            if role is None:
                if type(value) is bool and key not in _BASE_STATE and "hook" in key:
                    new[key] = False  # a "hooks installed" flag: the hooks were not copied, so neither is the flag
                else:
                    new[key] = value if type(value) in _PLAIN else self.value(value)
            elif role == "tensors":
                new[key] = {k: None if v is None else self.tensor(v) for k, v in value.items()}
            elif role == "modules":
                new[key] = {k: None if v is None else self.module(v) for k, v in value.items()}
            elif role == "hooks":
                new[key] = OrderedDict()  # fresh tables: no hook of the user's runs, none added reaches them
            else:
                new[key] = False  # training: the copy is in eval mode
        clone.__dict__.update(new)
        return clone

    def tensor(self, t: torch.Tensor) -> torch.Tensor:
        if id(t) in self.memo:
            return self.memo[id(t)]  # type: ignore[no-any-return]
        mapped = self.tensor_map(t)
        self.remember(t, mapped)
        return mapped

    def value(self, value: Any) -> Any:
        """A copy of any Python value the forward can reach (see the module docstring)."""
        kind = type(value)
        if kind in _PLAIN or (kind is tuple and _PLAIN.issuperset(map(type, value))):  # a layer's sizes
            return value
        if isinstance(value, _SHARED_TYPES):
            return value
        if id(value) in self.memo:
            return self.memo[id(value)]
        if isinstance(value, nn.Module):
            return self.module(value)
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, types.MethodType):
            return types.MethodType(value.__func__, self.value(value.__self__))
        if kind is list:
            items: list[Any] = []
            self.remember(value, items)
            if _PLAIN.issuperset(map(type, value)):  # a table of numbers (LeViT's index lists: 38k each)
                items.extend(value)
            else:
                items.extend(self.value(x) for x in value)
            return items
        if kind in (dict, OrderedDict, defaultdict):
            mapping = copy.copy(value)
            mapping.clear()
            self.remember(value, mapping)
            for key, item in value.items():
                mapping[key] = self.value(item)
            return mapping
        if kind is tuple:
            return value if _PLAIN.issuperset(map(type, value)) else tuple(self.value(x) for x in value)
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
            return kind(*(self.value(x) for x in value))
        if kind in (set, frozenset):
            return kind(self.value(x) for x in value)
        if kind is functools.partial:
            args = tuple(self.value(x) for x in value.args)
            keywords = {k: self.value(x) for k, x in value.keywords.items()}
            return functools.partial(self.value(value.func), *args, **keywords)
        return self.plain_object(value)

    def plain_object(self, value: Any) -> Any:
        """An object with a plain ``__dict__`` (configs, dataclasses, helpers) is rebuilt attribute by
        attribute; anything else goes through ``copy.deepcopy`` with this copy's memo; what cannot be
        copied at all is shared."""
        kind = type(value)
        plain = (
            hasattr(value, "__dict__")
            and not isinstance(value, (dict, list, set))
            and not hasattr(kind, "__slots__")
            and getattr(kind, "__deepcopy__", None) is None
            and kind.__reduce_ex__ is object.__reduce_ex__
            and getattr(kind, "__setstate__", None) is None
        )
        if plain:
            try:
                clone = copy.copy(value)  # a new object of the same class; its attributes are replaced below
            except Exception:
                return value
            self.remember(value, clone)
            clone.__dict__.update({k: self.value(v) for k, v in vars(value).items()})
            return clone
        try:
            clone = copy.deepcopy(value, self.memo)
        except Exception:  # locks, generators, handles: nothing to copy them with
            return value
        self.originals.append(value)
        return clone


def _compiled_original(module: nn.Module) -> nn.Module | None:
    """The module a ``torch.compile`` wrapper (dynamo's ``OptimizedModule``) wraps, or None. The copy
    analyses the original: compilation changes how the model runs, not what it computes."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # no wrapper can exist before dynamo is imported
    wrapper = getattr(eval_frame, "OptimizedModule", None)
    if wrapper is None or not isinstance(module, wrapper):
        return None
    original = getattr(module, "_orig_mod", None)
    return original if isinstance(original, nn.Module) else None


def copy_model(model: nn.Module, tensor_map: TensorMap) -> nn.Module:
    """A copy of ``model`` that shares nothing mutable with it (see the module docstring): modules
    rebuilt, tensors through ``tensor_map``, Python state deep-copied, hooks dropped, eval mode."""
    return _Copier(tensor_map).module(model)
