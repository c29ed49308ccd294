"""Cost handlers per op family; importing this package registers them all in ``REGISTRY``."""

from costmodel.handlers import activation, conv, elementwise, linear, norm, pool, views  # noqa: F401
from costmodel.handlers.base import REGISTRY, Entry, OpCall, OpCost, Registry

__all__ = ["REGISTRY", "Entry", "OpCall", "OpCost", "Registry"]
