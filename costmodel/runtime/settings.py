"""One settings object for every run that measures: device, dtype, threads, repeats, warm-up, progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from costmodel.errors import CostModelError


@dataclass(frozen=True)
class RunSettings:
    """How to measure: on ``device`` at ``dtype`` with ``threads`` CPU threads (fixed for the run, restored
    after), ``repeats`` timed runs (medians reported) after ``warmup`` untimed ones; ``progress`` is called
    with the number of runs done since its last call; ``recalibrate`` redoes the device calibration."""

    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    threads: int = 1
    repeats: int = 20
    warmup: int = 3
    progress: Callable[[int], None] | None = None
    recalibrate: bool = False

    def but(self, **changes: Any) -> RunSettings:
        """These settings with ``changes`` (RunSettings fields only; a misspelt one is a one-line error)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise CostModelError(f"unknown run setting(s) {', '.join(unknown)}: use {', '.join(sorted(known))}")
        return replace(self, **changes)


def settings_of(settings: RunSettings | None, changes: dict[str, Any], **defaults: Any) -> RunSettings:
    """``settings`` (or RunSettings with the caller's ``defaults``) with the keyword ``changes`` a caller
    passed for convenience (``bench(model, repeats=5)``)."""
    base = settings if settings is not None else RunSettings().but(**defaults)
    return base.but(**changes) if changes else base
