"""One walk over a module tree, as ``nn.Module.named_modules`` walks it, without its generator chain.

``named_modules`` yields each module through one nested generator per level of the tree: on a model of a
few hundred modules a walk costs a quarter of a millisecond, and an analysis walks the tree several times.
``module_paths`` visits the same modules in the same (pre-)order under the same dotted paths with an
explicit stack, in a fraction of that.
"""

from __future__ import annotations

from torch import nn

__all__ = ["module_paths"]

_NAMED_MODULES = nn.Module.named_modules


def module_paths(root: nn.Module, remove_duplicate: bool = True) -> list[tuple[str, nn.Module]]:
    """``list(root.named_modules(remove_duplicate=remove_duplicate))``: (dotted path, module) in depth-first
    pre-order, children in registration order, None children skipped, a module reached twice listed once
    (at its first path) unless ``remove_duplicate`` is False. A tree with a class that overrides
    ``named_modules`` is walked by that method itself."""
    seen: set[nn.Module] = set()
    walked: set[type] = set()  # classes whose named_modules is nn.Module's
    out: list[tuple[str, nn.Module]] = []
    stack: list[tuple[str, nn.Module]] = [("", root)]
    pop, push, add = stack.pop, stack.extend, out.append
    while stack:
        path, module = pop()
        kind = type(module)
        if kind not in walked:
            if kind.named_modules is not _NAMED_MODULES:
                return list(root.named_modules(remove_duplicate=remove_duplicate))
            walked.add(kind)
        if remove_duplicate:
            if module in seen:
                continue
            seen.add(module)
        add((path, module))
        children = module._modules
        if children:
            prefix = path + "." if path else ""
            push([(prefix + name, child) for name, child in reversed(children.items()) if child is not None])
    return out
