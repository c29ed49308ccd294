"""The library's exceptions: each carries a one-line message that names what was wrong."""

from __future__ import annotations


class CostModelError(Exception):
    """Base class: a problem with the user's input (model spec, shape, model) rather than a bug."""


class ModelSpecError(CostModelError):
    """A model spec that cannot be turned into an ``nn.Module``."""


class TraceFailure(CostModelError):
    """torch.fx could not trace the model; the message names the construct that broke tracing."""


class ShapeMismatch(CostModelError):
    """The input shape does not fit a layer; the message names the layer."""


class UncountedOpsError(CostModelError):
    """Raised in strict mode when some op could not be costed."""
