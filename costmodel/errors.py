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


class CheckFailed(CostModelError):
    """A check the user asked for failed: a bound that does not hold, a budget exceeded, lint findings
    under ``--fail-on``. The CLI exits 3."""


class UncountedOpsError(CheckFailed):
    """Raised in strict mode when some op could not be costed: a check the user asked for (exit 3)."""


#: The CLI's exit codes (README and ``costmodel --help`` print this table).
EXIT_OK = 0
EXIT_BUG = 1  # a bug in costmodel itself
EXIT_BAD_INPUT = 2  # bad model spec, shape, option or file; untraceable model; user code exiting or raising
EXIT_CHECK_FAILED = 3  # a check the user asked for failed (CheckFailed)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGINT: one line, no partial output
