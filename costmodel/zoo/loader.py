"""``load_model``: turn a model spec string into an ``nn.Module``.

Specs: a zoo name (``shufflenet_v2_x1_0``); ``path/to/file.py:callable``; ``package.module:callable``.
A callable is called with no arguments and must return an ``nn.Module``; an ``nn.Module`` instance
named directly is used as it is.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from torch import nn

from costmodel.errors import ModelSpecError
from costmodel.zoo import DESIGN_SPACES, ZOO


def _import_file(path: Path, spec: str) -> ModuleType:
    if not path.is_file():
        raise ModelSpecError(f"model spec '{spec}': file '{path}' does not exist")
    module_name = f"costmodel_user_{abs(hash(str(path.resolve())))}"
    import_spec = importlib.util.spec_from_file_location(module_name, path)
    if import_spec is None or import_spec.loader is None:
        raise ModelSpecError(f"model spec '{spec}': '{path}' cannot be imported as Python")
    module = importlib.util.module_from_spec(import_spec)
    sys.modules[module_name] = module
    try:
        import_spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelSpecError(f"model spec '{spec}': importing '{path}' failed: {type(exc).__name__}: {exc}") from exc
    return module


def _import_module(name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ModelSpecError(f"model spec '{spec}': cannot import module '{name}' ({exc})") from exc
    except Exception as exc:
        raise ModelSpecError(f"model spec '{spec}': importing '{name}' failed: {type(exc).__name__}: {exc}") from exc


def _build(obj: Any, spec: str, attr: str) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ModelSpecError(f"model spec '{spec}': '{attr}' is not callable (got {type(obj).__name__})")
    try:
        model = obj()
    except Exception as exc:
        raise ModelSpecError(f"model spec '{spec}': calling {attr}() failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ModelSpecError(f"model spec '{spec}': {attr}() returned {type(model).__name__}, not an nn.Module")
    return model


def load_model(spec: str) -> nn.Module:
    """Build the model a spec names: a zoo name, ``file.py:callable`` or ``package.module:callable``.

    Raises ModelSpecError with a one-line message naming what was wrong (an unknown zoo name gets the
    closest names suggested).
    """
    spec = spec.strip()
    if ":" not in spec:
        if spec in ZOO:
            return ZOO[spec]()
        close = difflib.get_close_matches(spec, list(ZOO), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run `costmodel zoo` to list them"
        raise ModelSpecError(f"unknown model '{spec}': not in the zoo and not a 'module:callable' spec{hint}")
    obj, attr = _resolve(spec)
    return _build(obj, spec, attr)


def load_builder(spec: str) -> Callable[..., Any]:
    """The callable a builder spec names, not called: a design space of the zoo (``shufflenet_v2``),
    ``file.py:function`` or ``package.module:function``. ModelSpecError (one line) when it is not callable."""
    spec = spec.strip()
    if ":" not in spec:
        if spec in DESIGN_SPACES:
            return DESIGN_SPACES[spec]
        known = ", ".join(DESIGN_SPACES)
        raise ModelSpecError(f"unknown builder '{spec}': give 'file.py:function' or 'package.module:function' (zoo: {known})")
    obj, attr = _resolve(spec)
    if isinstance(obj, nn.Module) or not callable(obj):
        raise ModelSpecError(f"builder spec '{spec}': '{attr}' is not a function (got {type(obj).__name__})")
    return cast(Callable[..., Any], obj)


def _resolve(spec: str) -> tuple[Any, str]:
    """(the object a ``location:attr`` spec names, attr)."""
    location, _, attr = spec.rpartition(":")
    if not location or not attr:
        raise ModelSpecError(f"model spec '{spec}' must look like 'file.py:callable' or 'package.module:callable'")
    if location.endswith(".py") or "/" in location or "\\" in location:
        module = _import_file(Path(location), spec)
    else:
        module = _import_module(location, spec)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelSpecError(f"model spec '{spec}': '{location}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    return obj, attr
